"""The Report: plain data about one model's cost, and its JSON contract.

A :class:`Report` holds totals, one :class:`Layer` row per graph node, coverage, the
counting convention and optional latency. Rollups (:meth:`Report.by_module`,
:meth:`Report.by_op_type`) are computed from the rows. A Report presents nothing itself:
the functions of ``flopscope.render`` turn it into text, Markdown, CSV, JSON, HTML or a
DataFrame, and ``flopscope.plot`` into charts (this module imports neither).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from flopscope.units import percent_down, si

SCHEMA = "flopscope.report/1"

CONVENTIONS = {
    "flopscope": "MACs count multiply-accumulates of dot-product ops (Conv, ConvTranspose, "
                 "Gemm, MatMul, Einsum, attention, RNN/GRU/LSTM); FLOPs count every add, "
                 "subtract, multiply, divide, exp, sqrt and compare as one: a dot product "
                 "of n terms is 2n-1 FLOPs, ReLU 1 and sigmoid 4 per element",
    "2mac": "FLOPs = 2 x MACs of dot-product ops only (the convention of "
            "torch.utils.flop_counter and DeepSpeed); other ops count 0 FLOPs",
}

#: layer statuses
OK, UNSUPPORTED, UNRESOLVED, NOT_TAKEN = "ok", "unsupported", "unresolved", "not-taken"


@dataclass
class InputInfo:
    """A model input as analysed: its bound shape and dtype.

    >>> report.model.inputs[0]
    InputInfo(name='x', shape=[1, 3, 224, 224], dtype='float32')
    """

    name: str
    shape: list[int | str]
    dtype: str


@dataclass
class ModelInfo:
    """Which model a report describes: its name, ``"onnx"`` or ``"torch"``, its inputs.

    >>> report.model.source
    'torch'
    """

    name: str
    source: str
    inputs: list[InputInfo] = field(default_factory=list)


@dataclass
class Totals:
    """Whole-model figures. Integers are exact; bytes are storage bytes.

    ``trainable_params``/``frozen_params`` are known for PyTorch models only (None for
    ONNX); buffers (BatchNorm running statistics) are counted apart from parameters.

    >>> t = flopscope.analyze("resnet18").totals
    >>> t.macs, t.params, t.peak_activation_bytes
    (1814073344, 11689512, 6422528)
    """

    macs: int = 0
    flops: int = 0
    params: int = 0
    param_bytes: int = 0
    activation_bytes: int = 0
    peak_activation_bytes: int = 0
    traffic_bytes: int = 0
    trainable_params: int | None = None
    frozen_params: int | None = None
    buffers: int = 0
    buffer_bytes: int = 0
    # train mode (``analyze(..., mode="train")``, see flopscope.training); None otherwise
    forward_macs: int | None = None
    backward_macs: int | None = None
    recompute_macs: int | None = None
    forward_flops: int | None = None
    backward_flops: int | None = None
    optimizer_flops: int | None = None
    gradient_bytes: int | None = None
    optimizer_state_bytes: int | None = None
    master_weight_bytes: int | None = None
    saved_activation_bytes: int | None = None
    peak_training_bytes: int | None = None


@dataclass
class Coverage:
    """How many nodes were costed; unsupported and unresolved ones by op type.

    ``uncosted_dot_products`` counts, by op type, the unresolved nodes whose op is a
    dot-product op (its rule exists, the shapes were unknown): MACs left out of the totals.

    >>> Coverage(nodes=4, costed=3, unsupported={"com.example.Foo": 1}).percent
    75.0
    """

    nodes: int = 0
    costed: int = 0
    unsupported: dict[str, int] = field(default_factory=dict)
    unresolved: dict[str, int] = field(default_factory=dict)
    uncosted_dot_products: dict[str, int] = field(default_factory=dict)

    @property
    def percent(self) -> float:
        """Share of nodes costed, 0..100.

        >>> Coverage(nodes=8, costed=8).percent
        100.0
        """
        return 100.0 * self.costed / self.nodes if self.nodes else 100.0

    @property
    def complete(self) -> bool:
        """True when no node was left uncosted.

        >>> Coverage(nodes=2, costed=1, unresolved={"Reshape": 1}).complete
        False
        """
        return not self.unsupported and not self.unresolved


@dataclass
class Layer:
    """One node of the graph and what it costs (cost × repeat).

    ``macs``/``flops`` are None when the node could not be costed (``status`` says why).
    ``input_shapes`` are the shapes of the activation inputs (weights left out); ``attrs``
    the layout attributes that apply (``kernel_shape``, ``strides``, ``dilations``,
    ``group``), empty for other ops.

    >>> conv = report.top(1)[0]
    >>> conv.name, conv.module, conv.macs
    ('conv1/Conv', 'conv1', 118013952)
    """

    name: str
    op: str
    module: str
    output_shapes: list[list[int | str] | None]
    macs: int | None
    flops: int | None
    params: int
    output_bytes: int | None
    traffic_bytes: int | None
    status: str = OK
    repeat: int = 1
    reason: str = ""
    input_shapes: list[list[int | str] | None] = field(default_factory=list)
    attrs: dict[str, Any] = field(default_factory=dict)
    phase: str | None = None          # train mode: forward, backward, recompute, derived
    saved_bytes: int | None = None    # train mode: bytes autograd saves of its outputs
    gradient_bytes: int | None = None  # train mode: gradients of the parameters it owns


@dataclass
class Latency:
    """Measured latency of one configuration (see ``flopscope.latency``).

    >>> lat = flopscope.bench("model.onnx", preset="cpu", iterations=20)
    >>> lat.preset, 0 < lat.p50_ms <= lat.p90_ms, lat.gflops_per_s > 0
    ('cpu', True, True)
    """

    preset: str
    provider: str
    threads: int
    batch: int
    iterations: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    std_ms: float
    min_ms: float = 0.0
    cv: float = 0.0
    throughput_per_s: float = 0.0
    gflops_per_s: float | None = None
    session_ms: float = 0.0
    first_run_ms: float = 0.0
    warmup_runs: int = 0
    label: str = ""
    device: str = ""
    flops: int | None = None                                       # FLOPs per run behind gflops_per_s
    settings: dict[str, Any] = field(default_factory=dict)         # session settings read back
    per_layer: dict[str, Any] | None = None                        # LayerProfile.to_dict()
    roofline: dict[str, Any] | None = None                         # Roofline.to_dict()
    notes: list[str] = field(default_factory=list)
    p95_ms: float | None = None
    p999_ms: float | None = None                                   # the 99.9th percentile
    protocol: str = "quick"                                        # "quick" or "mlperf" (p90 headline)
    environment: dict[str, Any] = field(default_factory=dict)      # CPU, cores, ORT, threads, affinity
    predicted_ms: float | None = None                              # roofline prediction (latency.predict)
    prediction: dict[str, Any] | None = None                       # its per-layer rows and error


@dataclass
class Formulas:
    """MACs, FLOPs and activation bytes as exact polynomials in the free ``dims``
    (``flopscope.formulas.fit``): Python syntax, ``eval`` with the dims as ints gives the
    analysis's integers. ``checked_at`` is the off-grid point the fit was verified at;
    ``complete`` is False when some node went uncosted at a sample (a lower bound);
    ``definitions`` says what each dim sets (an input axis, an ``hf:`` config value);
    a figure that is no polynomial in them (a sort's n·⌈log2 n⌉ FLOPs) is None, with the
    reason in ``not_polynomial``.

    >>> eval(Formulas(["S"], "12*S**2 + 3456*S + 7", "", "").macs, {"S": 10})
    35767
    """

    dims: list[str]
    macs: str | None
    flops: str | None
    activation_bytes: str | None
    analyses: int = 0
    checked_at: dict[str, int] = field(default_factory=dict)
    complete: bool = True
    #: what each dim sets, in words (``{"P": "config image_size = 16*P"}``)
    definitions: dict[str, str] = field(default_factory=dict)
    #: figures that are no polynomial (None above), by field name, and why
    #: (``{"flops": "not a polynomial in seq: ..."}``: a sort's n·⌈log2 n⌉)
    not_polynomial: dict[str, str] = field(default_factory=dict)
    #: an LLM phase's KV-cache bytes after the step (``--phase ... --formula``; else None)
    kv_cache_bytes: str | None = None
    #: the range each dim was sampled over (``{"seq": [113, 120]}``), the check point apart
    sampled: dict[str, list[int]] = field(default_factory=dict)


@dataclass(frozen=True)
class Training:
    """How a train-mode report was costed (``analyze(..., mode="train")``, see
    :mod:`flopscope.training`): the optimizer, the precision and the globs of the frozen
    parameters. :attr:`Report.training` is None for an inference report.

    >>> Training("adamw", "fp32").label
    'train adamw fp32'
    >>> Training("sgd", "bf16-mixed", ("stem.*",)).label
    'train sgd bf16-mixed frozen stem.*'
    """

    optimizer: str = "adamw"
    precision: str = "fp32"
    frozen: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """The mode in a few words, as the gate's output names it.

        >>> Training("momentum", "fp16-mixed").label
        'train momentum fp16-mixed'
        """
        frozen = f" frozen {','.join(self.frozen)}" if self.frozen else ""
        return f"train {self.optimizer} {self.precision}{frozen}"


@dataclass
class ModuleRow:
    """A rollup of layers under one module path (see :meth:`Report.by_module`).

    >>> [(r.module, r.macs) for r in report.by_module(1)][:2]
    [('', 1814073344), ('conv1', 118013952)]
    """

    module: str
    depth: int
    layers: int
    macs: int
    flops: int
    params: int


@dataclass
class OpRow:
    """A rollup of layers of one op type (see :meth:`Report.by_op_type`).

    >>> report.by_op_type()[0].op
    'Conv'
    """

    op: str
    count: int
    macs: int
    flops: int
    params: int
    unsupported: int = 0


@dataclass(repr=False)
class Report:
    """Everything flopscope knows about one model.

    >>> report = flopscope.analyze("model.onnx", dims={"N": 8})
    >>> report.totals.macs
    42624
    """

    model: ModelInfo
    convention: str
    totals: Totals
    coverage: Coverage
    layers: list[Layer]
    latency: Latency | None = None
    notes: list[str] = field(default_factory=list)
    #: module path -> class name (``{"layer1.0": "Bottleneck"}``) where the source says it
    modules: dict[str, str] = field(default_factory=dict)
    #: cost polynomials in the free dims, when asked for (``--formula``)
    formulas: Formulas | None = None
    #: train mode's optimizer, precision and frozen globs (None: an inference report)
    training: Training | None = None

    # ----------------------------------------------------------------- rollups

    def by_module(self, depth: int = 1) -> list[ModuleRow]:
        """Per-module totals down to ``depth`` levels of the module path, in first-seen
        order, parents before children (``""`` is the whole model).

        >>> for row in report.by_module(2):
        ...     print(row.depth * "  " + (row.module or "(model)"), row.macs)
        (model) 1814073344
          conv1 118013952
          bn1 0
          relu 0
          maxpool 0
          layer1 462422016
            layer1.0 231211008
            layer1.1 231211008
          layer2 411041792
            layer2.0 179830784
            layer2.1 231211008
          layer3 411041792
            layer3.0 179830784
            layer3.1 231211008
          layer4 411041792
            layer4.0 179830784
            layer4.1 231211008
          avgpool 0
          fc 512000
        """
        rows: dict[str, ModuleRow] = {"": ModuleRow("", 0, 0, 0, 0, 0)}
        for layer in self.layers:
            parts = layer.module.split(".") if layer.module else []
            paths = [""] + [".".join(parts[:k]) for k in range(1, min(depth, len(parts)) + 1)]
            for k, path in enumerate(paths):
                row = rows.get(path)
                if row is None:
                    row = rows[path] = ModuleRow(path, k, 0, 0, 0, 0)
                row.layers += 1
                row.macs += layer.macs or 0
                row.flops += layer.flops or 0
                row.params += layer.params
        return _tree_order(list(rows.values()))

    def by_op_type(self) -> list[OpRow]:
        """Per-op-type totals, heaviest FLOPs first.

        >>> {row.op: row.count for row in report.by_op_type()}
        {'Conv': 20, 'BatchNormalization': 20, ...}
        """
        rows: dict[str, OpRow] = {}
        for layer in self.layers:
            row = rows.setdefault(layer.op, OpRow(layer.op, 0, 0, 0, 0))
            row.count += 1
            row.macs += layer.macs or 0
            row.flops += layer.flops or 0
            row.params += layer.params
            row.unsupported += layer.status in (UNSUPPORTED, UNRESOLVED)
        return sorted(rows.values(), key=lambda r: (-r.flops, -r.macs, r.op))

    def top(self, k: int, key: str = "flops") -> list[Layer]:
        """The ``k`` heaviest layers by ``key`` (``flops``, ``macs``, ``params``...).

        >>> [layer.name for layer in report.top(3, key="params")]
        ['layer4.0.conv2/Conv', 'layer4.1.conv1/Conv', 'layer4.1.conv2/Conv']
        """
        return sorted(self.layers, key=lambda l: -(getattr(l, key) or 0))[:k]

    # ----------------------------------------------------------------- JSON

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract of DESIGN.md, as plain Python data.

        >>> report.to_dict()["totals"]["macs"]
        1814073344
        """
        totals = asdict(self.totals)
        coverage = asdict(self.coverage)
        coverage["percent"] = round(self.coverage.percent, 4)
        return {
            "schema": SCHEMA,
            "model": asdict(self.model),
            "convention": self.convention,
            "convention_text": CONVENTIONS.get(self.convention, ""),
            "totals": totals,
            "coverage": coverage,
            "layers": [_layer_dict(layer) for layer in self.layers],
            "latency": asdict(self.latency) if self.latency else None,
            "notes": list(self.notes),
            "modules": dict(self.modules),
            "formulas": asdict(self.formulas) if self.formulas else None,
            "training": ({**asdict(self.training), "frozen": list(self.training.frozen)}
                         if self.training else None),
        }

    def to_json(self, indent: int | None = None) -> str:
        """The report as a JSON string (see :meth:`to_dict`).

        >>> _ = Path("baseline.json").write_text(report.to_json(indent=2))
        """
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        """Rebuild a Report from :meth:`to_dict` output (a saved JSON report).

        >>> Report.from_dict(report.to_dict()) == report
        True
        """
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise ValueError(f"not a flopscope report (schema {data.get('schema')!r}, "
                             f"expected {SCHEMA!r})" if isinstance(data, dict)
                             else "not a flopscope report (not a JSON object)")
        model = dict(data["model"])
        model["inputs"] = [InputInfo(**_known(InputInfo, i)) for i in model.get("inputs", [])]
        latency = data.get("latency")
        return cls(
            model=ModelInfo(**_known(ModelInfo, model)),
            convention=data["convention"],
            totals=Totals(**_known(Totals, data["totals"])),
            coverage=Coverage(**_known(Coverage, data["coverage"])),
            layers=[Layer(**_known(Layer, row)) for row in data["layers"]],
            latency=Latency(**_known(Latency, latency)) if latency else None,
            notes=list(data.get("notes", [])),
            modules=dict(data.get("modules") or {}),
            formulas=Formulas(**_known(Formulas, data["formulas"])) if data.get("formulas") else None,
            training=_training(data.get("training")),
        )

    @classmethod
    def from_json(cls, text: str) -> Report:
        """Rebuild a Report from :meth:`to_json` output.

        >>> old = Report.from_json(Path("baseline.json").read_text())
        """
        return cls.from_dict(json.loads(text))

    # ----------------------------------------------------------------- display

    def __repr__(self) -> str:
        """One line: name, MACs, FLOPs, parameters and coverage (the layers are in
        ``report.layers``; the renderers in :mod:`flopscope.render` show them).

        >>> Report(ModelInfo("tiny", "onnx"), "flopscope", Totals(macs=30_000, flops=59_900,
        ...        params=30_000), Coverage(nodes=1, costed=1), layers=[])
        Report(tiny: MACs 30 k, FLOPs 59.9 k, params 30 k, coverage 100.0% of 1 node)
        """
        t, c = self.totals, self.coverage
        uncosted = sum(c.unsupported.values()) + sum(c.unresolved.values())
        text = (f"Report({self.model.name}: MACs {si(t.macs)}, FLOPs {si(t.flops)}, "
                f"params {si(t.params)}, coverage {percent_down(c.costed, c.nodes)} of "
                f"{c.nodes:,} node{'' if c.nodes == 1 else 's'}")
        if uncosted:
            text += f", {uncosted:,} not costed"
        return text + ")"


_LAYER_FIELDS = tuple(f.name for f in fields(Layer))


def _layer_dict(layer: Layer) -> dict[str, Any]:
    """``asdict`` for a Layer without its deep copies (reports can have 100k layers)."""
    row = {name: getattr(layer, name) for name in _LAYER_FIELDS}
    row["output_shapes"] = [None if s is None else list(s) for s in layer.output_shapes]
    row["input_shapes"] = [None if s is None else list(s) for s in layer.input_shapes]
    row["attrs"] = dict(layer.attrs)
    return row


def _known(kind: type, data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(kind)}
    return {k: v for k, v in data.items() if k in names}


def _training(data: Any) -> Training | None:
    if not data:
        return None
    known = _known(Training, data)
    return Training(**{**known, "frozen": tuple(known.get("frozen", ()))})


def _tree_order(rows: Iterable[ModuleRow]) -> list[ModuleRow]:
    """Depth-first order: each module followed by its submodules, in first-seen order."""
    children: dict[str, list[ModuleRow]] = {}
    root = None
    for row in rows:
        if row.depth == 0:
            root = row
            continue
        parent = row.module.rpartition(".")[0] if row.depth > 1 else ""
        children.setdefault(parent, []).append(row)
    out: list[ModuleRow] = []

    def visit(row: ModuleRow) -> None:
        out.append(row)
        for child in children.get(row.module, []):
            visit(child)

    if root is not None:
        visit(root)
    return out
