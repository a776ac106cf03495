"""The TFLite converter's child process: same files as in-process, failures as one sentence each."""

from __future__ import annotations

from prune_studio.export.tflite import convert
from prune_studio.export.tflite_process import ConverterProcess, hand_over


def test_the_child_writes_the_same_file_as_the_in_process_converter(tiny_model, tmp_path):
    process = ConverterProcess()
    try:
        assert process.start()
        handoff = hand_over(tiny_model, tmp_path)
        ticket = process.submit(handoff.request("dynamic", tmp_path / "m.tflite"))
        assert process.wait(ticket) == ""
        assert (tmp_path / "m.tflite").read_bytes() == convert(tiny_model, "dynamic")
    finally:
        process.close()


def test_failures_come_back_as_one_sentence_per_file(tiny_model, tmp_path):
    process = ConverterProcess()
    try:
        assert process.start()
        handoff = hand_over(tiny_model, tmp_path)
        missing = dict(handoff.request("float32", tmp_path / "a.tflite"), source={"graph": str(tmp_path / "nope.pb"),
                                                                                  "inputs": [], "outputs": []})
        error = process.wait(process.submit(missing))
        assert error.startswith("TFLite conversion (float32) failed: ") and "\n" not in error
        unwritable = handoff.request("float32", tmp_path / "no such folder" / "b.tflite")
        error = process.wait(process.submit(unwritable))
        assert error.startswith("writing ") and "\n" not in error
        good = process.submit(handoff.request("float32", tmp_path / "c.tflite"))  # the child still serves
        assert process.wait(good) == "" and (tmp_path / "c.tflite").stat().st_size > 0
        # the child dies: every pending file gets the same sentence, and a new child can start
        queued = [process.submit(handoff.request("float16", tmp_path / f"{i}.tflite")) for i in range(2)]
        process._process.kill()
        for ticket in queued:
            error = process.wait(ticket)
            assert "stopped unexpectedly" in error and error.endswith("try the export again.")
        assert process.start() and process.alive()
    finally:
        process.close()


def test_two_children_share_a_batch_and_write_the_same_files(tiny_model, tmp_path):
    """A big model's files go to two children in turn; each file is the in-process converter's."""
    from prune_studio.export.tflite_batch import TFLiteBatch

    first, second = ConverterProcess(), ConverterProcess()
    kinds = [("float32", False), ("dynamic", False), ("float16", False), ("float32", True)]
    files = [(f"{kind}{sparse}", kind, sparse, tmp_path / f"{kind}{sparse}.tflite") for kind, sparse in kinds]
    try:
        with TFLiteBatch(first, second) as batch:
            batch.add("model", tiny_model, files)
            used = {id(process) for process, _ in batch._tickets.values()}
            assert used == {id(first), id(second)}  # both children got files
            batch.wait_all()
            for name, kind, sparse, path in files:
                assert batch.wait(name) == ("", "")
                assert batch.take_path(name).read_bytes() == convert(tiny_model, kind, sparse), name
    finally:
        first.close()
        second.close()


def test_a_helper_child_only_for_big_models_on_machines_with_room(monkeypatch):
    from prune_studio.export import tflite_process

    # As in the window on a two-core machine (a CLI test in this process may have turned children off).
    monkeypatch.setattr(tflite_process, "_use_child", True)
    monkeypatch.setattr(tflite_process.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(tflite_process, "free_memory_bytes", lambda: 16 << 30)
    assert tflite_process.helper(10_000) is None
    assert tflite_process.helper(tflite_process.HELPER_FROM_PARAMS) is not None
    monkeypatch.setattr(tflite_process.os, "cpu_count", lambda: 1)
    assert tflite_process.helper(tflite_process.HELPER_FROM_PARAMS) is None
    monkeypatch.setattr(tflite_process.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(tflite_process, "free_memory_bytes", lambda: 2 << 30)  # ResNet50 wants ~4.7 GB
    assert tflite_process.helper(23_600_000) is None
    monkeypatch.setattr(tflite_process, "free_memory_bytes", lambda: 16 << 30)
    assert tflite_process.helper(23_600_000) is not None
    monkeypatch.setattr(tflite_process, "_use_child", False)  # the CLI converts in its own process
    assert tflite_process.helper(tflite_process.HELPER_FROM_PARAMS) is None
