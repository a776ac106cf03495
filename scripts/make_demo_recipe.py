"""Write resources/samples/digits_demo_recipe.json, the demo's recipe, from ``cli/cmd_demo.py``.

The window's demo run and ``prune-studio-cli prune resources/samples/digits_demo.keras --recipe
resources/samples/digits_demo_recipe.json`` use this file; ``tests/cli`` checks it matches.
Run: ``python scripts/make_demo_recipe.py``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "app"))

from prune_studio.cli.cmd_demo import demo_recipe  # noqa: E402
from prune_studio.recipe import save_recipe  # noqa: E402
from prune_studio.resources import demo_model_path, resource_path  # noqa: E402

if __name__ == "__main__":
    path = save_recipe(demo_recipe(demo_model_path().name), resource_path("samples", "digits_demo_recipe.json"))
    print(f"wrote {path}")
