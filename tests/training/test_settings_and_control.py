"""TrainingSettings arithmetic and validation; RunControl across threads (no TensorFlow needed)."""

import threading
import time

import pytest

from prune_studio.training import RunControl, TrainingError, TrainingSettings, steps_for, steps_per_epoch


def test_steps_hold_out_the_validation_share():
    settings = TrainingSettings(epochs=3, batch_size=32, validation_split=0.1)
    # 1437 samples, 143 held out, 1294 left -> 41 batches of 32 (the last partial)
    assert steps_per_epoch(settings, 1437) == 41
    assert steps_for(settings, 1437) == 123
    assert steps_for(TrainingSettings(epochs=1, batch_size=64, validation_split=0.0), 10) == 1


@pytest.mark.parametrize(
    "field, value",
    [("epochs", 0), ("batch_size", 2.5), ("optimizer", "adamm"), ("learning_rate", 0),
     ("validation_split", 1.0), ("epochs", True)],
)
def test_invalid_settings_name_the_field(field, value):
    settings = TrainingSettings(**{field: value})
    with pytest.raises(TrainingError, match=field) as info:
        settings.validate()
    assert info.value.field == field


def test_settings_round_trip_and_reject_unknown_keys():
    settings = TrainingSettings(epochs=5, optimizer="sgd", learning_rate=0.01)
    assert TrainingSettings.from_dict(settings.to_dict()) == settings
    with pytest.raises(TrainingError, match="'epoch'"):
        TrainingSettings.from_dict({"epoch": 3})


def test_pause_blocks_until_resume_and_stop_releases():
    control = RunControl()
    passed = []

    def loop():
        for step in range(1000):
            control.wait_while_paused()
            if control.stopped:
                return
            passed.append(step)
            time.sleep(0.002)

    control.pause()
    worker = threading.Thread(target=loop)
    worker.start()
    time.sleep(0.2)
    assert passed == [] and control.paused and control.holding
    control.resume()
    deadline = time.monotonic() + 5
    while len(passed) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    control.pause()
    deadline = time.monotonic() + 5
    while not control.holding and time.monotonic() < deadline:  # the step in flight ends
        time.sleep(0.005)
    frozen = len(passed)
    time.sleep(0.2)
    assert len(passed) == frozen, "steps ran while paused"
    control.stop()  # also releases the pause
    worker.join(timeout=5)
    assert not worker.is_alive() and control.stopped and not control.holding
    assert control.wait_while_paused(timeout=0.01)


def test_wait_while_paused_times_out():
    control = RunControl()
    control.pause()
    assert control.wait_while_paused(timeout=0.05) is False
