"""Fragile groups (stem, residual, linear bottleneck) and the global mode aimed at measured latency."""

import json

import numpy as np
import pytest

import models
from prune_studio.compat import keras
from prune_studio.structured import (StructuredSettings, analyze, channel_importance, fragile_groups, model_cost,
                                     plan_selection, shrink, shrink_model)
from prune_studio.structured.latency import latency_search, measure_latencies, tflite_float32
from prune_studio.structured.settings import StructuredSettingsError

L = keras.layers


def test_fragile_groups_of_an_inverted_residual_net():
    graph = analyze(models.inverted_residual())
    fragile = fragile_groups(graph)
    assert fragile == {"stem": "stem", "b1_project": "residual", "b3_project": "linear bottleneck"}
    assert graph.group("b1_project").producers == ["b1_project", "b2_project"]
    # the wide groups (expansions, the head) are left to the search
    assert {"b1_expand", "b2_expand", "b3_expand", "head"} <= {g.name for g in graph.prunable_groups()} - set(fragile)


def test_fragile_groups_of_a_plain_chain_and_a_resnet():
    assert fragile_groups(analyze(models.conv_chain())) == {"conv_a": "stem"}
    residual = fragile_groups(analyze(models.residual()))
    assert residual["stem"] == "residual"  # the stem's channels are the residual stream there
    assert "inner" not in residual


def test_fragile_keep_ratio_leaves_them_whole_and_the_target_is_still_met():
    model = models.inverted_residual()
    graph = analyze(model)
    settings = StructuredSettings(reduction=0.4, round_to=4, fragile_keep_ratio=1.0)
    selection = plan_selection(graph, settings)
    assert not set(selection) & set(fragile_groups(graph))
    assert 1 - model_cost(graph, selection).flops / model_cost(graph).flops >= 0.4
    half = plan_selection(graph, StructuredSettings(reduction=0.4, round_to=4, fragile_keep_ratio=0.5))
    assert len(half["stem"]) == 4 and len(half["b1_project"]) == 4
    # a group named in 'groups' wins over the fragile ratio
    named = plan_selection(graph, StructuredSettings(reduction=0.4, round_to=4, fragile_keep_ratio=1.0,
                                                     groups={"stem": 0.5}))
    assert len(named["stem"]) == 4 and "b1_project" not in named


def test_latency_settings_validate():
    StructuredSettings(metric="latency", reduction=0.5).validate()
    StructuredSettings(metric="latency", target_latency_ms=0.4).validate()
    with pytest.raises(StructuredSettingsError, match="'target_latency_ms' needs mode 'global' and metric 'latency'"):
        StructuredSettings(metric="flops", target_latency_ms=0.4).validate()
    with pytest.raises(StructuredSettingsError, match="'target_latency_ms' must be a positive number"):
        StructuredSettings(metric="latency", target_latency_ms=-1).validate()
    with pytest.raises(StructuredSettingsError, match="'fragile_keep_ratio' must be a keep ratio"):
        StructuredSettings(fragile_keep_ratio=0).validate()
    data = StructuredSettings(metric="latency", target_latency_ms=0.4, fragile_keep_ratio=1.0).to_dict()
    assert StructuredSettings.from_dict(json.loads(json.dumps(data))).target_latency_ms == 0.4


def wide_cnn(seed=0):
    """A CNN big enough that its TFLite latency (about a millisecond) is well above timer noise."""
    keras.utils.set_random_seed(seed)
    inp = L.Input((48, 48, 3))
    x = L.ReLU()(L.BatchNormalization()(L.Conv2D(32, 3, padding="same", use_bias=False, name="c1")(inp)))
    x = L.ReLU()(L.BatchNormalization()(L.Conv2D(64, 3, padding="same", use_bias=False, name="c2")(x)))
    x = L.MaxPooling2D()(x)
    x = L.ReLU()(L.BatchNormalization()(L.Conv2D(96, 3, padding="same", use_bias=False, name="c3")(x)))
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(inp, L.Dense(10, name="out")(x), name="wide_cnn")


def test_latency_search_meets_a_measured_speed_up():
    model = wide_cnn()
    graph = analyze(model)
    search = latency_search(graph, channel_importance(graph), reduction=0.4, round_to=8, max_trials=4)
    assert search.met and search.ms <= search.target_ms == pytest.approx(0.6 * search.baseline_ms)
    assert 1 <= len(search.trials) <= 4 and all(t["ms"] > 0 and t["baseline_ms"] > 0 for t in search.trials)
    met = [t["flops_reduction"] for t in search.trials if t["met"]]
    assert search.flops_reduction == min(met)  # the smallest cut that was fast enough
    small = shrink(model, graph, search.selection)
    assert small.count_params() < model.count_params()
    # measured again, side by side, the shrunk model is faster than the opened one
    again = measure_latencies({"dense": tflite_float32(model), "small": tflite_float32(small)}, runs=200)
    assert again["small"] < again["dense"]


def test_latency_target_in_milliseconds_through_shrink_model():
    model = wide_cnn(seed=1)
    base = measure_latencies({"m": tflite_float32(model)})["m"]
    target = 0.7 * base
    lines = []
    result = shrink_model(model, StructuredSettings(metric="latency", target_latency_ms=target, round_to=8),
                          progress=lines.append)
    search = result.rounds[0]["latency"]
    assert search["target_ms"] == pytest.approx(target)
    assert search["met"] and search["ms"] <= target
    assert result.after.flops < result.before.flops
    assert lines and "ms" in lines[0]


def test_latency_search_refuses_bad_targets():
    from prune_studio.structured import StructureError

    graph = analyze(models.sequential())
    scores = channel_importance(graph)
    with pytest.raises(StructureError, match="either as a share to remove or in milliseconds"):
        latency_search(graph, scores)
    with pytest.raises(StructureError, match="latency reduction must be above 0 and below 1"):
        latency_search(graph, scores, reduction=1.5)
    with pytest.raises(StructureError, match="positive number of milliseconds"):
        latency_search(graph, scores, target_ms=0)


def _cli(capsys, *args):
    from prune_studio.cli import main

    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_shrink_to_a_latency_target(tiny_npz, tmp_path, capsys):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([L.Input((8, 8, 1)), L.Conv2D(32, 3, padding="same", activation="relu", name="c1"),
                              L.Conv2D(32, 3, activation="relu", name="c2"), L.Flatten(name="flat"),
                              L.Dense(10, activation="softmax", name="out")])
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    model.save(tmp_path / "m.keras")
    code, out, err = _cli(capsys, "shrink", tmp_path / "m.keras", "--data", tiny_npz, "--target-latency", 1000,
                          "--keep-fragile", 100, "--epochs", 1, "--out", tmp_path / "out", "--json")
    assert code == 0, err
    report = json.loads(out)
    search = report["structured"]["rounds"][0]["latency"]
    assert search["met"] and search["ms"] <= search["target_ms"] == 1000
    assert report["recipe"]["structured"]["metric"] == "latency"
    assert report["recipe"]["structured"]["fragile_keep_ratio"] == 1.0
    assert report["structured"]["groups"]["c1"]["kept"] == 32  # the stem stays whole
    from prune_studio.cli.cmd_shrink import summary_text

    assert "float32 TFLite latency" in summary_text(report)


@pytest.mark.parametrize("args, words", [
    (["--target-latency", 0], "--target-latency 0 is not valid"),
    (["--target-latency", 1, "--reduction", 50], "only one of --reduction, --keep and --target-latency"),
    (["--target-latency", 1, "--metric", "flops"], "leave out --metric"),
    (["--keep-fragile", 0], "--keep-fragile 0 is not valid"),
])
def test_cli_shrink_latency_flags_bad_input(tmp_path, capsys, args, words):
    models.sequential().save(tmp_path / "m.keras")
    code, out, err = _cli(capsys, "shrink", tmp_path / "m.keras", "--data", "digits", *args, "--out", tmp_path / "o")
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1, err
