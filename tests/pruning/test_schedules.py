"""Schedules: step-by-step values of the reference, config round trips, argument errors."""

import numpy as np
import pytest

from prune_studio.compat import tf
from prune_studio import pruning
from prune_studio.pruning.schedules import deserialize, reached_sparsity


def _reference_should(step, begin, end, freq):
    return begin <= step and (end == -1 or step <= end) and (step - begin) % freq == 0


def _reference_poly(step, initial, final, begin, end, power):
    p = min(1.0, max(0.0, (step - begin) / (end - begin)))
    return final + (initial - final) * (1 - p) ** power


def test_polynomial_decay_step_by_step_matches_reference_formula():
    schedule = pruning.PolynomialDecay(0.2, 0.9, begin_step=10, end_step=50, power=3, frequency=7)
    for step in range(0, 70):
        should, sparsity = schedule(tf.constant(step))
        assert bool(should) == _reference_should(step, 10, 50, 7), step
        assert float(sparsity) == pytest.approx(_reference_poly(step, 0.2, 0.9, 10, 50, 3), abs=1e-6)
        assert schedule.value_at(step)[0] == bool(should)
        assert schedule.value_at(step)[1] == pytest.approx(float(sparsity), abs=1e-6)


def test_constant_sparsity_step_by_step_with_and_without_end():
    forever = pruning.ConstantSparsity(0.5, begin_step=3, frequency=4)
    bounded = pruning.ConstantSparsity(0.5, begin_step=3, end_step=11, frequency=4)
    for step in range(30):
        assert bool(forever(step)[0]) == _reference_should(step, 3, -1, 4)
        assert bool(bounded(step)[0]) == _reference_should(step, 3, 11, 4)
        assert float(forever(step)[1]) == pytest.approx(0.5)
    assert [s for s in range(30) if bool(bounded(s)[0])] == [3, 7, 11]


def test_defaults_match_reference():
    poly = pruning.PolynomialDecay(0.1, 0.5, 0, 100)
    assert (poly.power, poly.frequency) == (3, 100)
    const = pruning.ConstantSparsity(0.5, 0)
    assert (const.end_step, const.frequency) == (-1, 100)


@pytest.mark.parametrize(
    "schedule",
    [pruning.ConstantSparsity(0.4, 2, 30, 5), pruning.PolynomialDecay(0.1, 0.7, 0, 40, power=2, frequency=3)],
)
def test_config_round_trip(schedule):
    config = schedule.get_config()
    assert config["class_name"] == type(schedule).__name__
    again = type(schedule).from_config(config["config"])
    assert again.get_config() == config and again == schedule
    assert deserialize(config) == schedule


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda: pruning.ConstantSparsity(1.0, 0), "target_sparsity=1.0"),
        (lambda: pruning.ConstantSparsity(-0.1, 0), "target_sparsity=-0.1"),
        (lambda: pruning.ConstantSparsity(0.5, -1), "begin_step=-1"),
        (lambda: pruning.ConstantSparsity(0.5, 0, frequency=0), "frequency=0"),
        (lambda: pruning.ConstantSparsity(0.5, 10, end_step=5), "end_step=5"),
        (lambda: pruning.ConstantSparsity(0.5, 0, end_step=-3), "end_step=-3"),
        (lambda: pruning.PolynomialDecay(0.5, 1.2, 0, 10), "final_sparsity=1.2"),
        (lambda: pruning.PolynomialDecay(-0.5, 0.2, 0, 10), "initial_sparsity=-0.5"),
        (lambda: pruning.PolynomialDecay(0.1, 0.2, 0, -1), "end_step cannot be -1"),
        (lambda: pruning.PolynomialDecay(0.1, 0.2, 20, 10), "begin_step=20"),
        (lambda: pruning.PolynomialDecay(0.1, 0.2, 0, 10, frequency=-2), "frequency=-2"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(make, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(")):
        make()


def test_subclassed_schedule_works_with_previews():
    class EveryOther(pruning.PruningSchedule):
        def __call__(self, step):
            return tf.equal(tf.math.floormod(step, 2), 0), tf.constant(0.25)

        def get_config(self):
            return {"class_name": "EveryOther", "config": {}}

    steps, values = pruning.sparsity_curve(EveryOther(), 10, num=11)
    assert list(steps) == list(range(11))
    assert values[0] == 0.0  # step 0: no batch trained yet
    assert np.allclose(values[1:], 0.25)


def test_sparsity_curve_is_a_staircase_reaching_the_target():
    schedule = pruning.PolynomialDecay(0.5, 0.8, begin_step=100, end_step=1000, frequency=100)
    steps, values = pruning.sparsity_curve(schedule, 1200, num=13)
    assert list(steps) == list(range(0, 1201, 100))
    assert values[0] == 0.0 and values[1] == pytest.approx(0.5)
    assert values[-1] == pytest.approx(0.8) and values[-3] == pytest.approx(0.8)
    assert np.all(np.diff(values[1:]) >= 0)
    assert reached_sparsity(schedule, 150) == pytest.approx(0.5)
    assert reached_sparsity(schedule, 99) == 0.0
    with pytest.raises(ValueError, match="total_steps=-1"):
        pruning.sparsity_curve(schedule, -1)


def test_steps_count_from_one_as_in_the_reference():
    # The first batch of a fresh model runs at step 1, so step s is "after s batches".
    assert reached_sparsity(pruning.PolynomialDecay(0.5, 0.8, 0, 200), 200) == pytest.approx(0.8)
    constant = pruning.ConstantSparsity(0.5, 0)  # frequency 100: first prunes at step 100
    assert (reached_sparsity(constant, 99), reached_sparsity(constant, 100)) == (0.0, 0.5)
    poly = pruning.PolynomialDecay(0.2, 0.6, 1, 4, 3, 1)
    assert [round(reached_sparsity(poly, s), 3) for s in (0, 1, 2, 4)] == [0.0, 0.2, 0.481, 0.6]
