"""Checks before ONNX Runtime reads a model's external data: every ``location`` must stay
inside the model's folder (no absolute paths, no ``..``, no symbolic link leading out).
The one implementation lives in :mod:`flopscope.frontends.external`, which the analysis
uses too."""

from __future__ import annotations

from flopscope.frontends.external import check_external_data, external_locations

__all__ = ["check_external_data", "external_locations"]
