"""The recipe: one versioned JSON file that says what to prune and how.

The window saves it (File > Save recipe) and ``prune-studio-cli prune --recipe`` runs it, so a
clicked-through session can be automated. Layout (``schema_version`` 1)::

    {
      "schema_version": 1,
      "model": {"path": "baseline.keras", "trust": false},   (optional "custom_objects": "layers.py")
      "data": {"kind": "digits", "path": null, "options": {}},
      "plan": {... PruningPlan.to_dict() ...}      or  {"suggest": {"max_drop": 0.01}}
                                                   or  {"suggest": {"target_sparsity": 0.8}},
              (either may add "policy": "xnnpack": prune only what XNNPack runs faster sparse)
      "training": {"epochs": 2, "batch_size": 32, "optimizer": "adam",
                   "learning_rate": 0.001, "validation_split": 0.1},
      "export": {... ExportSettings.to_dict() ...},
      "structured": {... StructuredSettings.to_dict() ...}     (optional: remove channels first)
    }

Relative paths (the model's, the custom objects file's, the data's) resolve against the recipe
file's folder; paths given on the command line resolve against the current folder. Older
schema versions migrate forward through :data:`MIGRATIONS`. Saving then loading gives the same
file, byte for byte.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from prune_studio.errors import PruneStudioError
from prune_studio.training.settings import TrainingSettings

SCHEMA_VERSION = 1

#: ``MIGRATIONS[v]`` turns a version-``v`` recipe dict into version ``v + 1``. Add one entry per
#: schema change; loading applies them in order up to :data:`SCHEMA_VERSION`.
MIGRATIONS: dict[int, Callable[[dict], dict]] = {}

SUGGEST_KEYS = ("max_drop", "target_sparsity")
#: Names a recipe's ``plan.policy`` may take (see ``prune_studio.cli.policies``).
POLICIES = ("xnnpack",)
TOP_LEVEL = ("schema_version", "model", "data", "plan", "training", "export", "structured")


class RecipeError(PruneStudioError):
    """A recipe that cannot be read or used.

    Attributes:
        field: the dotted field at fault, e.g. ``"training.epochs"`` (``None`` for the whole file).
    """

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def _fail(field_name: str, problem: str) -> RecipeError:
    return RecipeError(f"Recipe field '{field_name}' {problem}.", field=field_name)


@dataclass
class Recipe:
    """A runnable session: model, data, plan (or a request for a suggested one), training, export.

    Attributes:
        model_path: the model file, as written (relative paths resolve against ``base_dir``).
        data: a :class:`prune_studio.data.DataSpec`.
        plan: a :class:`prune_studio.pruning.plan.PruningPlan`, or ``None`` when ``suggest`` is set.
        suggest: ``{"max_drop": x}`` or ``{"target_sparsity": x}``: run the sensitivity scan and
            use its suggested plan; ``None`` when ``plan`` is set.
        training: :class:`TrainingSettings`.
        export: a :class:`prune_studio.export.ExportSettings`.
        trust: allow the model file to run its own code (Lambda layers) when loading.
        custom_objects: a Python file whose classes are registered before the model opens
            (relative paths resolve against ``base_dir``), or ``None``.
        policy: a pruning policy name from :data:`POLICIES` (``"xnnpack"``), or ``None``.
        structured: a :class:`prune_studio.structured.StructuredSettings` (remove whole channels
            before, or while, fine-tuning), or ``None``; a section missing fields gets the defaults.
        base_dir: the folder relative paths resolve against (the recipe file's folder).
    """

    model_path: str
    data: Any
    plan: Any = None
    suggest: dict[str, float] | None = None
    training: TrainingSettings = field(default_factory=TrainingSettings)
    export: Any = None
    trust: bool = False
    custom_objects: str | None = None
    policy: str | None = None
    base_dir: Path | None = field(default=None, compare=False)
    structured: Any = None

    def __post_init__(self) -> None:
        if (self.plan is None) == (self.suggest is None):
            raise RecipeError("A recipe needs either a plan or a suggest request, not both or neither.", "plan")
        if self.export is None:
            from prune_studio.export import ExportSettings

            self.export = ExportSettings()

    def resolve(self, path: str | None) -> Path | None:
        """``path`` made absolute against :attr:`base_dir` (unchanged when already absolute)."""
        if path is None:
            return None
        p = Path(path).expanduser()
        return p if p.is_absolute() or self.base_dir is None else (self.base_dir / p)

    def model_file(self) -> Path:
        """The model file to open."""
        return self.resolve(self.model_path)

    def data_spec(self) -> Any:
        """The data spec with its path resolved against the recipe's folder."""
        from prune_studio.data import DataSpec

        spec = DataSpec.from_dict(self.data.to_dict())
        if spec.path is not None:
            spec.path = str(self.resolve(spec.path))
        return spec

    def to_dict(self) -> dict[str, Any]:
        """The JSON layout described in the module docstring."""
        model = {"path": self.model_path, "trust": self.trust}
        if self.custom_objects is not None:
            model["custom_objects"] = self.custom_objects
        plan = self.plan.to_dict() if self.plan is not None else {"suggest": dict(self.suggest)}
        if self.policy is not None:
            plan["policy"] = self.policy
        return {
            "schema_version": SCHEMA_VERSION,
            "model": model,
            "data": self.data.to_dict(),
            "plan": plan,
            "training": self.training.to_dict(),
            "export": self.export.to_dict(),
            **({"structured": self.structured.to_dict()} if self.structured is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: Any, base_dir: str | Path | None = None) -> "Recipe":
        """Validate, migrate and build a recipe.

        Raises:
            RecipeError: naming the first field that is missing, of the wrong type or invalid.
        """
        data = migrate(data)
        unknown = sorted(set(data) - set(TOP_LEVEL))
        if unknown:
            raise _fail(unknown[0], f"is not part of a recipe; valid fields are {', '.join(TOP_LEVEL)}")
        model_path, trust, custom_objects = _parse_model(_required(data, "model", dict))
        plan_data = dict(_required(data, "plan", dict))
        policy = _parse_policy(plan_data.pop("policy", None))
        plan, suggest = _parse_plan(plan_data)
        return cls(
            model_path=model_path,
            trust=trust,
            custom_objects=custom_objects,
            policy=policy,
            data=_parse_data(_required(data, "data", dict)),
            plan=plan,
            suggest=suggest,
            training=_parse_training(data.get("training", {})),
            export=_parse_export(data.get("export", {})),
            base_dir=Path(base_dir) if base_dir is not None else None,
            structured=_parse_structured(data.get("structured")),
        )


def migrate(data: Any) -> dict[str, Any]:
    """Bring a recipe dict of any known schema version up to :data:`SCHEMA_VERSION`."""
    if not isinstance(data, dict):
        raise RecipeError(f"A recipe must be a JSON object, got {type(data).__name__}.")
    version = data.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _fail("schema_version", f"must be a whole number from 1 to {SCHEMA_VERSION}, got {version!r}")
    if version > SCHEMA_VERSION:
        raise _fail(
            "schema_version",
            f"is {version}, made by a newer Prune Studio; this one reads up to {SCHEMA_VERSION}",
        )
    data = dict(data)
    while version < SCHEMA_VERSION:
        data = MIGRATIONS[version](data)
        version += 1
        data["schema_version"] = version
    return data


def _required(data: dict, key: str, kind: type) -> Any:
    if key not in data:
        raise _fail(key, "is missing")
    if not isinstance(data[key], kind):
        raise _fail(key, f"must be a JSON {'object' if kind is dict else kind.__name__}, got {data[key]!r}")
    return data[key]


def _parse_model(model: dict) -> tuple[str, bool, str | None]:
    unknown = sorted(set(model) - {"path", "trust", "custom_objects"})
    if unknown:
        raise _fail(f"model.{unknown[0]}", "is not known; valid fields are path, trust, custom_objects")
    path = model.get("path")
    if not isinstance(path, str) or not path.strip():
        raise _fail("model.path", f"must be the model file's path, got {path!r}")
    trust = model.get("trust", False)
    if not isinstance(trust, bool):
        raise _fail("model.trust", f"must be true or false, got {trust!r}")
    custom = model.get("custom_objects")
    if custom is not None and (not isinstance(custom, str) or not custom.endswith(".py")):
        raise _fail("model.custom_objects", f"must be the path of a .py file, got {custom!r}")
    return path, trust, custom


def _parse_policy(policy: Any) -> str | None:
    if policy is not None and policy not in POLICIES:
        raise _fail("plan.policy", f"must be one of {', '.join(POLICIES)} (or left out), got {policy!r}")
    return policy


def _parse_data(data: dict) -> Any:
    from prune_studio.data import DataSpec

    if not isinstance(data.get("kind"), str):
        raise _fail("data.kind", f"must name the kind of data (e.g. \"digits\", \"npz\"), got {data.get('kind')!r}")
    if not isinstance(data.get("options", {}), dict):
        raise _fail("data.options", f"must be a JSON object, got {data['options']!r}")
    try:
        return DataSpec.from_dict(data)
    except (PruneStudioError, ValueError, TypeError, KeyError) as exc:
        raise _fail("data", f"is not valid: {_sentence(exc)}") from exc


def _parse_plan(plan: dict) -> tuple[Any, dict | None]:
    if "suggest" in plan:
        suggest = plan["suggest"]
        if set(plan) != {"suggest"}:
            raise _fail("plan", "must hold either a plan or only a 'suggest' request")
        if not isinstance(suggest, dict) or len(suggest) != 1 or next(iter(suggest)) not in SUGGEST_KEYS:
            raise _fail("plan.suggest", f"must be {{\"max_drop\": x}} or {{\"target_sparsity\": x}}, got {suggest!r}")
        key, value = next(iter(suggest.items()))
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or not 0 < value < 1:
            raise _fail(f"plan.suggest.{key}", f"must be a number between 0 and 1, got {value!r}")
        return None, dict(suggest)
    from prune_studio.pruning.plan import LayerPlan, PruningPlan

    if set(plan) != {"layers"}:
        raise _fail("plan", "must hold 'layers' (layer name -> layer plan) or a 'suggest' request")
    if not isinstance(plan["layers"], dict):
        raise _fail("plan.layers", f"must be a JSON object of layer name -> layer plan, got {plan['layers']!r}")
    for name, layer in plan["layers"].items():
        if not isinstance(layer, dict):
            raise _fail(f"plan.layers.{name}", f"must be a JSON object, got {layer!r}")
        try:
            LayerPlan.from_dict(layer)
        except (PruneStudioError, ValueError, TypeError, KeyError) as exc:
            raise _fail(f"plan.layers.{name}", f"is not valid: {_sentence(exc)}") from exc
    return PruningPlan.from_dict(plan), None


def _parse_training(training: Any) -> TrainingSettings:
    if not isinstance(training, dict):
        raise _fail("training", f"must be a JSON object, got {training!r}")
    known = set(TrainingSettings.__dataclass_fields__)
    unknown = sorted(set(training) - known)
    if unknown:
        raise _fail(f"training.{unknown[0]}", f"is not known; valid fields are {', '.join(sorted(known))}")
    settings = TrainingSettings(**training)
    for name, problem in settings.problems():
        raise _fail(f"training.{name}", problem)
    return settings


def _parse_export(export: Any) -> Any:
    from prune_studio.export import ExportSettings

    if not isinstance(export, dict):
        raise _fail("export", f"must be a JSON object, got {export!r}")
    known = set(ExportSettings.__dataclass_fields__)
    unknown = sorted(set(export) - known)
    if unknown:
        raise _fail(f"export.{unknown[0]}", f"is not known; valid fields are {', '.join(sorted(known))}")
    try:
        return ExportSettings.from_dict(export)
    except (PruneStudioError, ValueError, TypeError) as exc:
        raise _fail("export", f"is not valid: {_sentence(exc)}") from exc


def _parse_structured(section: Any) -> Any:
    if section is None:
        return None
    from prune_studio.structured.settings import StructuredSettings, StructuredSettingsError

    try:
        return StructuredSettings.from_dict(section)
    except StructuredSettingsError as exc:
        raise RecipeError(f"Recipe section 'structured': {exc}", field=f"structured.{exc.field}" if exc.field else "structured") from exc


def _sentence(exc: BaseException) -> str:
    text = str(exc).strip().rstrip(".")
    return text[:1].lower() + text[1:] if text else type(exc).__name__


def load_recipe(path: str | Path) -> Recipe:
    """Read a recipe file; relative paths in it resolve against its folder.

    Raises:
        RecipeError: the file is missing, is not JSON, or a field is invalid (the message names it).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RecipeError(f"The recipe file {path} could not be read ({exc.strerror or exc}).") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RecipeError(f"The recipe file {path} is not valid JSON (line {exc.lineno}: {exc.msg}).") from exc
    try:
        return Recipe.from_dict(data, base_dir=path.resolve().parent)
    except RecipeError as exc:
        raise RecipeError(f"{path}: {exc}", field=exc.field) from exc


def save_recipe(recipe: Recipe, path: str | Path) -> Path:
    """Write ``recipe`` as indented JSON (paths are written as they are held)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(recipe.to_dict(), indent=2) + "\n", encoding="utf-8")
    return path
