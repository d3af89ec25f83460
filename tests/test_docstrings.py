"""Every public function and class of the Python API documents itself with an example."""

from __future__ import annotations

import inspect

import pytest

import flopscope
from flopscope import comparison, plot, report, testing, units


def public_api():
    for name in flopscope.__all__:
        if not name.startswith("__"):
            yield f"flopscope.{name}", getattr(flopscope, name)
    for module in (report, comparison, plot, testing, units):
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            if inspect.isfunction(obj) or inspect.isclass(obj):
                yield f"{module.__name__}.{name}", obj
            if inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    if attr.startswith("_"):
                        continue
                    if isinstance(member, (classmethod, staticmethod)):
                        member = member.__func__
                    if inspect.isfunction(member) or isinstance(member, property):
                        yield f"{module.__name__}.{name}.{attr}", member


@pytest.mark.parametrize("label, obj", list(public_api()), ids=lambda x: x if isinstance(x, str) else "")
def test_has_a_docstring_with_an_example(label, obj):
    doc = inspect.getdoc(obj) or ""
    assert ">>>" in doc, f"{label} needs a docstring with an example"
