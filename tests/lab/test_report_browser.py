"""The HTML report as a reviewer opens it: headless Chromium renders the page of a drifted
emulated appliance; the verdict and the traceability matrix are in its DOM, and a screenshot
is taken."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from pytest_portspec.lab.fixture import LabSession

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("chromium")
    assert exe, "chromium is missing: scripts/test installs it (apt-get install chromium)"
    return subprocess.run(
        [exe, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_chromium_renders_the_verdict_and_the_matrix(
    lab: LabSession, pytester: pytest.Pytester, tmp_path: Path
) -> None:
    lab.up("smartserver", name="browser", drifts=["stop:nginx", "ufw-allow:502/tcp"])
    html = tmp_path / "report.html"
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--device",
        "smartserver@lab:browser",
        "--probe-timeout",
        "1",
        f"--html={html}",
        "--self-contained-html",
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    dom = chromium(tmp_path / "profile-dom", "--dump-dom", html.as_uri()).stdout
    assert "NOT ACCEPTED — " in dom and "4 failed" in dom  # 502: its ufw item and its reset (reachable)
    assert "Traceability matrix" in dom and "in-502-tcp" in dom and "permitted-by-ufw" in dom
    assert "Sign-off" in dom
    shot = tmp_path / "report.png"
    chromium(tmp_path / "profile-shot", "--window-size=1300,1600", f"--screenshot={shot}", html.as_uri())
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
