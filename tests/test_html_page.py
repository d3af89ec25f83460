"""The standalone HTML page (``flopscope report --format html``), read as text and opened
in headless Chromium (Debian's ``chromium`` package)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from flopscope.cli import main
from flopscope.render.html import page_layers, render_html
from tests.fake_reports import latency, synthetic

#: the browser window the screenshot is taken in
WIDTH, HEIGHT = 1200, 900


def _chromium() -> str:
    """The headless browser's path; skipped only outside CI (in CI its absence fails)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail("CI is set but chromium is not installed (.ci/run installs Debian's package)")
    pytest.skip("chromium is not installed: apt-get install -y chromium")


def _browse(page: Path, *flags: str, fragment: str = "") -> subprocess.CompletedProcess[str]:
    argv = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-extensions", "--enable-logging=stderr", "--v=0",
            f"--user-data-dir={page.parent / 'profile'}", f"--window-size={WIDTH},{HEIGHT}",
            *flags, page.as_uri() + fragment]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=page.parent)


def _body(dom: str) -> str:
    """The ``<body ...>`` tag of a dumped DOM (where the page's script leaves its marks)."""
    found = re.search(r"<body[^>]*>", dom)
    assert found, dom[:500]
    return found.group(0)


def _console_errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]


# --------------------------------------------------------------------------- the page as text


def test_page_is_self_contained_and_complete():
    report = synthetic(40)
    report.latency = latency(2.0)
    page = render_html(report)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    fetches = re.findall(r'<link|@import|(?:src|href)\s*=\s*"(?!#)|url\((?!#)', page)
    assert fetches == []                                # nothing to load: works offline
    assert page.count("<svg") == 2 and "<?xml" not in page          # both charts inline
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids))                    # unique across the inlined charts
    for ref in set(re.findall(r'(?:href="#|url\(#)([^")]+)', page)):
        assert ref in ids, ref                          # every reference resolves
    assert f"{report.totals.macs:,}" in page and f"{report.totals.flops:,}" in page
    assert "The totals are a lower bound" in page
    assert "unsupported: com.example.Fancy x1" in page
    assert "<h2>Latency</h2>" in page and "2.000 ms" in page
    assert page.count('<tr><td class="n" data-v=') == 40          # every layer, one row each
    assert "symbolic dim N bound to 1" in page


def test_a_per_layer_profile_adds_its_chart():
    report = synthetic(10)
    report.latency = latency(per_layer={"layers": [
        {"name": l.name, "op": l.op, "flops": l.flops, "time_ms": 0.01 * (i + 1), "group_flops": None,
         "status": "measured", "share": 0.1, "ort_ops": [l.op], "gflops_per_s": 1.0, "absorbed": []}
        for i, l in enumerate(report.layers)], "other": [], "total_ms": 0.55, "notes": []})
    page = render_html(report)
    assert page.count("<svg") == 3 and "measured time per layer against FLOPs" in page


def test_page_names_the_dot_products_left_out():
    report = synthetic(10)
    report.coverage.uncosted_dot_products = {"MatMul": 2}
    assert "Dot products left out (their MACs are missing): MatMul x2." in render_html(report)


def test_a_complete_report_gets_no_warning():
    report = synthetic(10)
    report.coverage.unsupported, report.coverage.unresolved = {}, {}
    report.coverage.costed = report.coverage.nodes
    page = render_html(report)
    assert "lower bound" not in page and 'class="banner ok"' in page


def test_page_honours_top_depth_and_all_layers():
    report = synthetic(40)
    heaviest = {l.name for l in report.top(5)}
    page = render_html(report, top=5)
    rows = re.findall(r'<tr><td class="n" data-v="\d+">\d+</td><td>([^<]*)</td>', page)
    assert set(rows) == heaviest and len(rows) == 5
    assert "top 5 of 40 layers by FLOPs" in page
    deep = render_html(report).count('class="mod')
    shallow = render_html(report, depth=1).count('class="mod')
    assert shallow == 1 + 8 and deep == 1 + 8 + 40           # (model), 8 blocks, 40 layers
    report.layers[2].op, report.layers[2].macs, report.layers[2].flops = "Reshape", 0, 0
    report.layers[2].params = 0
    assert len(page_layers(report)) == 39 and len(page_layers(report, all_layers=True)) == 40
    assert "1 zero-cost plumbing layers folded" in render_html(report)


def test_cli_html_honours_depth_and_top(tmp_path):
    from tests.commands.nets import conv_net

    model = conv_net(tmp_path / "m.onnx")                 # 3 Conv, 3 Relu, 1 Identity
    page = tmp_path / "p.html"
    assert main(["report", model, "--format", "html", "--top", "2", "-o", str(page)]) == 0
    text = page.read_text(encoding="utf-8")
    rows = re.findall(r'<tr><td class="n" data-v="\d+">\d+</td><td>([^<]*)</td>', text)
    assert rows == ["/conv1/Conv", "/conv2/Conv"]                  # the 2 heaviest, in order
    assert main(["report", model, "--format", "html", "--depth", "0", "-o", str(page)]) == 0
    text = page.read_text(encoding="utf-8")
    assert text.count('class="mod') == 1                          # the whole model only
    assert "1 zero-cost plumbing layers folded" in text            # the Identity


def test_page_escapes_names():
    report = synthetic(6, name="<b>x</b>")
    report.layers[0].name = '<script>alert("x")</script>'
    page = render_html(report)
    assert '<script>alert("x")' not in page and "&lt;script&gt;alert(&quot;x&quot;)" in page
    assert page.count("<script>") == 1                  # the page's own


# --------------------------------------------------------------------------- in a browser


def test_cli_page_opens_in_headless_chromium(tmp_path, light_model):
    """The page of a real model: drawn (a screenshot of the window's size with a page on
    it, not blank), its script ran without errors (the marker it writes into the DOM, no
    console errors), and the URL fragment filters and sorts the layer table."""
    page = tmp_path / "report.html"
    assert main(["report", light_model("resnet50"), "--format", "html", "-o", str(page)]) == 0

    shot = tmp_path / "shot.png"
    done = _browse(page, f"--screenshot={shot}", "--hide-scrollbars")
    assert shot.exists(), done.stderr[-2000:]
    assert _console_errors(done.stderr) == []
    from PIL import Image, ImageStat

    image = Image.open(shot).convert("L")
    assert image.size == (WIDTH, HEIGHT)
    stat = ImageStat.Stat(image)
    dark = sum(image.histogram()[:128]) / (WIDTH * HEIGHT)
    assert stat.stddev[0] > 20                          # not one flat colour
    assert stat.mean[0] > 180 and 0.005 < dark < 0.3    # dark text on a light page

    done = _browse(page, "--dump-dom", fragment="#filter=Conv&sort=FLOPs&desc")
    dom = done.stdout
    body = _body(dom)
    assert 'data-flopscope-ready="1"' in body, done.stderr[-2000:]
    assert "data-flopscope-errors" not in body
    assert _console_errors(done.stderr) == []
    shown = int(re.search(r'id="layers"[^>]*data-shown="(\d+)"', dom).group(1))
    assert shown == 53                                  # ResNet-50 has 53 Conv layers
    first = re.search(r'<tbody><tr[^>]*><td class="n" data-v="\d+">\d+</td><td>[^<]*</td><td>(\w+)</td>', dom)
    assert first.group(1) == "Conv"


def test_a_script_error_would_be_seen(tmp_path):
    """The checks above can fail: a page whose script throws has no ready marker, and the
    error is recorded in the DOM."""
    page = tmp_path / "broken.html"
    page.write_text(render_html(synthetic(8)).replace('var table = document.getElementById("layers");',
                                                      'var table = null.rows;'), encoding="utf-8")
    body = _body(_browse(page, "--dump-dom").stdout)
    assert 'data-flopscope-ready="1"' not in body and 'data-flopscope-errors="' in body
