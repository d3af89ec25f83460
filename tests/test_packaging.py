"""The installed package is the source tree: every subpackage is listed in pyproject."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_subpackage_is_listed_in_pyproject():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(config["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "flopscope").rglob("__init__.py")}
    found.add("flopscope.models")  # mapped from models/ by package-dir
    assert listed == found
    assert config["tool"]["setuptools"]["package-dir"]["flopscope.models"] == "models"
