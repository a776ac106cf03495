"""``inspect``: the layer table as JSON, with prunability and reasons."""


def test_inspect_json_lists_layers_with_reasons(cli, demo_model_file):
    data = cli("inspect", demo_model_file, "--json").json()
    layers = {row["name"]: row for row in data["layers"]}
    assert {"conv1", "conv2", "dense1", "digits", "dropout"} <= set(layers)
    assert layers["dense1"]["prunable"] and layers["dense1"]["params"] > 0
    assert not layers["dropout"]["prunable"] and layers["dropout"]["reason"]
    assert data["total_params"] >= data["prunable_params"] > 0

