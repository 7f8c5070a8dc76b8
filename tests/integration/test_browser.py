"""harness.report.browser against a real headless Chromium: tiny pages written to tmp_path.

What a reader of a page would notice must show in the PageReport: console errors and
uncaught exceptions, dialogs (accepted, so the page goes on), probe values such as a
horizontal scrollbar, a viewport-sized PNG. And rendering must leave nothing behind:
no Chromium process, no profile directory, no open file descriptor, also when the
browser fails to start or stops answering.
"""

from __future__ import annotations

import os
import struct
import tempfile
from pathlib import Path

import pytest

from harness.report.browser import BrowserUnavailable, PageReport, chromium_path, render

pytestmark = pytest.mark.browser

if chromium_path() is None:
    pytest.skip("no chromium: install it or set HARNESS_CHROMIUM to its binary", allow_module_level=True)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
OVERFLOW = "document.documentElement.scrollWidth > innerWidth"


def page(tmp_path: Path, body: str, name: str = "page.html") -> Path:
    path = tmp_path / name
    path.write_text(f"<!doctype html>\n<html><head><meta charset=utf-8><title>t</title></head>\n"
                    f"<body>\n{body}\n</body></html>\n", encoding="utf-8")
    return path


def running_chromiums() -> int:
    """Chromium processes on this machine that still run (a zombie is dead: it only waits for init)."""
    count = 0
    for name in os.listdir("/proc"):
        try:
            with open(f"/proc/{name}/stat", encoding="ascii", errors="replace") as f:
                stat = f.read()
        except (OSError, ValueError):
            continue
        comm, state = stat[stat.find("(") + 1 : stat.rfind(")")], stat[stat.rfind(")") + 2 :][:1]
        if comm.startswith("chrom") and state not in ("Z", "X"):
            count += 1
    return count


def profile_dirs() -> set[str]:
    return {n for n in os.listdir(tempfile.gettempdir()) if n.startswith("harness-chromium-")}


def fake_browser(tmp_path: Path, script: str) -> str:
    path = tmp_path / "fake-chromium"
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)
    return str(path)


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> PageReport:
    body = "<h1>Report</h1>\n<p>one</p><p>two</p><p>three</p>\n<script>console.log('fine');</script>"
    return render(page(tmp_path_factory.mktemp("plain"), body),
                  probes={"paragraphs": 'document.querySelectorAll("p").length', "overflow": OVERFLOW})


def test_console_error_and_uncaught_exception_are_reported(tmp_path: Path) -> None:
    body = ('<script>console.error("boom");</script>\n'
            '<script>throw new Error("bad");</script>\n'
            '<p>still here</p>')
    report = render(page(tmp_path, body), probes={"broken": "notDefinedAnywhere.x"}, screenshot=False)
    assert any("boom" in e for e in report.console_errors), report.console_errors
    assert any("Error: bad" in e for e in report.console_errors), report.console_errors
    assert any("probe broken" in e and "notDefinedAnywhere" in e for e in report.console_errors)
    assert report.values == {"broken": None}
    assert report.screenshot == b""


def test_failed_resource_load_is_a_console_error(tmp_path: Path) -> None:
    report = render(page(tmp_path, '<img src="missing.png" alt="">'), screenshot=False)
    assert any("missing.png" in e for e in report.console_errors), report.console_errors


def test_clean_page_has_no_console_errors_or_dialogs(plain: PageReport) -> None:
    assert plain.console_errors == ()
    assert plain.dialogs == ()
    assert 0 < plain.load_ms < 30_000


def test_alert_is_reported_and_accepted(tmp_path: Path) -> None:
    body = '<script>alert("x"); document.title = "after the alert";</script>'
    report = render(page(tmp_path, body), probes={"title": "document.title"}, screenshot=False,
                    timeout=20)
    assert report.dialogs == ("x",)
    assert report.values["title"] == "after the alert"  # the script went on: the dialog was accepted


def test_probes_return_json_values(plain: PageReport) -> None:
    assert plain.values == {"paragraphs": 3, "overflow": False}


def test_wide_content_scrolls_horizontally(tmp_path: Path) -> None:
    report = render(page(tmp_path, '<div style="width: 3000px; height: 10px"></div>'),
                    probes={"overflow": OVERFLOW}, screenshot=False)
    assert report.values["overflow"] is True


def test_screenshot_is_a_viewport_sized_png(plain: PageReport) -> None:
    png = plain.screenshot
    assert png.startswith(PNG_SIGNATURE)
    assert png[12:16] == b"IHDR"
    assert struct.unpack(">II", png[16:24]) == (1280, 800)


def test_nothing_is_left_behind(tmp_path: Path) -> None:
    chromiums, dirs, fds = running_chromiums(), profile_dirs(), len(os.listdir("/proc/self/fd"))
    render(page(tmp_path, "<p>bye</p>"), screenshot=False)
    assert running_chromiums() <= chromiums
    assert profile_dirs() <= dirs
    assert len(os.listdir("/proc/self/fd")) == fds


def test_missing_binary_is_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_CHROMIUM", "/nonexistent")
    assert chromium_path() is None
    with pytest.raises(BrowserUnavailable, match="no chromium"):
        render(page(tmp_path, "<p>x</p>"))


def test_browser_that_exits_at_once_is_unavailable_with_its_stderr(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_CHROMIUM", fake_browser(tmp_path, 'echo "cannot open display" >&2; exit 1'))
    dirs = profile_dirs()
    with pytest.raises(BrowserUnavailable, match=r"(?s)Target\.createTarget.*cannot open display"):
        render(page(tmp_path, "<p>x</p>"), timeout=10)
    assert profile_dirs() <= dirs


def test_browser_that_never_answers_times_out_and_is_killed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pidfile = tmp_path / "pid"
    monkeypatch.setenv("HARNESS_CHROMIUM", fake_browser(tmp_path, f'echo $$ > {pidfile}; exec sleep 600'))
    dirs = profile_dirs()
    with pytest.raises(BrowserUnavailable, match=r"did not answer in time.*Target\.createTarget"):
        render(page(tmp_path, "<p>x</p>"), timeout=1)
    assert not Path(f"/proc/{pidfile.read_text().strip()}").exists()  # killed, and reaped
    assert profile_dirs() <= dirs


def test_page_that_never_loads_times_out_and_leaves_nothing(tmp_path: Path) -> None:
    chromiums, dirs = running_chromiums(), profile_dirs()
    with pytest.raises(BrowserUnavailable, match="did not answer in time while waiting for the load event"):
        render(page(tmp_path, "<script>for (;;) {}</script>"), timeout=5)
    assert running_chromiums() <= chromiums
    assert profile_dirs() <= dirs
