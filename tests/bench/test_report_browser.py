"""Open the report in headless Chromium: every plot renders and the page logs no error."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from optarena.bench.report import write_report
from optarena.bench.scoring import score_trials

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else shutil.which("chromium")
if CHROMIUM is None:
    pytest.skip("chromium is not installed (/usr/bin/chromium or on PATH)", allow_module_level=True)


def _synthetic():
    """The synthetic suite of test_report.py, loaded by path (no package needed for tests/)."""
    spec = importlib.util.spec_from_file_location("_report_synth", Path(__file__).with_name("test_report.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _chromium(args: list[str], tmp: Path) -> subprocess.CompletedProcess:
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp / 'profile'}",
        "--virtual-time-budget=3000",
        "--enable-logging=stderr",
        "--v=0",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


class _Body(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.attrs: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self.attrs = {k: v or "" for k, v in attrs}


def _open(page: Path, tmp: Path) -> tuple[dict[str, str], list[str]]:
    """Body attributes after load, and the console / uncaught-error lines that come from the page."""
    proc = _chromium(["--dump-dom", page.as_uri()], tmp)
    assert proc.returncode == 0, proc.stderr[-2000:]
    body = _Body()
    body.feed(proc.stdout)
    # Chromium logs every console message at INFO as `...:CONSOLE:n] "text", source: <url> (line)`;
    # the report itself never writes to the console, so any message from the page counts.
    page_errors = [
        line
        for line in proc.stderr.splitlines()
        if ("CONSOLE" in line and page.as_uri() in line) or "Uncaught" in line
    ]
    return body.attrs, page_errors


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    synth = _synthetic()
    trials = synth.synthetic_trials()
    scores = score_trials(trials, synth.WORKLOADS, baseline="adamw", n_bootstrap=100)
    out = tmp_path_factory.mktemp("browser") / "report.html"
    return write_report(out, scores, trials, synth.WORKLOADS, synth.PROVENANCE, title="browser check")


def test_every_plot_renders_without_errors(page: Path, tmp_path: Path) -> None:
    attrs, page_errors = _open(page, tmp_path)
    n_svg = len(re.findall(r'<svg class="plot"', page.read_text(encoding="utf-8")))
    assert "data-plots-total" in attrs, "the page's check script did not run"
    assert int(attrs["data-plots-total"]) == n_svg > 0
    assert attrs["data-plots-rendered"] == attrs["data-plots-total"]
    assert attrs.get("data-errors", "missing") == ""
    assert page_errors == []


def test_the_check_catches_broken_pages(page: Path, tmp_path: Path) -> None:
    """An empty plot and a console error must show up, or the test above proves nothing."""
    html = page.read_text(encoding="utf-8")
    html = html.replace(
        "</main>",
        '<svg class="plot" data-plot="empty" width="10" height="10"></svg>'
        '<script>console.error("deliberate failure");</script></main>',
    )
    broken = tmp_path / "broken.html"
    broken.write_text(html, encoding="utf-8")
    attrs, page_errors = _open(broken, tmp_path)
    assert int(attrs["data-plots-rendered"]) == int(attrs["data-plots-total"]) - 1
    assert "deliberate failure" in attrs["data-errors"]
    assert "plot not rendered: empty" in attrs["data-errors"]
    assert any("deliberate failure" in line for line in page_errors)


def test_screenshot(page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    proc = _chromium(
        ["--hide-scrollbars", "--window-size=1400,3000", f"--screenshot={shot}", page.as_uri()], tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert shot.stat().st_size > 10_000
