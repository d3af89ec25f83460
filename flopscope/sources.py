"""What MODEL names, and the inputs it runs on: the one place both are normalised.

A model is named by an ``.onnx`` path, an ``onnx.ModelProto``, a reference architecture
name (``"resnet50"``, see ``flopscope.models.catalog``), ``"path/to/file.py:factory"``
(a user's PyTorch model) or an ``nn.Module``. :func:`resolve` turns any of them into a
:class:`Source` once; analysis, the latency harness, export and budget files take that.
Resolving reads no file and imports neither torch nor onnx: it only says what the name
is. :meth:`Source.build` makes the PyTorch module, on demand.

Inputs come as ``inputs`` (a shape, shapes in order, ``(shape, dtype)`` pairs, example
tensors, or a dict of them by input name) and ``input_shapes`` (by name; the key ``""``
is the unnamed input, as ``--input-shape 1x3x224x224`` gives it). :func:`merge_inputs`
merges the two into one :class:`Inputs`; the CLI's text forms are parsed here too
(:func:`parse_input_shapes`, :func:`parse_dims`).

>>> resolve("resnet18").kind, resolve("nets/detector.py:build").kind, resolve("m.onnx").kind
('catalog', 'factory', 'onnx')
>>> merge_inputs((1, 3, 8, 8), {"mask": (1, 8)})
Inputs(unnamed=(1, 3, 8, 8), named={'mask': (1, 8)})
"""

from __future__ import annotations

import difflib
import importlib.util
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from flopscope.errors import FlopscopeError, one_line

#: the kinds of model a name can stand for. ``hf:ID_OR_FOLDER`` (a Hugging Face config) is
#: recognised in :func:`_classify` by its prefix before the ``file.py:factory`` test, and
#: built by ``flopscope.frontends.torch.build`` (frontends sit a layer above sources).
ONNX_FILE, PROTO, CATALOG, FACTORY, MODULE = "onnx", "proto", "catalog", "factory", "module"
HF = "hf"
KINDS = (ONNX_FILE, PROTO, CATALOG, FACTORY, MODULE, HF)
HF_PREFIX = "hf:"

_USAGE = "pass an nn.Module, an .onnx path, a reference architecture name or path/to/file.py:factory"


# --------------------------------------------------------------------------- models


@dataclass(frozen=True)
class Source:
    """A model, resolved: what it is (``kind``, one of :data:`KINDS`) and where it is.

    ``spec`` is the name as given (the module's class name for an ``nn.Module``, the
    graph's name for a ModelProto); ``path`` the ``.onnx`` file or the factory's ``.py``
    file; ``factory`` the name called in that file; ``value`` the ModelProto or module;
    ``options`` how a Hugging Face model is built (``seq``, ``batch``,
    ``trust_remote_code``; see :func:`with_options`).

    >>> s = resolve("nets/detector.py:build")
    >>> s.path.as_posix(), s.factory, s.name, s.is_onnx
    ('nets/detector.py', 'build', 'build', False)
    """

    kind: str
    spec: str
    path: Path | None = None
    factory: str = ""
    value: Any = field(default=None, repr=False, compare=False)
    options: tuple[tuple[str, Any], ...] = field(default=(), repr=False)

    @property
    def is_onnx(self) -> bool:
        """True when the ONNX frontend reads it (a file or a ModelProto)."""
        return self.kind in (ONNX_FILE, PROTO)

    @property
    def name(self) -> str:
        """The model's name in reports: the file's stem, the factory's or class's name.

        >>> resolve("models/yolo.onnx").name, resolve("resnet18").name
        ('yolo', 'resnet18')
        """
        if self.kind == ONNX_FILE:
            return self.path.stem if self.path is not None else self.spec
        if self.kind == FACTORY:
            return self.factory
        if self.kind == HF:
            return self.spec[len(HF_PREFIX):].rstrip("/\\").rsplit("/", 1)[-1] or self.spec
        return self.spec

    @property
    def target(self) -> Any:
        """What the ONNX frontend loads: the file's path or the ModelProto."""
        return self.value if self.kind == PROTO else self.spec

    def build(self, weights: bool = True) -> tuple[Any, Any]:
        """``(nn.Module, example inputs or None)`` of a PyTorch source; runs a factory's code.

        With ``weights=False`` a reference architecture is built on the meta device:
        counting needs its shapes, not its weights.
        """
        if self.kind == MODULE:
            return self.value, None
        if self.kind == FACTORY:
            import torch

            made = load_factory(self.spec)
            inputs = None
            if isinstance(made, tuple) and len(made) == 2 and isinstance(made[0], torch.nn.Module):
                made, inputs = made
            if not isinstance(made, torch.nn.Module):
                raise FlopscopeError(f"{self.spec}: the factory returned {type(made).__name__}, "
                                     "not a torch.nn.Module")
            return made, inputs
        if self.kind == CATALOG:
            from flopscope.models import catalog

            shape = catalog.spec(self.spec).input_shape
            if weights:
                return catalog.build(self.spec), shape
            import torch

            with torch.device("meta"), _skip_meta_init():
                return catalog.build(self.spec), shape
        if self.kind == HF:   # frontends sit a layer above this module
            raise TypeError(f"{self.spec}: an hf: source is built by flopscope.frontends.torch.build")
        raise FlopscopeError(f"{self.spec}: an ONNX model, not a PyTorch one ({_USAGE})")


def with_options(source: Source, **options: Any) -> Source:
    """``source`` with build options (None values dropped): for a Hugging Face model
    ``seq``, ``batch`` and ``trust_remote_code``; other kinds take none.

    >>> with_options(resolve("hf:bert-base-uncased"), seq=64).options
    (('seq', 64),)
    >>> with_options(resolve("resnet18"), seq=64)
    Traceback (most recent call last):
    flopscope.errors.FlopscopeError: resnet18: --seq and --trust-remote-code apply to hf: models
    """
    given = tuple(sorted((k, v) for k, v in options.items() if v is not None and v is not False))
    if not given:
        return source
    if source.kind != HF:
        raise FlopscopeError(f"{source.spec}: --seq and --trust-remote-code apply to hf: models")
    return replace(source, options=tuple(sorted({**dict(source.options), **dict(given)}.items())))


def resolve(model: Any, base_dir: str | os.PathLike[str] | None = None) -> Source:
    """The :class:`Source` ``model`` names; a Source is returned as it is.

    ``base_dir`` is the folder relative ``.onnx`` and ``file.py`` paths are relative to
    (a budget file's). A bare word that is neither a file nor a reference architecture,
    or an object that is no model, is a one-line :class:`FlopscopeError`.

    >>> resolve("resnet18")
    Source(kind='catalog', spec='resnet18', path=None, factory='')
    >>> resolve("nets/m.onnx", base_dir="ci").path.as_posix()
    'ci/nets/m.onnx'
    """
    if isinstance(model, Source):
        return model
    if type(model).__name__ == "ModelProto":
        return Source(PROTO, model.graph.name or "model", value=model)
    torch = sys.modules.get("torch")    # an nn.Module means torch is imported already
    if torch is not None and isinstance(model, torch.nn.Module):
        return Source(MODULE, type(model).__name__, value=model)
    if not isinstance(model, (str, os.PathLike)):
        raise FlopscopeError(f"cannot analyse a {type(model).__name__}: {_USAGE}")
    text = os.fspath(model)
    if base_dir:
        text = rebase(text, base_dir)
    return _classify(text)


def _classify(text: str) -> Source:
    if text.startswith(HF_PREFIX):
        if len(text) == len(HF_PREFIX):
            raise FlopscopeError("hf: needs a Hub id or a folder holding config.json")
        return Source(HF, text)
    if text.lower().endswith(".onnx"):
        return Source(ONNX_FILE, text, Path(text))
    factory = factory_spec(text)
    if factory is not None:
        return Source(FACTORY, text, Path(factory[0]), factory[1])
    from flopscope.models.catalog import names  # the catalog imports no torch

    if text in names():
        return Source(CATALOG, text)
    if not os.path.exists(text) and os.sep not in text and "." not in text:
        raise FlopscopeError(f"'{text}' is not a file, a path/to/file.py:factory spec, nor a "
                             f"reference architecture{did_you_mean(text, names())} (list them with "
                             "'flopscope models')")
    return Source(ONNX_FILE, text, Path(text))


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    """`` (did you mean 'resnet50'?)`` naming the closest of ``choices`` (up to three), or
    an empty string when none is close.

    >>> did_you_mean("resnet05", ["resnet18", "resnet50", "vgg16"])
    " (did you mean 'resnet50' or 'resnet18'?)"
    >>> did_you_mean("mobilenet", ["mobilenet_v2", "vgg16"])
    " (did you mean 'mobilenet_v2'?)"
    >>> did_you_mean("transformer", ["resnet18", "vgg16"])
    ''
    """
    close = difflib.get_close_matches(word.lower(), list(choices), n=3, cutoff=0.6)
    if not close:
        close = [c for c in choices if c.startswith(word.lower()) or word.lower().startswith(c)][:3]
    if not close:
        return ""
    return " (did you mean " + " or ".join(f"'{c}'" for c in close) + "?)"


def factory_spec(text: str) -> tuple[str, str] | None:
    """``("path/to/file.py", "factory")`` for a ``path/to/file.py:factory`` spec, else None.

    >>> factory_spec("nets/detector.py:build")
    ('nets/detector.py', 'build')
    >>> factory_spec("resnet50") is None and factory_spec("C:/models/m.onnx") is None
    True
    """
    path, colon, factory = text.rpartition(":")
    return (path, factory) if colon and path.endswith(".py") else None


def rebase(spec: str, base_dir: str | os.PathLike[str]) -> str:
    """``spec`` with a relative ``.onnx`` path or ``file.py`` made relative to ``base_dir``;
    reference names, absolute paths and other text are left alone. Nothing is checked.

    >>> rebase("nets/m.py:build", "ci"), rebase("resnet18", "ci"), rebase("/m.onnx", "ci")
    ('ci/nets/m.py:build', 'resnet18', '/m.onnx')
    """
    def join(path: str) -> str:
        if os.path.isabs(path) or not os.fspath(base_dir):
            return path
        return os.path.normpath(os.path.join(base_dir, path))

    factory = factory_spec(spec)
    if factory is not None:
        return f"{join(factory[0])}:{factory[1]}"
    if spec.lower().endswith(".onnx"):
        return join(spec)
    return spec


def same_model(a: str, b: str) -> bool:
    """True when the specs ``a`` and ``b`` name the same file (and factory) from here.

    >>> same_model("nets/../m.onnx", "m.onnx"), same_model("m.py:a", "m.py:b")
    (True, False)
    """
    def file_of(spec: str) -> str:
        factory = factory_spec(spec)
        if factory is not None:
            return f"{os.path.abspath(factory[0])}:{factory[1]}"
        return os.path.abspath(spec)

    return file_of(a) == file_of(b)


def load_factory(spec: str) -> Any:
    """Call ``path/to/file.py:factory`` and return what it returns.

    This runs the user's code, by design. Nothing is written beside the file (no
    ``__pycache__``), and an exception or ``sys.exit`` in it becomes a one-line error.
    """
    path_text, factory = factory_spec(spec) or (spec, "")
    path = Path(path_text)
    if not path.is_file():
        raise FlopscopeError(f"{path}: no such file (model spec '{spec}')")
    module_name = f"_flopscope_user_{abs(hash(str(path.resolve())))}"
    bytecode = sys.dont_write_bytecode
    try:
        module_spec = importlib.util.spec_from_file_location(module_name, path)
        if module_spec is None or module_spec.loader is None:
            raise ImportError("not a Python file")
        module = importlib.util.module_from_spec(module_spec)
        sys.path.insert(0, str(path.parent.resolve()))
        sys.dont_write_bytecode = True
        try:
            module_spec.loader.exec_module(module)
        finally:
            sys.dont_write_bytecode = bytecode
            sys.path.pop(0)
    except (Exception, SystemExit) as exc:
        raise FlopscopeError(f"{path}: importing it raised {one_line(exc, named=True)}") from None
    fn = getattr(module, factory, None)
    if fn is None:
        raise FlopscopeError(f"{path} has no '{factory}'")
    import torch

    try:
        return fn() if callable(fn) and not isinstance(fn, torch.nn.Module) else fn
    except (Exception, SystemExit) as exc:
        raise FlopscopeError(f"{spec}: the factory raised {one_line(exc, named=True)}") from None


_SKIP_META_INIT: type | None = None


def _skip_meta_init() -> Any:
    """A TorchFunctionMode that skips in-place initialisers (``normal_``, ``uniform_``,
    ``zero_``...) on meta tensors while a model is built there: they have no values to
    write, and their Python reference implementations cost more than the analysis."""
    global _SKIP_META_INIT
    if _SKIP_META_INIT is None:
        import torch

        class SkipMetaInit(torch.overrides.TorchFunctionMode):
            def __torch_function__(self, func: Any, types: Any, args: tuple[Any, ...] = (),
                                   kwargs: dict[str, Any] | None = None) -> Any:
                name = getattr(func, "__name__", "")
                if name.endswith("_") and not name.startswith("_") and args \
                        and isinstance(args[0], torch.Tensor) and args[0].device.type == "meta":
                    return args[0]
                return func(*args, **(kwargs or {}))

        _SKIP_META_INIT = SkipMetaInit
    return _SKIP_META_INIT()


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Inputs:
    """The inputs a model runs on: ``unnamed`` in forward() / graph order (a shape, a list
    of shapes, ``(shape, dtype)`` pairs or tensors; None when none) and ``named`` by input
    name. An ONNX model's unnamed input is its only one."""

    unnamed: Any = None
    named: Mapping[str, Any] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """True when no input is given.

        >>> Inputs().empty, merge_inputs(None, {"x": (1, 3)}).empty
        (True, False)
        """
        return self.unnamed is None and not self.named

    def by_name(self) -> dict[str, Any]:
        """The inputs as one dict, the unnamed one under the key ``""``.

        >>> merge_inputs((1, 3), {"m": (1,)}).by_name()
        {'': (1, 3), 'm': (1,)}
        """
        return ({"": self.unnamed} if self.unnamed is not None else {}) | dict(self.named)

    def map(self, fn: Callable[[Any], Any]) -> Inputs:
        """These inputs with ``fn`` applied to the unnamed value and each named one."""
        return Inputs(None if self.unnamed is None else fn(self.unnamed),
                      {k: fn(v) for k, v in self.named.items()})


def merge_inputs(inputs: Any = None, input_shapes: Mapping[str, Any] | None = None) -> Inputs:
    """``inputs`` and ``input_shapes`` as one :class:`Inputs`.

    ``input_shapes`` wins over ``inputs`` for the same name. The unnamed input (an
    ``inputs`` that is not a dict, or the key ``""`` of either) may be given once.

    >>> merge_inputs({"x": (1, 3), "m": (1,)}, {"x": (2, 3)})
    Inputs(unnamed=None, named={'x': (2, 3), 'm': (1,)})
    >>> merge_inputs((1, 3), {"": (2, 3)})
    Traceback (most recent call last):
    flopscope.errors.FlopscopeError: give input shapes once (an unnamed --input-shape and inputs)
    """
    if isinstance(inputs, Inputs):
        if not input_shapes:
            return inputs
        unnamed, named = inputs.unnamed, dict(inputs.named)
    elif isinstance(inputs, Mapping):
        named = dict(inputs)
        unnamed = named.pop("", None)
    else:
        unnamed, named = inputs, {}
    shapes = dict(input_shapes or {})
    if "" in shapes:
        if unnamed is not None:
            raise FlopscopeError("give input shapes once (an unnamed --input-shape and inputs)")
        unnamed = shapes.pop("")
    return Inputs(unnamed, {**named, **shapes})


def name_unnamed(shapes: Mapping[str, Any], names: Sequence[str]) -> dict[str, Any]:
    """``shapes`` with the unnamed entry (key ``""``) given to the model's only input.

    >>> name_unnamed({"": (1, 3)}, ["data"])
    {'data': (1, 3)}
    """
    out = dict(shapes)
    if "" in out:
        if len(names) != 1:
            raise FlopscopeError(f"the model has {len(names)} inputs ({', '.join(names)}); "
                                 "name them: --input-shape NAME=1x3x224x224")
        out[names[0]] = out.pop("")
    return out


def with_batch(inputs: Any, batch: int) -> Any:
    """Shapes (alone, in a list or in a dict) with their leading dim set to ``batch``.

    >>> with_batch({"x": (1, 3, 8, 8)}, 4), with_batch([(1, 2), (1, 5)], 2)
    ({'x': (4, 3, 8, 8)}, [(2, 2), (2, 5)])
    """
    if isinstance(inputs, Inputs):
        return inputs.map(lambda value: with_batch(value, batch))
    if isinstance(inputs, Mapping):
        return {k: with_batch(v, batch) for k, v in inputs.items()}
    if isinstance(inputs, (tuple, list)) and inputs and all(type(d) is int for d in inputs):
        return (batch, *inputs[1:])
    if isinstance(inputs, (tuple, list)) and inputs and all(isinstance(x, (tuple, list)) for x in inputs):
        return type(inputs)(with_batch(x, batch) for x in inputs)
    raise FlopscopeError("--batch needs the inputs as shapes (e.g. (1, 3, 224, 224)); "
                         "give the shapes with the batch you want instead")


# --------------------------------------------------------------------------- text forms


def parse_shape(text: str) -> tuple[int, ...]:
    """``"1x3x224x224"`` -> ``(1, 3, 224, 224)``; ``"scalar"`` or ``""`` -> ``()``.

    >>> parse_shape("1x3x224x224"), parse_shape("scalar")
    ((1, 3, 224, 224), ())
    """
    if text in ("", "scalar"):
        return ()
    try:
        dims = tuple(int(d) for d in text.lower().replace(",", "x").split("x"))
    except ValueError:
        raise FlopscopeError(f"bad shape '{text}': write sizes joined by x, e.g. 1x3x224x224") from None
    if any(d < 0 for d in dims):
        raise FlopscopeError(f"bad shape '{text}': sizes must be >= 0")
    return dims


def parse_input_shapes(items: Sequence[str] | None) -> dict[str, object]:
    """``--input-shape`` values by input name; the unnamed form means the only input (``""``).

    >>> parse_input_shapes(["x=1x3x8x8", "ids=1x128:int64", "1x3"])
    {'x': (1, 3, 8, 8), 'ids': ((1, 128), 'int64'), '': (1, 3)}
    """
    shapes: dict[str, object] = {}
    for item in items or ():
        name, sep, spec = item.rpartition("=")
        dims, colon, dtype = spec.partition(":")
        shape = parse_shape(dims)
        shapes[name if sep else ""] = (shape, dtype) if colon else shape
    return shapes


def parse_dims(items: Sequence[str] | None) -> dict[str, int]:
    """``--dim`` values: ``["N=8"]`` -> ``{"N": 8}``.

    >>> parse_dims(["N=8", "T=128"])
    {'N': 8, 'T': 128}
    """
    dims: dict[str, int] = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        try:
            size = int(value)
        except ValueError:
            size = -1
        if not sep or not name or size < 0:
            raise FlopscopeError(f"bad --dim '{item}': write NAME=SIZE, e.g. N=8")
        dims[name] = size
    return dims
