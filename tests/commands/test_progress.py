"""The CLI's progress output: the bar the library's progress callback drives, and the
zoo's log lines."""

from __future__ import annotations

import io

from flopscope.commands.progress import ProgressBar, log_lines, progress_bar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_uses_carriage_returns():
    out = io.StringIO()
    bar = ProgressBar(out, width=10)
    bar.update("measure", 0.5, "5 runs")
    bar.update("measure", 1.0, "10 runs")
    bar.close()
    text = out.getvalue()
    assert text.startswith("\rmeasure  [#####.....]")
    assert "[##########] 100%" in text and "\n" not in text


def test_progress_bar_is_redrawn_at_most_ten_times_a_second_but_always_at_the_end():
    out = io.StringIO()
    bar = ProgressBar(out, width=10)
    for i in range(1, 100):
        bar.update("warm-up", i / 100, f"{i} runs")
    bar.update("warm-up", 1.0, "100 runs")
    text = out.getvalue()
    assert 2 <= text.count("\r") < 10                # the first call, the last, few between
    assert text.rpartition("\r")[2].startswith("warm-up  [##########] 100% 100 runs")


def test_a_bar_only_on_a_terminal_unless_asked():
    assert progress_bar(None, io.StringIO()) is None
    assert isinstance(progress_bar(None, Terminal()), ProgressBar)
    assert progress_bar(False, Terminal()) is None
    assert isinstance(progress_bar(True, io.StringIO()), ProgressBar)


def test_log_lines_prefix_each_message():
    out = io.StringIO()
    log = log_lines("flopscope zoo", out)
    log("resnet18: analysing")
    log("resnet18: timing (cpu)")
    assert out.getvalue() == "flopscope zoo: resnet18: analysing\nflopscope zoo: resnet18: timing (cpu)\n"
