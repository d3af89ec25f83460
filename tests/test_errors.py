"""flopscope.errors: one line per error, in the caller's words."""

from __future__ import annotations

import pytest

from flopscope.errors import LIMIT, MESSAGE_LIMIT, FlopscopeError, one_line


def test_newlines_and_runs_of_blanks_become_single_spaces():
    assert one_line("shape mismatch:\n\texpected 3\r\n   got 4  ") == "shape mismatch: expected 3 got 4"


def test_megabytes_are_cut_to_the_limit_with_an_ellipsis():
    text = one_line("word " * 2_000_000)
    assert len(text) == LIMIT and text.endswith("...") and "\n" not in text
    assert one_line("x" * 5_000_000, limit=10) == "xxxxxxx..."
    assert one_line("short", limit=10) == "short"


def test_an_exception_with_no_message_reads_as_its_type():
    assert one_line(KeyError()) == "KeyError"
    assert one_line(ValueError(""), named=True) == "ValueError"


def test_named_puts_the_type_first():
    assert one_line(ValueError("bad\nvalue"), named=True) == "ValueError: bad value"
    assert one_line(ValueError("bad value")) == "bad value"


def test_a_str_that_raises_does_not_hide_the_error():
    class Hostile(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    assert one_line(Hostile(), named=True) == "Hostile"


@pytest.mark.parametrize("size", [LIMIT, MESSAGE_LIMIT])
def test_each_limit_is_honoured_exactly(size):
    assert len(one_line("y" * (size + 1), size)) == size
    assert one_line("y" * size, size) == "y" * size


def test_the_cli_prints_a_huge_error_as_one_bounded_line(capsys, monkeypatch):
    from flopscope import cli

    def boom(argv=None):
        raise FlopscopeError("line one\nline two " + "z" * 10_000)

    monkeypatch.setattr(cli, "build_parser", boom)
    assert cli.main(["report", "x.onnx"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("flopscope: error: line one line two ")
    assert len(err) <= len("flopscope: error: ") + MESSAGE_LIMIT + 1
