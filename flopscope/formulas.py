"""Cost formulas: MACs, FLOPs and activation bytes as exact polynomials in free dims.

Every cost flopscope counts is a sum of products of tensor sizes, so with the shapes
made of a few free dims (an ONNX model's ``N`` or ``seq``; a PyTorch model's batch and
sequence axes) it is a polynomial in them, as long as no op floors or ceils a dim (a
strided convolution or pooling over a free spatial size does). :func:`fit` finds that
polynomial without symbolic algebra:

1. along each free dim (the others held), analyse the model at consecutive sizes and
   raise the degree until two more sizes agree with the fit (the degree comes from the
   data: linear for a batch, quadratic for attention over ``seq``; a per-dim cap of
   :data:`MAX_DEGREE` refuses anything that never settles);
2. analyse on the tensor-product grid of those per-dim degrees and interpolate exactly
   (``fractions.Fraction``, one axis at a time: Newton divided differences);
3. analyse once more at a point off the grid, every dim at a new size, and refuse with
   one line unless all three polynomials give the analysis's numbers there.

The text form is Python syntax with integer coefficients, divided once by the common
denominator when there is one (``(S**2 + S) // 2``): ``eval`` with ints gives exact ints.

Which dims are free (:func:`parse_free`): a bare name is an ONNX dim param (``N``,
``seq``); on the PyTorch path ``batch`` is axis 0 and ``seq`` axis 1 of every input;
``INPUT:AXIS=NAME`` frees one axis of one input on either path (``x:2=H``); ``KEY=NAME``
frees a value of an ``hf:`` model's config, the model rebuilt at each size
(``max_source_positions=S``: a Whisper encoder's positions). ``STEP*NAME`` samples only
multiples of ``STEP`` (``image_size=16*P``: a ViT's patches per side, where the patch
convolution would floor any other size).

>>> p = Polynomial(("S",), {(2,): Fraction(12), (1,): Fraction(3456), (0,): Fraction(7)})
>>> str(p), p(S=10)
('12*S**2 + 3456*S + 7', 35767)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from itertools import product
from typing import Any

from flopscope.analysis import build_report, load_graph
from flopscope.errors import FlopscopeError, option
from flopscope.report import Formulas, InputInfo, Report
from flopscope.sources import Inputs, Source, merge_inputs, resolve

#: the highest degree tried in one dim before the cost is called non-polynomial
MAX_DEGREE = 6
#: the smallest size a free dim is sampled at (size 1 takes broadcasting's special cases)
LOWEST = 2
#: the off-grid check point sits this far above a dim's lowest sample (past every grid point)
CHECK_OFFSET = MAX_DEGREE + 9
#: the metrics fitted, as (Report.totals field, label)
METRICS = (("macs", "MACs"), ("flops", "FLOPs"), ("activation_bytes", "activation bytes"))
#: a bare free name on the PyTorch path: the axis it means on every input
TORCH_AXES = {"batch": 0, "seq": 1}


# --------------------------------------------------------------------------- polynomials


@dataclass(frozen=True)
class Polynomial:
    """An exact polynomial: ``terms`` maps exponent tuples (one per name) to coefficients.

    >>> p = Polynomial(("B", "S"), {(1, 1): Fraction(1, 2), (1, 0): Fraction(1, 2)})
    >>> str(p), p(B=2, S=3)
    ('(B*S + B) // 2', 4)
    """

    names: tuple[str, ...]
    terms: Mapping[tuple[int, ...], Fraction]

    def __call__(self, **values: int) -> Fraction | int:
        """The value at ``values`` (an int when it is one)."""
        total = sum((c * math.prod(Fraction(values[n]) ** e for n, e in zip(self.names, exps))
                     for exps, c in self.terms.items()), Fraction(0))
        return int(total) if total.denominator == 1 else total

    def __str__(self) -> str:
        """Python syntax, highest total degree first; ``0`` for the zero polynomial."""
        terms = {e: c for e, c in self.terms.items() if c}
        if not terms:
            return "0"
        denominator = math.lcm(*(c.denominator for c in terms.values()))
        text = ""
        for exps in sorted(terms, key=lambda e: (-sum(e), [-x for x in e])):
            coef = int(terms[exps] * denominator)
            factors = [n if e == 1 else f"{n}**{e}" for n, e in zip(self.names, exps) if e]
            body = "*".join(([str(abs(coef))] if abs(coef) != 1 or not factors else []) + factors)
            sign = "-" if coef < 0 else "+"
            text += (f"-{body}" if sign == "-" else body) if not text else f" {sign} {body}"
        return text if denominator == 1 else f"({text}) // {denominator}"


def interpolate(names: Sequence[str], grids: Sequence[Sequence[int]],
                values: Mapping[tuple[int, ...], int]) -> Polynomial:
    """The polynomial of per-dim degree ``len(grid) - 1`` through ``values`` on the
    tensor-product grid ``grids`` (exact: Newton divided differences, one axis at a time).

    >>> str(interpolate(["n"], [[2, 3, 4]], {(2,): 4, (3,): 9, (4,): 16}))
    'n**2'
    """
    # start from the values by grid index; each axis in turn turns its indices into powers
    coeffs = {idx: Fraction(values[tuple(g[i] for g, i in zip(grids, idx))])
              for idx in product(*(range(len(g)) for g in grids))}
    for axis, xs in enumerate(grids):
        new: dict[tuple[int, ...], Fraction] = {}
        fibres = {k[:axis] + k[axis + 1:] for k in coeffs}
        for rest in fibres:
            ys = [coeffs[rest[:axis] + (i,) + rest[axis:]] for i in range(len(xs))]
            for power, c in enumerate(_monomial(xs, ys)):
                new[rest[:axis] + (power,) + rest[axis:]] = c
        coeffs = new
    return Polynomial(tuple(names), {k: v for k, v in coeffs.items() if v})


def _monomial(xs: Sequence[int], ys: Sequence[Fraction]) -> list[Fraction]:
    """Coefficients (constant first) of the polynomial through ``(xs, ys)``.

    >>> _monomial([1, 2, 3], [Fraction(2), Fraction(5), Fraction(10)])
    [Fraction(1, 1), Fraction(0, 1), Fraction(1, 1)]
    """
    n = len(xs)
    dd = list(ys)
    for level in range(1, n):                     # Newton divided differences, in place
        for i in range(n - 1, level - 1, -1):
            dd[i] = (dd[i] - dd[i - 1]) / (xs[i] - xs[i - level])
    out = [Fraction(0)] * n
    for i in range(n - 1, -1, -1):                # Horner: out = out * (x - xs[i]) + dd[i]
        shifted = [Fraction(0)] + out[:-1]
        out = [s - xs[i] * o for s, o in zip(shifted, out)]
        out[0] += dd[i]
    return out


# --------------------------------------------------------------------------- free dims


@dataclass(frozen=True)
class Free:
    """A free dim: ``name`` in the formulas; ``input``/``axis`` when it is one axis of
    one input (``x:0=batch``), ``axis`` alone for that axis of every input (PyTorch's
    ``batch``, ``seq``), ``config`` for a key of an ``hf:`` model's config, none of them
    for an ONNX dim param. The size bound is ``step * name``.

    >>> [(f.name, f.input, f.axis) for f in parse_free("N, x:1=seq")]
    [('N', None, None), ('seq', 'x', 1)]
    >>> parse_free("image_size=16*P")[0].describe()
    'config image_size = 16*P'
    """

    name: str
    input: str | None = None
    axis: int | None = None
    config: str | None = None
    step: int = 1

    def spelled(self) -> str:
        """As ``--formula`` writes it: ``image_size=16*P``, ``x:1=seq``, ``N``."""
        value = f"{self.step}*{self.name}" if self.step != 1 else self.name
        if self.config is not None:
            return f"{self.config}={value}"
        if self.input is not None:
            return f"{self.input}:{self.axis}={value}"
        return value

    def describe(self) -> str:
        """What the dim sets, in words: ``config image_size = 16*P``, ``x axis 1 = seq``."""
        value = f"{self.step}*{self.name}" if self.step != 1 else self.name
        if self.config is not None:
            return f"config {self.config} = {value}"
        if self.axis is None:
            return f"dim param {self.name}" if self.step == 1 else f"dim param = {value}"
        where = f"{self.input} axis {self.axis}" if self.input else f"axis {self.axis} of every input"
        return f"{where} = {value}"


def parse_free(text: str | Sequence[str] | None) -> list[Free]:
    """``--formula`` values: ``"N,seq"``, ``"x:0=batch,x:1=seq"``, ``"image_size=16*P"``;
    empty or None frees the defaults (every ONNX dim param; ``batch`` on the PyTorch path)."""
    items = [text] if isinstance(text, str) else list(text or ())
    out: list[Free] = []
    for item in (part.strip() for chunk in items for part in chunk.split(",")):
        if not item:
            continue
        where, sep, value = item.rpartition("=")
        if not sep:
            if not value.isidentifier():
                raise FlopscopeError(f"bad free dim '{item}': write a name (N, seq), INPUT:AXIS=NAME "
                                     "or an hf: config KEY=NAME")
            out.append(Free(value))
            continue
        step_text, star, name = value.strip().rpartition("*")
        step = int(step_text) if star and step_text.strip().isdigit() else 0 if star else 1
        if not name.strip().isidentifier() or step < 1:
            raise FlopscopeError(f"bad free dim '{item}': the size is NAME or STEP*NAME, e.g. 16*P")
        name, where = name.strip(), where.strip()
        input_name, colon, axis = where.rpartition(":")
        if not colon and where.isidentifier():
            out.append(Free(name, config=where, step=step))
            continue
        if not colon or not input_name or not axis.isdigit():
            raise FlopscopeError(f"bad free dim '{item}': write INPUT:AXIS=NAME (x:1=seq) or an "
                                 "hf: config KEY=NAME (image_size=16*P)")
        out.append(Free(name, input_name, int(axis), step=step))
    names = [f.name for f in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise FlopscopeError(f"free dim {', '.join(map(repr, dup))} named twice")
    return out


# --------------------------------------------------------------------------- fitting


def fit(model: Any, free: str | Sequence[str] | Sequence[Free] | None = None, inputs: Any = None, *,
        input_shapes: Mapping[str, Any] | None = None, dims: Mapping[str, int] | None = None,
        convention: str = "flopscope", flop_table: Mapping[str, int] | None = None,
        name: str | None = None, base: Report | None = None) -> Formulas:
    """MACs, FLOPs and activation bytes of ``model`` as exact polynomials in the ``free``
    dims (see :func:`parse_free`; the other arguments as for :func:`flopscope.analyze`,
    which binds every dim that is not free). ``base``: the report already made of that
    binding, when the caller has it (one analysis fewer).

    >>> f = fit("model.onnx", "N")
    >>> f.macs
    '5328*N'
    """
    source = resolve(model)
    items = [free] if isinstance(free, str) else list(free or ())
    wanted = [f for f in items if isinstance(f, Free)] or parse_free([f for f in items if isinstance(f, str)])
    model_for, given = _prepared(source, inputs, input_shapes)
    if base is None:
        base = build_report(load_graph(model_for, given, dims=dims, name=name), convention, flop_table)
    wanted = [_torch_axes(source, f) for f in wanted] or _defaults(source, model_for, dims)
    if not wanted:
        raise FlopscopeError("the model has no free dims to write formulas in: its inputs have no "
                             "symbolic dims; name input axes, e.g. --formula x:0=batch")
    rebuild = _rebuilder(source, model_for, merge_inputs(inputs, input_shapes), wanted)
    starts = _bases(source, model_for, base, wanted)
    names = [f.name for f in wanted]

    cache: dict[tuple[int, ...], tuple[int, int, int]] = {}
    ok = True

    def cost(point: tuple[int, ...]) -> tuple[int, int, int]:
        nonlocal ok
        if point not in cache:
            at = ", ".join(f"{n}={v}" for n, v in zip(names, point))
            template, model_at, given_at = base.model.inputs, model_for, given
            config = {f.config: f.step * v for f, v in zip(wanted, point) if f.config is not None}
            if config:
                model_at, given_at, template = rebuild(config)
            point_dims, point_inputs = _bound(source, template, given_at, dims, wanted, point)
            try:
                graph = load_graph(model_at, point_inputs, dims=point_dims, name=name)
                report = build_report(graph, convention, flop_table)
            except FlopscopeError as exc:
                raise FlopscopeError(f"formula: analysing at {at}: {exc}") from None
            ok = ok and report.coverage.complete
            t = report.totals
            cache[point] = (t.macs, t.flops, t.activation_bytes)
        return cache[point]

    lows = [max(LOWEST, s - CHECK_OFFSET) for s in starts]
    failed: dict[int, str] = {}
    polys, at = solve(wanted, lows, cost, failed)
    return assemble(names, [key for key, _ in METRICS], polys, at, failed, list(cache),
                    {f.name: f.describe() for f in wanted}, complete=ok)


def assemble(names: Sequence[str], keys: Sequence[str], polys: Sequence[Polynomial | None],
             at: dict[str, int], failed: Mapping[int, str], points: Sequence[tuple[int, ...]],
             definitions: dict[str, str], complete: bool = True) -> Formulas:
    """The :class:`Formulas` of a :func:`solve`: each polynomial as text under its ``keys``
    field (None, and the reason in ``not_polynomial``, where it failed), the ``points``
    analysed and the range they span (the check point apart).

    >>> f = assemble(["S"], ["macs", "flops", "activation_bytes"],
    ...              [Polynomial(("S",), {(1,): Fraction(3)}), None, None], {"S": 17},
    ...              {1: "no", 2: "no"}, [(2,), (3,), (17,)], {"S": "seq"})
    >>> f.macs, f.flops, f.sampled, f.not_polynomial["flops"]
    ('3*S', None, {'S': [2, 3]}, 'no')
    """
    check = tuple(at[n] for n in names)
    kept = [p for p in points if p != check] or list(points)
    sampled = {n: [min(p[i] for p in kept), max(p[i] for p in kept)] for i, n in enumerate(names)}
    figures = {key: None if poly is None else str(poly) for key, poly in zip(keys, polys)}
    return Formulas(dims=list(names), **figures, analyses=len(points), checked_at=at,
                    complete=complete, definitions=definitions, sampled=sampled,
                    not_polynomial={keys[m]: why for m, why in sorted(failed.items())})


def solve(wanted: Sequence[Free], lows: Sequence[int],
          cost: Callable[[tuple[int, ...]], tuple[int, ...]],
          failed: dict[int, str] | None = None,
          labels: Sequence[str] | None = None) -> tuple[list[Polynomial | None], dict[str, int]]:
    """The polynomials (one per figure ``cost`` returns) in the ``wanted`` dims, sampled
    from ``lows`` up, and the off-grid point they were checked at; a one-line error when
    the figures are no polynomial there. With ``failed`` (a dict), a figure that is no
    polynomial while others are gets None and its reason in ``failed`` by position (a
    sort's n·⌈log2 n⌉ FLOPs beside polynomial MACs); the error comes only when none is.
    ``labels`` name the figures in that error (MACs, FLOPs, activation bytes by default).

    >>> polys, at = solve([Free("n")], [2], lambda p: (p[0] * (p[0] + 1) // 2,))
    >>> str(polys[0]), at
    ('(n**2 + n) // 2', {'n': 17})
    >>> failed = {}
    >>> polys, _ = solve([Free("n")], [2], lambda p: (3 * p[0], p[0] * math.ceil(math.log2(p[0]))), failed)
    >>> str(polys[0]), polys[1], sorted(failed)
    ('3*n', None, [1])
    """
    names = [f.name for f in wanted]
    width = len(cost(tuple(lows)))
    failures: dict[int, str] = {}
    degrees = [_degree(wanted, i, lows, cost, failures, failed is not None) for i in range(len(names))]
    grids = [[low + k for k in range(d + 1)] for low, d in zip(lows, degrees)]
    polys: list[Polynomial | None] = [
        None if m in failures else interpolate(names, grids, {p: cost(p)[m] for p in product(*grids)})
        for m in range(width)]
    check = tuple(low + CHECK_OFFSET - i % 4 for i, low in enumerate(lows))
    at = dict(zip(names, check))
    for m, (poly, value) in enumerate(zip(polys, cost(check))):
        if poly is not None and poly(**at) != value:
            failures[m] = (f"not a polynomial in {', '.join(names)}: the fit gives "
                           f"{poly(**at)} at {_at(at)}, the analysis {value} (a strided conv or "
                           "pool floors a size? a sort or TopK costs n·⌈log2 n⌉)")
            polys[m] = None
            if failed is None:
                break
    if failures and (failed is None or len(failures) == width):
        m = min(failures)
        names_of = list(labels) if labels is not None else (
            [label for _, label in METRICS] if width == len(METRICS) else [])
        label = names_of[m] if m < len(names_of) else f"figure {m}"
        raise FlopscopeError(f"{label} are {failures[m]}; {_bind_hint(wanted)}")
    if failed is not None:
        failed.update(failures)
    return polys, at


def with_formulas(report: Report, formulas: Formulas) -> Report:
    """``report`` with its ``formulas`` set (the report itself is left as it is)."""
    return replace(report, formulas=formulas)


def _at(values: Mapping[str, int]) -> str:
    return ", ".join(f"{n}={v}" for n, v in values.items())


def _bind_hint(wanted: Sequence[Free]) -> str:
    """How to bind the dims instead: ``--dim`` for ONNX dim params, input shapes for axes;
    a config value is sampled in steps the strides divide instead."""
    configured = [f for f in wanted if f.config is not None]
    if configured:
        f = configured[0]
        return (f"sample {f.config} in steps that every stride divides instead "
                f"({f.config}=16*{f.name} for 16-pixel patches)")
    params = [f.name for f in wanted if f.axis is None]
    if params:
        return f"bind it instead ({option('dims', '--dim')} {params[0]}=...)"
    return (f"bind it instead: leave it out of --formula and give the size with "
            f"{option('input_shapes', '--input-shape')}")


def _degree(wanted: Sequence[Free], axis: int, lows: Sequence[int],
            cost: Callable[[tuple[int, ...]], tuple[int, ...]], failures: dict[int, str],
            partial: bool) -> int:
    """The degree in dim ``axis`` (the others at their lowest sample): for each figure
    not in ``failures``, the least ``d`` whose fit through ``d + 1`` consecutive sizes the
    next two sizes agree with; the highest of them. A figure that never settles goes into
    ``failures`` when ``partial`` and others settle; else the one-line error."""
    def at(k: int) -> tuple[int, ...]:
        point = list(lows)
        point[axis] += k
        return cost(tuple(point))

    width = len(at(0))
    live = [m for m in range(width) if m not in failures]
    settled: dict[int, int] = {}
    for d in range(MAX_DEGREE + 1):
        ys = [at(k) for k in range(d + 3)]
        for m in (m for m in live if m not in settled):
            diffs = [y[m] for y in ys]
            for _ in range(d + 1):
                diffs = [b - a for a, b in zip(diffs, diffs[1:])]
            if not any(diffs):
                settled[m] = d
        if len(settled) == len(live):
            break
    message = (f"not a polynomial of degree <= {MAX_DEGREE} in {wanted[axis].name} "
               f"(sizes {lows[axis]}..{lows[axis] + MAX_DEGREE + 2}: a strided conv or pool floors "
               "the size? a sort or TopK costs n·⌈log2 n⌉)")
    if not settled or (len(settled) < len(live) and not partial):
        raise FlopscopeError(f"the costs are {message}; {_bind_hint([wanted[axis]])}")
    for m in live:
        if m not in settled:
            failures[m] = message
    return max(settled.values())


def _prepared(source: Source, inputs: Any, input_shapes: Mapping[str, Any] | None) -> tuple[Any, Inputs]:
    """What to analyse at every point, loaded once: the ONNX proto, or the PyTorch module
    built once (on the meta device where it can be) with its default inputs."""
    given = merge_inputs(inputs, input_shapes)
    if source.is_onnx:
        if source.kind == "onnx":
            from flopscope.frontends.onnx import read_model
            return read_model(source.spec), given
        return source.value, given
    from flopscope.frontends.torch import build

    module, default = build(source)
    return module, given if not given.empty else merge_inputs(default)


def _declared(proto: Any) -> dict[str, list[tuple[str, int]]]:
    """ONNX dim params -> the (input, axis) pairs that declare them."""
    inits = {t.name for t in proto.graph.initializer}
    out: dict[str, list[tuple[str, int]]] = {}
    for vi in proto.graph.input:
        if vi.name in inits or not vi.type.HasField("tensor_type"):
            continue
        for axis, d in enumerate(vi.type.tensor_type.shape.dim):
            if d.HasField("dim_param") and d.dim_param:
                out.setdefault(d.dim_param, []).append((vi.name, axis))
    return out


def _defaults(source: Source, model_for: Any, dims: Mapping[str, int] | None) -> list[Free]:
    """The dims ``--formula`` frees when none is named: every ONNX dim param the user did
    not bind; PyTorch: ``batch`` (axis 0 of every input)."""
    if source.is_onnx:
        return [Free(n) for n in _declared(model_for) if n not in (dims or {})]
    return [Free("batch", None, 0)]


def _torch_axes(source: Source, f: Free) -> Free:
    """On the PyTorch path a bare ``batch`` or ``seq`` is that axis of every input."""
    if f.input is not None or f.axis is not None or f.config is not None or source.is_onnx:
        return f
    if f.name not in TORCH_AXES:
        raise FlopscopeError(f"free dim '{f.name}': on a PyTorch model name an input axis, e.g. "
                             f"x:1={f.name} (or batch, seq: axes 0 and 1 of every input)")
    return Free(f.name, None, TORCH_AXES[f.name])


def _bases(source: Source, model_for: Any, base: Report, wanted: list[Free]) -> list[int]:
    """Each free dim's size in the base analysis, which also checks that it names
    something: an ONNX dim param, an input's axis, an axis every input has."""
    shapes = {i.name: i.shape for i in base.model.inputs}
    declared = _declared(model_for) if source.is_onnx else {}
    out = []
    for f in wanted:
        if f.config is not None:
            out.append(_per_step(f, getattr(model_for.config, f.config)))
            continue
        if f.input is None and f.axis is None:
            if f.name not in declared:
                have = ", ".join(map(repr, declared)) or "none"
                raise FlopscopeError(f"free dim '{f.name}' is no symbolic dim of the model's inputs "
                                     f"(they have {have}); or name an input axis, e.g. x:0={f.name}")
            where, axis = declared[f.name][0]
            out.append(_per_step(f, shapes[where][axis]))
            continue
        chosen = [f.input] if f.input is not None else list(shapes)
        sizes = []
        for name in chosen:
            shape = shapes.get(name)
            if shape is None:
                raise FlopscopeError(f"free dim '{f.name}': the model has no input '{name}' (its "
                                     f"inputs are {', '.join(map(repr, shapes))})")
            if f.axis is None or f.axis >= len(shape):
                raise FlopscopeError(f"free dim '{f.name}': input '{name}' has rank {len(shape)}, "
                                     f"no axis {f.axis}")
            sizes.append(_per_step(f, shape[f.axis]))
        out.append(max(sizes))
    return out


def _per_step(f: Free, size: Any) -> int:
    """The value of ``f`` that gives ``size`` (``size / step``), refused unless whole."""
    if type(size) is not int or size % f.step:
        raise FlopscopeError(f"free dim '{f.spelled()}': {f.describe()} cannot give the model's size "
                             f"{size!r}; choose a step that divides it")
    return size // f.step


def _rebuilder(source: Source, model_for: Any, given: Inputs, wanted: Sequence[Free],
               ) -> Callable[[Mapping[str, int]], tuple[Any, Inputs, list[InputInfo]]]:
    """For config dims (``KEY=NAME``): a function that rebuilds the ``hf:`` model with
    config values and returns it with its inputs (and their shapes, to resize axes on);
    the other dims need none (a function that refuses)."""
    keys = [f for f in wanted if f.config is not None]

    def refuse(values: Mapping[str, int]) -> tuple[Any, Inputs, list[InputInfo]]:
        raise FlopscopeError(f"no config to set {', '.join(values)} in")

    if not keys:
        return refuse
    if source.kind != "hf":
        raise FlopscopeError(f"free dim '{keys[0].spelled()}': KEY=NAME sets a config value "
                             "of an hf: model; name an input axis (INPUT:AXIS=NAME) or an ONNX dim param")
    if not given.empty:
        raise FlopscopeError(f"free dim '{keys[0].spelled()}': the inputs follow the config "
                             "at each size; leave out the input shapes")
    from flopscope.frontends.hf import build_source, source_config

    config = source_config(source)
    for f in keys:
        if not hasattr(model_for.config, f.config or ""):
            raise FlopscopeError(f"free dim '{f.spelled()}': the {type(model_for.config).__name__} "
                                 f"has no '{f.config}'")

    def rebuild(values: Mapping[str, int]) -> tuple[Any, Inputs, list[InputInfo]]:
        module, default = build_source(source, {**config, **values})
        return (module, merge_inputs(default),
                [InputInfo(k, list(shape), dtype) for k, (shape, dtype) in default.items()])

    return rebuild


def _bound(source: Source, template: Sequence[InputInfo], given: Inputs,
           dims: Mapping[str, int] | None, wanted: Sequence[Free],
           point: Sequence[int]) -> tuple[dict[str, int] | None, Any]:
    """The ``dims`` and inputs that bind the free dims to ``point``, resizing the inputs
    ``template`` describes (a config dim was set by the caller)."""
    point_dims = dict(dims or {})
    axes: dict[str, dict[int, int]] = {}
    for f, v in zip(wanted, point):
        if f.config is not None:
            continue
        if f.axis is None:
            point_dims[f.name] = f.step * v
            continue
        for i in template:
            if (f.input is None or f.input == i.name) and f.axis < len(i.shape):
                axes.setdefault(i.name, {})[f.axis] = f.step * v
    if source.is_onnx:
        shapes = dict(given.by_name())
        for i in template:
            if i.name in axes:
                shapes.pop("", None)
                shapes[i.name] = (tuple(axes[i.name].get(a, d) for a, d in enumerate(i.shape)), i.dtype)
        return point_dims or None, shapes
    order = list(template)
    by_name = {i.name: i for i in order}

    def resized(value: Any, info: Any) -> Any:
        if info is None or info.name not in axes:
            return value
        return (tuple(axes[info.name].get(a, d) for a, d in enumerate(info.shape)), info.dtype)

    unnamed = given.unnamed
    if unnamed is not None:
        single = not isinstance(unnamed, list) and not (
            isinstance(unnamed, tuple) and unnamed and not all(type(d) is int for d in unnamed)
            and not (len(unnamed) == 2 and isinstance(unnamed[1], str)))
        values = [unnamed] if single else list(unnamed)
        tensors = [v for v in values if _is_input(v)]
        slots = iter(order[:len(tensors)])
        values = [resized(v, next(slots, None)) if _is_input(v) else v for v in values]
        unnamed = values[0] if single else values
    named = {k: resized(v, by_name.get(k)) for k, v in given.named.items()}
    return None, Inputs(unnamed, named)


def _is_input(value: Any) -> bool:
    """A shape, a (shape, dtype) pair or a tensor: a value that becomes a model input."""
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return True
    if isinstance(value, (tuple, list)) and all(type(d) is int for d in value):
        return True
    return isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], (tuple, list))
