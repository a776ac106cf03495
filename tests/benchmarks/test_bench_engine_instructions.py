"""The pruning engine's overhead counted in instructions, which this machine's noise cannot move.

The issue's figure is CPU time (``test_bench_engine.py``), but on a shared 2-core machine a
round of CPU time strays by 10% or more, as much as the effect measured. Valgrind's callgrind
counts the instructions executed instead. One part of that count still depends on timing:
TensorFlow's idle pool threads spin for a while before they sleep, which moves a step's count
by several per cent from run to run. So each ratio is printed twice: with every instruction,
and without the spinning functions (found with ``callgrind_annotate``), which repeats to
about 1%.

Each variant of the MLP of issue 3 (64-256-128-10, batch 32, one TensorFlow thread) runs in a
process of its own under ``valgrind --tool=callgrind --instr-atstart=no``. After a warm-up fit
outside instrumentation, a tiny C helper (built here with gcc from callgrind's client-request
header) switches counting on around a 10-step and a 60-step ``fit``; their difference over 50
steps is the cost of a step. Printed: instructions per step, plain and pruned (slow and active
ramp, as in the CPU-time benchmark), and their ratios. Skipped when valgrind, callgrind_annotate,
gcc or ``valgrind/callgrind.h`` is missing. Takes about four minutes.

Instructions are not time: memory stalls and the cost of each instruction differ. This is a
supplement to the CPU-time figure, not a substitute.
"""

import concurrent.futures
import ctypes
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from test_bench_engine import RAMPS, _model

SHORT, LONG = 10, 60
VARIANTS = {"plain": None, **RAMPS}
_HELPER_C = """
#include <valgrind/callgrind.h>
void count_on(void) { CALLGRIND_START_INSTRUMENTATION; CALLGRIND_ZERO_STATS; }
void count_off(const char *label) { CALLGRIND_DUMP_STATS_AT(label); CALLGRIND_STOP_INSTRUMENTATION; }
"""


def _child(helper, variant):
    from prune_studio.compat import keras, tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import numpy as np

    from prune_studio import pruning

    lib = ctypes.CDLL(helper)
    keras.utils.set_random_seed(0)
    model = _model(keras, "mlp")
    callbacks = []
    end_step = VARIANTS[variant]
    if end_step is not None:
        schedule = pruning.PolynomialDecay(0.5, 0.8, begin_step=0, end_step=end_step, frequency=10)
        model = pruning.prune_low_magnitude(model, schedule)
        callbacks = [pruning.UpdatePruningStep()]
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x = rng.random((LONG * 32, 64), dtype=np.float32)
    y = rng.integers(0, 10, LONG * 32)
    model.fit(x, y, batch_size=32, callbacks=callbacks, verbose=0)  # trace, warm up
    for steps in (SHORT, LONG):
        lib.count_on()
        model.fit(x[: steps * 32], y[: steps * 32], batch_size=32, callbacks=callbacks, verbose=0)
        lib.count_off(f"steps-{steps}".encode())


#: Idle worker threads of TensorFlow's thread pool spin (steal attempts, queue polls) before
#: they sleep. How long depends on thread timing, not on the program, and it moves a step's
#: count by several per cent between runs; the count without these functions is the stable one.
_SPIN = re.compile(
    r"ThreadPoolTempl<[^>]*>::(GlobalSteal|LocalSteal|MaybeGetTask|WorkerLoop|WaitForWork)"
    r"|RunQueue<.*>::PopBack|EigenEnvironment::Task::operator="
)
_COST_LINE = re.compile(r"\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(\S.*)$")


def _instructions(out_dir, steps):
    """``(all, spinning)`` instructions counted during the ``fit`` of ``steps`` steps (all threads)."""
    for path in Path(out_dir).glob("callgrind.*"):
        if f"Client Request: steps-{steps}" not in path.read_text(errors="replace"):
            continue
        listing = subprocess.run(
            ["callgrind_annotate", "--threshold=100", str(path)], capture_output=True, text=True, check=True
        ).stdout
        total = spinning = 0
        for line in listing.splitlines():
            match = _COST_LINE.match(line)
            if not match:
                continue
            cost = int(match.group(1).replace(",", ""))
            if match.group(2) == "PROGRAM TOTALS":
                total = cost
            elif _SPIN.search(match.group(2)):
                spinning += cost
        return total, spinning
    raise AssertionError(f"no callgrind dump for {steps} steps in {out_dir}")


def _run(helper, variant, work):
    out = Path(work) / variant.replace(" ", "_")
    out.mkdir()
    env = dict(os.environ, PYTHONHASHSEED="0", TF_CPP_MIN_LOG_LEVEL="3")
    cmd = [
        "valgrind", "--tool=callgrind", "--instr-atstart=no",
        f"--callgrind-out-file={out}/callgrind.%p",
        sys.executable, __file__, helper, variant,
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, env=env, cwd=out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (long_all, long_spin), (short_all, short_spin) = _instructions(out, LONG), _instructions(out, SHORT)
    steps = LONG - SHORT
    return (long_all - short_all) / steps, ((long_all - long_spin) - (short_all - short_spin)) / steps


def _header_found():
    probe = subprocess.run(
        ["gcc", "-E", "-x", "c", "-"], input="#include <valgrind/callgrind.h>\n", capture_output=True, text=True
    )
    return probe.returncode == 0


def test_bench_engine_instructions():
    if not (shutil.which("valgrind") and shutil.which("callgrind_annotate") and shutil.which("gcc") and _header_found()):
        pytest.skip("needs valgrind (with callgrind_annotate), gcc and valgrind/callgrind.h")
    with tempfile.TemporaryDirectory() as work:
        helper = str(Path(work) / "count.so")
        source = Path(work) / "count.c"
        source.write_text(_HELPER_C)
        subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-o", helper, str(source)], check=True)
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            futures = {v: pool.submit(_run, helper, v, work) for v in VARIANTS}
            per_step = {v: f.result() for v, f in futures.items()}
    plain, plain_work = per_step["plain"]
    print(f"\nBENCH mlp instructions per step (callgrind): plain {plain:,.0f}, without thread-pool spinning {plain_work:,.0f}")
    for variant in list(VARIANTS)[1:]:
        count, work = per_step[variant]
        print(
            f"BENCH mlp instructions per step, {variant}: {count:,.0f}, ratio {count / plain:.3f}x; "
            f"without spinning {work:,.0f}, ratio {work / plain_work:.3f}x"
        )
    assert all(count > work > 0 for count, work in per_step.values())


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2])
