"""Which single C-level calls hold the GIL long enough to freeze the window.

:func:`long_calls` runs a function in a thread of its own with a profile hook that times
every C function it calls (``c_call`` .. ``c_return``), while a watchdog thread in the same
process wakes every millisecond and reads the probed thread's CPU clock. A long C call that
released the GIL leaves the watchdog ticking; one that held it leaves a gap, and the CPU the
probed thread used within one gap is how long it held the GIL (a process descheduled on a
busy machine leaves a gap too, but uses no CPU in it). Each call longer than the threshold
is reported with that figure, its duration and CPU time, the garbage collection inside it,
and the Python line that made it. Full garbage collections are listed on their own.

The profile hook slows Python code down (it runs on every call), not the C calls it times.
Run as a script to probe a window-like run start-up and export of the demo or MobileNetV2::

    .venv/bin/python tests/benchmarks/gil_calls.py demo|mobilenet [startup [full]] [export]
"""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass


@dataclass
class LongCall:
    name: str
    seconds: float
    held: float  # most CPU the calling thread used between two watchdog ticks: the GIL held that long
    where: str
    start: float
    cpu: float = 0.0  # CPU time the calling thread used during the call
    gc: float = 0.0  # of which garbage collection (gen 2 mostly), by gc.callbacks


def _name(func) -> str:
    module = getattr(func, "__module__", None) or getattr(getattr(func, "__self__", None), "__name__", "") or ""
    return f"{module}.{getattr(func, '__qualname__', getattr(func, '__name__', repr(func)))}".lstrip(".")


def long_calls(fn, *args, threshold: float = 0.03, **kwargs) -> tuple[object, list[LongCall]]:
    """Run ``fn(*args, **kwargs)`` in a thread; its result and its C calls longer than ``threshold`` s."""
    found: list[LongCall] = []
    stack: list[tuple[float, object, object]] = []
    ticks: list[float] = []
    done = threading.Event()

    def hook(frame, event, arg):
        if event == "c_call":
            stack.append((time.perf_counter(), time.thread_time(), arg, frame))
        elif event in ("c_return", "c_exception") and stack:
            start, cpu, func, caller = stack.pop()
            seconds = time.perf_counter() - start
            if seconds > threshold:
                where = f"{caller.f_code.co_filename.rsplit('/', 1)[-1]}:{caller.f_lineno} in {caller.f_code.co_name}"
                found.append(LongCall(_name(func), seconds, 0.0, where, start, time.thread_time() - cpu))

    collections: list[tuple[float, float, int]] = []
    gc_started = {}

    def on_gc(phase, info):
        if phase == "start":
            gc_started["t"] = time.perf_counter()
        elif "t" in gc_started:
            collections.append((gc_started.pop("t"), time.perf_counter(), info["generation"]))

    clock = {}

    def watchdog():
        while not done.is_set():
            try:
                cpu = time.clock_gettime(clock["id"]) if "id" in clock else 0.0
            except OSError:  # the probed thread has ended
                break
            ticks.append((time.perf_counter(), cpu))
            time.sleep(0.001)

    out = {}

    def target():
        clock["id"] = time.pthread_getcpuclockid(threading.get_ident())
        sys.setprofile(hook)
        try:
            out["result"] = fn(*args, **kwargs)
        finally:
            sys.setprofile(None)

    import gc

    gc.callbacks.append(on_gc)
    dog = threading.Thread(target=watchdog, daemon=True)
    dog.start()
    worker = threading.Thread(target=target, name="probed")
    worker.start()
    worker.join()
    done.set()
    dog.join()
    gc.callbacks.remove(on_gc)
    for call in found:
        # Between two watchdog ticks the watchdog waited for the GIL; the CPU the probed thread
        # used meanwhile is time it held the GIL (a descheduled process uses none).
        end = call.start + call.seconds
        inside = [(t, c) for t, c in ticks if call.start - 0.002 <= t <= end + 0.002]
        call.held = max((c2 - c1 for (_, c1), (_, c2) in zip(inside, inside[1:])), default=call.cpu)
        end = call.start + call.seconds
        call.gc = sum(max(0.0, min(b, end) - max(a, call.start)) for a, b, _ in collections)
    long_gc = [(b - a, g) for a, b, g in collections if b - a > threshold]
    if long_gc:
        found.append(LongCall(f"gc.collect (generation {max(g for _, g in long_gc)}, {len(long_gc)} times)",
                              max(d for d, _ in long_gc), max(d for d, _ in long_gc), "garbage collection", 0.0,
                              max(d for d, _ in long_gc), max(d for d, _ in long_gc)))  # gc runs on the caller's CPU
    return out.get("result"), found


def print_calls(title: str, calls: list[LongCall], held_at_least: float = 0.03) -> None:
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"\n{title} (load average {load}): C calls holding the GIL > {held_at_least * 1000:.0f} ms "
          "(CPU the calling thread used while the 1 ms watchdog could not run)")
    for call in sorted(calls, key=lambda c: -c.held):
        if call.held >= held_at_least:
            print(f"  {call.held * 1000:7.1f} ms held, call {call.seconds * 1000:7.1f} ms (CPU {call.cpu * 1000:6.1f} ms, "
                  f"gc {call.gc * 1000:5.1f} ms)  {call.name}  ({call.where})")


def _demo():
    from prune_studio.data import DataSpec, load_data
    from prune_studio.models import load_model
    from prune_studio.resources import demo_model_path

    loaded = load_model(demo_model_path())
    return loaded, load_data(DataSpec("digits"), input_shape=loaded.model.input_shape[1:])


def _mobilenet():
    import numpy as np

    from prune_studio.compat import keras
    from prune_studio.data import DataSpec, load_data
    from prune_studio.models import load_model

    folder = "/tmp/gil_calls"
    os.makedirs(folder, exist_ok=True)
    path = f"{folder}/mobilenet_v2.keras"
    if not os.path.exists(path):
        keras.applications.MobileNetV2(alpha=0.35, input_shape=(96, 96, 3), weights=None, classes=10).save(path)
        rng = np.random.default_rng(0)
        np.savez(f"{folder}/images.npz", x_train=rng.random((192, 96, 96, 3), dtype=np.float32),
                 y_train=rng.integers(0, 10, 192), x_test=rng.random((64, 96, 96, 3), dtype=np.float32),
                 y_test=rng.integers(0, 10, 64))
    loaded = load_model(path)
    return loaded, load_data(DataSpec("npz", f"{folder}/images.npz"), input_shape=(96, 96, 3))


def main(argv: list[str]) -> None:
    import gc
    import tempfile

    from prune_studio.export import ExportSettings, export_all
    from prune_studio.pruning.plan import PruningPlan
    from prune_studio.training import TrainingSettings, fine_tune

    which = argv[0] if argv else "demo"
    loaded, dataset = _mobilenet() if which == "mobilenet" else _demo()
    settings = TrainingSettings(epochs=2 if "full" in argv else 1, batch_size=32)
    plan = PruningPlan.uniform(loaded.model, 0.5, 0, 10, frequency=2)
    if "--freeze" in argv:
        gc.freeze()  # what the window did during a run until full collections waited for idle time
    else:
        gc.set_threshold(gc.get_threshold()[0], gc.get_threshold()[1], 1 << 30)  # as the window does
    result = None
    if "startup" in argv or len(argv) < 2:
        from prune_studio.training.listener import TrainingListener

        class StopAtFirstBatch(TrainingListener):
            def on_batch_end(self, step, epoch, logs):
                if "full" not in argv:  # "full": the whole run, its pruning steps and epoch ends too
                    self.control.stop()

        from prune_studio.training.control import RunControl

        listener = StopAtFirstBatch()
        listener.control = RunControl()
        result, calls = long_calls(fine_tune, loaded.model, plan, dataset, settings,
                                   compile_settings=loaded.compile_settings, listener=listener,
                                   control=listener.control)
        print_calls(f"{which}: fine_tune" + (" (2 epochs)" if "full" in argv else " up to its first batch, and its end"), calls)
    if "export" in argv or len(argv) < 2:
        if result is None:
            result = fine_tune(loaded.model, plan, dataset, settings, compile_settings=loaded.compile_settings)
        export = ExportSettings(keras=which == "demo", h5=False,
                                tflite=("float32", "dynamic", "int8") if which == "demo" else ("float32", "dynamic"),
                                sparse=False)
        with tempfile.TemporaryDirectory() as out:
            _, calls = long_calls(export_all, result.wrapped_model, dataset, out, export,
                                  baseline_path=loaded.path, baseline_model=loaded.model)
        print_calls(f"{which}: export", calls)


if __name__ == "__main__":
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
    main(sys.argv[1:])
