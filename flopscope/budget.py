"""Budget files: per-model limits for ``flopscope check --budget flopscope.toml``.

A budget file is TOML with one ``[models.NAME]`` table per model to check::

    [models.resnet18]
    model = "resnet18"                   # .onnx path, reference name or file.py:factory;
                                         # defaults to NAME
    input_shape = ["1x3x224x224"]        # optional: "1x3x224x224", a list of
                                         # "[NAME=]1x3x224x224[:dtype]", or a table
                                         # { input = "1x3x224x224" } / { input = [1, 3, 224, 224] }
    dims = { N = 1 }                     # optional: symbolic ONNX dims
    convention = "flopscope"             # optional: "flopscope" (default) or "2mac"
    max_macs = 1_900_000_000             # exact integers, or "1.9G" / "11.7M" / "45MiB"
    max_flops = "3.7G"
    max_params = 11_700_000
    max_param_bytes = "45MiB"
    max_peak_activation_bytes = 12_845_056
    baseline = "baselines/resnet18.json" # optional: also compare with a saved JSON report
    tolerance = "1%"                     # optional: for the baseline ("1%", "0.5%" or 0.01)
    allow_unsupported = false            # optional: do not fail on ops without a cost rule

    [models.resnet18.latency]            # optional: measured latency (ONNX Runtime)
    preset = "cpu"                       # cpu, mobile or gpu
    max_p90_ms = 20
    iterations = 50                      # optional

    [models.resnet18-training]           # a training step (flopscope report --mode train)
    model = "resnet18"
    mode = "train"                       # optional: "inference" (default) or "train"
    optimizer = "adamw"                  # optional: sgd, momentum, adam, adamw (default)
    precision = "bf16-mixed"             # optional: fp32 (default), bf16-mixed, fp16-mixed
    frozen = ["conv1.*", "layer1.*"]     # optional: a glob or a list of globs of parameters
    max_peak_training_bytes = "400MiB"
    max_optimizer_state_bytes = "90MiB"

The metrics are the ``totals`` keys of the JSON report: ``macs``, ``flops``, ``params``,
``param_bytes``, ``activation_bytes``, ``peak_activation_bytes`` and ``traffic_bytes``
(:data:`flopscope.metrics.TOTAL_METRICS`); a limit is ``max_`` + metric and is inclusive
(a model exactly at its limit passes).

Training metrics (:data:`flopscope.metrics.TRAINING_METRICS`: ``forward_macs``,
``backward_macs``, ``optimizer_flops``, ``gradient_bytes``, ``optimizer_state_bytes``,
``saved_activation_bytes``, ``peak_training_bytes``) are measured on a training step. With
``mode = "train"`` the whole entry is checked on the train-mode report, as
``flopscope report --mode train`` gives it: ``max_macs`` and ``max_flops`` then limit
forward + backward (FLOPs with the optimizer step), ``max_peak_activation_bytes`` the
training peak, and a ``baseline`` must be a train-mode report of the same setup. Without
``mode``, training limits are checked on a second analysis, of a training step with
``optimizer``/``precision``/``frozen`` (default adamw, fp32, nothing frozen), and the
other limits and the baseline on the inference analysis, which the note of the result
says; ``optimizer``, ``precision`` and ``frozen`` need ``mode = "train"`` or a training
limit, and ``mode = "inference"`` takes no training limit.
Number strings take decimal suffixes k, M, G, T (10^3...) and binary ones Ki, Mi, Gi, Ti
(2^10...), optionally followed by ``B``; they must come out as whole numbers.

Relative ``.onnx`` paths, ``file.py:factory`` files and ``baseline`` paths are relative
to the budget file's folder. Every key is validated: an unknown key or metric, a wrong
type or a bad number is a :class:`~flopscope.errors.FlopscopeError` (exit 2) that names
the key and lists the valid ones. An entry must set at least one limit or a baseline.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from flopscope.errors import FlopscopeError
from flopscope.latency.presets import PRESETS
from flopscope.metrics import TOTAL_METRICS, TRAINING_METRICS
from flopscope.report import Training
from flopscope.sources import parse_input_shapes, rebase, same_model
from flopscope.training import MODES, OPTIMIZERS, PRECISIONS

CONVENTIONS = ("flopscope", "2mac")

_TRAINING_KEYS = ("optimizer", "precision", "frozen")
_ENTRY_KEYS = ("model", "input_shape", "dims", "convention", "mode", *_TRAINING_KEYS,
               *(f"max_{m}" for m in TOTAL_METRICS), "latency", "baseline", "tolerance",
               "allow_unsupported")
_LATENCY_KEYS = ("preset", "max_p90_ms", "iterations")

_SUFFIXES = {"": 1, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
             "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
_NUMBER = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)\s*(k|K|M|G|T|Ki|Mi|Gi|Ti)?\s*B?$")


@dataclass(frozen=True)
class LatencyLimit:
    """``[models.NAME.latency]``: the p90 latency a preset must stay under."""

    preset: str
    max_p90_ms: float
    iterations: int | None = None


@dataclass
class ModelBudget:
    """One ``[models.NAME]`` entry, validated, with its paths resolved. ``mode`` is
    ``"train"`` when the entry says so (every limit and the baseline are checked on a
    train-mode report), else ``"inference"`` (training limits, if any, are checked on a
    second, train-mode analysis); ``training`` is the train analysis' setup (None: the
    entry needs none)."""

    name: str
    model: str
    spec: str = ""
    input_shapes: dict[str, Any] = field(default_factory=dict)
    input_shape_args: list[str] = field(default_factory=list)
    dims: dict[str, int] = field(default_factory=dict)
    convention: str = "flopscope"
    mode: str = MODES[0]
    training: Training | None = None
    limits: dict[str, int] = field(default_factory=dict)
    latency: LatencyLimit | None = None
    baseline: str | None = None
    tolerance: float | None = None
    allow_unsupported: bool = False

    def matches(self, model: str) -> bool:
        """True when ``model`` (as given on the command line) names this entry: the
        section name, the ``model`` value as written, or the same file."""
        if model in (self.name, self.spec, self.model):
            return True
        return same_model(model, self.model)


@dataclass
class BudgetFile:
    """A parsed budget file."""

    path: str
    models: list[ModelBudget]

    def select(self, model: str | None) -> list[ModelBudget]:
        """The entries for ``model`` (all of them when None); a model with no entry is an
        error naming the entries there are."""
        if model is None:
            return list(self.models)
        chosen = [m for m in self.models if m.matches(model)]
        if not chosen:
            names = ", ".join(f"{m.name} ({m.spec})" if m.spec != m.name else m.name
                              for m in self.models)
            raise FlopscopeError(f"{self.path}: no entry for '{model}' (match by section name or "
                                 f"model value); entries: {names}")
        return chosen


# ----------------------------------------------------------------------- loading


def load_budget(path: str | os.PathLike[str]) -> BudgetFile:
    """Read and validate a budget file (see the module docstring for the format)."""
    path = os.fspath(path)
    toml = _toml()
    try:
        with open(path, "rb") as f:
            data = toml.load(f)
    except FileNotFoundError:
        raise FlopscopeError(f"{path}: no such budget file") from None
    except IsADirectoryError:
        raise FlopscopeError(f"{path}: is a directory, not a budget file") from None
    except OSError as exc:
        raise FlopscopeError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except toml.TOMLDecodeError as exc:
        raise FlopscopeError(f"{path}: not valid TOML ({exc})") from None
    except UnicodeDecodeError:
        raise FlopscopeError(f"{path}: not valid TOML (not UTF-8 text)") from None
    return parse_budget(data, path=path, base_dir=os.path.dirname(path))


def _toml() -> Any:
    import tomllib

    return tomllib


def parse_budget(data: Mapping[str, Any], *, path: str = "budget", base_dir: str = "") -> BudgetFile:
    """Validate parsed TOML (a dict) and build a :class:`BudgetFile`."""
    _only_keys(data, ("models",), path, "the top level")
    models = data.get("models")
    if not isinstance(models, Mapping) or not models:
        raise FlopscopeError(f"{path}: no models; add a [models.NAME] table with a model and "
                             f"limits such as max_macs")
    entries = []
    for name, entry in models.items():
        where = f"{path}: [models.{name}]"
        if not isinstance(entry, Mapping):
            raise FlopscopeError(f"{where} must be a table, e.g. [models.{name}] with max_macs = ...")
        entries.append(_parse_entry(str(name), entry, where, base_dir))
    return BudgetFile(path, entries)


def _parse_entry(name: str, entry: Mapping[str, Any], where: str, base_dir: str) -> ModelBudget:
    for key in entry:
        if key.startswith("max_") and key[4:] not in TOTAL_METRICS and key not in _ENTRY_KEYS:
            raise FlopscopeError(f"{where}: unknown metric '{key[4:]}' ({key}); metrics: "
                                 f"{', '.join(TOTAL_METRICS)} (as max_macs, max_flops, ...); latency "
                                 f"limits go in [models.{name}.latency] as max_p90_ms")
    _only_keys(entry, _ENTRY_KEYS, where, f"[models.{name}]")

    spec = _string(entry.get("model", name), f"{where} model")
    budget = ModelBudget(name=name, spec=spec, model=rebase(spec, base_dir))
    if "input_shape" in entry:
        budget.input_shape_args = _shape_args(entry["input_shape"], f"{where} input_shape")
        budget.input_shapes = _parse_shapes(budget.input_shape_args, f"{where} input_shape")
    if "dims" in entry:
        budget.dims = _parse_dims(entry["dims"], f"{where} dims")
    if "convention" in entry:
        budget.convention = _choice(entry["convention"], CONVENTIONS, f"{where} convention")
    for metric in TOTAL_METRICS:
        key = f"max_{metric}"
        if key in entry:
            budget.limits[metric] = parse_count(entry[key], f"{where} {key}")
    budget.mode, budget.training = _parse_training(entry, budget.limits, where)
    if "latency" in entry:
        budget.latency = _parse_latency(entry["latency"], f"{where[:-1]}.latency]")
    if "baseline" in entry:
        budget.baseline = _resolve_path(_string(entry["baseline"], f"{where} baseline"), base_dir)
    if "tolerance" in entry:
        budget.tolerance = parse_tolerance(entry["tolerance"], f"{where} tolerance")
    if "allow_unsupported" in entry:
        value = entry["allow_unsupported"]
        if not isinstance(value, bool):
            raise FlopscopeError(f"{where} allow_unsupported must be true or false, not {value!r}")
        budget.allow_unsupported = value
    if not budget.limits and budget.latency is None and budget.baseline is None:
        raise FlopscopeError(f"{where} sets no limit; add one of "
                             f"{', '.join(f'max_{m}' for m in TOTAL_METRICS)}, a [models.{name}.latency] "
                             f"table or a baseline")
    return budget


def _parse_training(entry: Mapping[str, Any], limits: Mapping[str, int],
                    where: str) -> tuple[str, Training | None]:
    """``mode`` and the training setup (``optimizer``, ``precision``, ``frozen``) of an
    entry: the setup goes with ``mode = "train"`` or a training limit; an explicit
    ``mode = "inference"`` takes neither."""
    default = Training()
    mode = _choice(entry.get("mode", MODES[0]), MODES, f"{where} mode")
    optimizer = _choice(entry.get("optimizer", default.optimizer), tuple(OPTIMIZERS), f"{where} optimizer")
    precision = _choice(entry.get("precision", default.precision), tuple(PRECISIONS), f"{where} precision")
    frozen = _globs(entry["frozen"], f"{where} frozen") if "frozen" in entry else default.frozen
    trained = [f"max_{m}" for m in TRAINING_METRICS if m in limits]
    setup = [key for key in _TRAINING_KEYS if key in entry]
    if mode != "train" and entry.get("mode") is not None and (trained or setup):
        raise FlopscopeError(f"{where}: {', '.join(trained + setup)} needs a training analysis, but "
                             f"mode is 'inference'; set mode = \"train\" (or leave mode out to "
                             f"check the training limits on a train-mode analysis)")
    if mode != "train" and setup and not trained:
        raise FlopscopeError(f"{where}: {', '.join(setup)} sets up a training analysis; add "
                             f"mode = \"train\" to check the entry in train mode, or a training "
                             f"limit ({', '.join(f'max_{m}' for m in TRAINING_METRICS)})")
    if mode != "train" and not trained:
        return mode, None
    return mode, Training(optimizer, precision, frozen)


def _globs(value: Any, where: str) -> tuple[str, ...]:
    """``frozen``: a glob or a list of globs of parameter names."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(g, str) and g.strip()
                                                           for g in items):
        raise FlopscopeError(f"{where} must be a glob of parameter names or a list of them "
                             f"(\"backbone.*\" or [\"stem.*\", \"layer1.*\"]), not {value!r}")
    return tuple(g.strip() for g in items)


def _parse_latency(value: Any, where: str) -> LatencyLimit:
    if not isinstance(value, Mapping):
        raise FlopscopeError(f"{where} must be a table with preset and max_p90_ms")
    _only_keys(value, _LATENCY_KEYS, where, where.partition(": ")[2])
    if "max_p90_ms" not in value:
        raise FlopscopeError(f"{where} needs max_p90_ms (milliseconds)")
    preset = _choice(value.get("preset", "cpu"), tuple(PRESETS), f"{where} preset")
    limit = value["max_p90_ms"]
    if isinstance(limit, bool) or not isinstance(limit, (int, float)) or not limit > 0:
        raise FlopscopeError(f"{where} max_p90_ms must be a number of milliseconds > 0, not {limit!r}")
    iterations = value.get("iterations")
    if iterations is not None and (isinstance(iterations, bool) or not isinstance(iterations, int)
                                   or iterations < 1):
        raise FlopscopeError(f"{where} iterations must be an integer >= 1, not {iterations!r}")
    return LatencyLimit(preset, float(limit), iterations)


# ----------------------------------------------------------------------- values


def parse_count(value: Any, where: str = "value") -> int:
    """An exact non-negative integer from an int, an integral float (``1.9e9``) or a string
    with an optional suffix (``"1.9G"``, ``"11_700_000"``, ``"45MiB"``)."""
    if isinstance(value, bool):
        raise FlopscopeError(f"{where} must be a number, not {value!r}")
    if isinstance(value, int):
        number = Fraction(value)
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise FlopscopeError(f"{where} must be a finite number, not {value!r}")
        number = Fraction(repr(value))
    elif isinstance(value, str):
        match = _NUMBER.match(value.strip().replace("_", "").replace(",", ""))
        if match is None:
            raise FlopscopeError(f"{where}: cannot read {value!r} as a number; write an integer "
                                 f"(1_900_000_000) or a number with a suffix k, M, G, T, Ki, Mi, "
                                 f"Gi, Ti (\"1.9G\", \"45MiB\")")
        number = Fraction(match.group(1)) * _SUFFIXES[match.group(2) or ""]
    else:
        raise FlopscopeError(f"{where} must be a number, not {type(value).__name__} {value!r}")
    if number < 0:
        raise FlopscopeError(f"{where} must be >= 0, not {value!r}")
    if number.denominator != 1:
        raise FlopscopeError(f"{where}: {value!r} is {float(number):,} — not a whole number")
    return int(number)


def parse_tolerance(value: Any, where: str = "tolerance") -> float:
    """A relative tolerance as a fraction: ``"1%"`` -> 0.01, ``"0.5%"`` -> 0.005,
    ``"0.01"`` or ``0.01`` -> 0.01. A bare number must be a fraction in [0, 1]."""
    text = value if isinstance(value, str) else None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise FlopscopeError(f"{where} must be a percentage like \"1%\" or a fraction like 0.01, "
                             f"not {value!r}")
    try:
        if text is not None and text.strip().endswith("%"):
            fraction = float(text.strip()[:-1]) / 100.0
            bare = False
        else:
            fraction = float(value)
            bare = True
    except ValueError:
        raise FlopscopeError(f"{where}: cannot read {value!r}; write a percentage like \"1%\" or "
                             f"a fraction like 0.01") from None
    if not fraction >= 0 or fraction == float("inf"):
        raise FlopscopeError(f"{where} must be >= 0, not {value!r}")
    if bare and fraction > 1:
        raise FlopscopeError(f"{where}: {value!r} is more than 1 as a fraction; write "
                             f"\"{fraction:g}%\" for a percentage or {fraction / 100:g} as a fraction")
    return fraction


# ----------------------------------------------------------------------- helpers


def _only_keys(table: Mapping[str, Any], valid: tuple[str, ...], where: str, what: str) -> None:
    for key in table:
        if key not in valid:
            raise FlopscopeError(f"{where}: unknown key '{key}' in {what}; valid keys: {', '.join(valid)}")


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise FlopscopeError(f"{where} must be a non-empty string, not {value!r}")
    return value.strip()


def _choice(value: Any, choices: tuple[str, ...], where: str) -> str:
    if value not in choices:
        raise FlopscopeError(f"{where} is {value!r}; choose one of {', '.join(choices)}")
    return str(value)


def _shape_args(value: Any, where: str) -> list[str]:
    """The input_shape value as ``--input-shape`` arguments (``[NAME=]1x3x8x8[:dtype]``)."""
    def dims_text(dims: Any) -> str:
        if isinstance(dims, str):
            return dims.strip()
        if isinstance(dims, list) and all(isinstance(d, int) and not isinstance(d, bool) for d in dims):
            return "x".join(str(d) for d in dims) or "scalar"
        raise FlopscopeError(f"{where}: {dims!r} is not a shape; write \"1x3x224x224\" or "
                             f"[1, 3, 224, 224]")

    if isinstance(value, str):
        return [dims_text(value)]
    if isinstance(value, list):
        if value and all(isinstance(d, int) and not isinstance(d, bool) for d in value):
            return [dims_text(value)]
        return [dims_text(item) for item in value]
    if isinstance(value, Mapping):
        return [f"{name}={dims_text(dims)}" for name, dims in value.items()]
    raise FlopscopeError(f"{where} must be a shape string, a list of them or a table of input "
                         f"name = shape, not {value!r}")


def _parse_shapes(args: list[str], where: str) -> dict[str, Any]:
    try:
        return parse_input_shapes(args)
    except FlopscopeError as exc:
        raise FlopscopeError(f"{where}: {exc}") from None


def _parse_dims(value: Any, where: str) -> dict[str, int]:
    if not isinstance(value, Mapping):
        raise FlopscopeError(f"{where} must be a table of NAME = size, e.g. dims = {{ N = 1 }}")
    dims = {}
    for name, size in value.items():
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise FlopscopeError(f"{where}: {name} must be an integer >= 0, not {size!r}")
        dims[str(name)] = size
    return dims


def _resolve_path(path: str, base_dir: str) -> str:
    if os.path.isabs(path) or not base_dir:
        return path
    return os.path.normpath(os.path.join(base_dir, path))
