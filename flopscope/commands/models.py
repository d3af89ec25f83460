"""``flopscope models``: the catalog of reference architectures, with published figures."""

from __future__ import annotations

import argparse

from flopscope.commands.common import emit

FORMATS = ("text", "markdown", "json")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list the reference architectures (catalog names)",
                       description="The reference architectures every command accepts by name: "
                                   "family, input shape and the published parameter and MAC counts "
                                   "flopscope is checked against (- where none is published).")
    p.add_argument("--format", choices=FORMATS, default="text")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")


def run(args: argparse.Namespace) -> int:
    emit(render_models(args.format), args.output)
    return 0


def render_models(fmt: str = "text") -> str:
    """The catalog as a table (``text``, ``markdown``) or a JSON list."""
    import json

    from tabulate import tabulate

    from flopscope.models.catalog import CATALOG
    from flopscope.units import shape

    if fmt == "json":
        return json.dumps([{"name": s.name, "family": s.factory.partition(":")[0],
                            "input_shape": list(s.input_shape), "published_params": s.published_params,
                            "published_gmacs": s.published_gmacs, "description": s.description}
                           for s in CATALOG.values()], indent=2) + "\n"
    rows = [[s.name, s.factory.partition(":")[0], shape(list(s.input_shape)),
             "-" if s.published_params is None else f"{s.published_params:,}",
             "-" if s.published_gmacs is None else f"{s.published_gmacs:.3f} G"]
            for s in CATALOG.values()]
    table: str = tabulate(rows, ["name", "family", "input", "params (published)", "MACs (published)"],
                     tablefmt="github" if fmt == "markdown" else "simple", disable_numparse=True,
                     colalign=("left", "left", "left", "right", "right"))
    return table + "\n"
