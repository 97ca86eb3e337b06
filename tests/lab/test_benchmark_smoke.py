"""The benchmark runs at tiny size so it cannot rot (its numbers are for docs/performance.md;
no timing is asserted here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench.py"
# beside the test lab's directory, never the benchmark's own: a test run must not take down the
# appliances of a benchmark someone is running (nor the benchmark those of a test)
LAB_DIR = Path((os.environ.get("PORTSPEC_TEST_LAB_DIR") or "/var/lib/portspec-lab-tests") + "-bench")


def test_the_benchmark_runs_and_reports_ratios() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--fleet",
            "1,2",
            "--rows",
            "6",
            "--repeat",
            "1",
            "--lab-dir",
            str(LAB_DIR),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert any(line.startswith("plugin is ") and "x faster than the baseline" in line for line in lines)
    figures = json.loads(lines[-1])
    assert figures["plugin"]["remote_commands"] <= 4
    assert figures["baseline"]["rows"] == 6 and figures["baseline"]["remote_commands"] >= 6
    assert set(figures["fleet"]) == {"1", "2"}
    assert all(f["peak_rss_mib"] > 0 for f in figures["fleet"].values())


def test_the_scan_benchmark_runs_and_reports_ratios() -> None:
    """bench.py --scan at tiny size: 2 appliances, 2,000 ports (the plugin's own run still sweeps all)."""
    tiny = ["--scan-fleet", "2", "--scan-ports", "2000", "--repeat", "1", "--lab-dir", str(LAB_DIR)]
    done = subprocess.run(
        [sys.executable, str(BENCH), "--scan", *tiny],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["ports"] == 2000 and figures["fleet"] == 2
    assert all(figures[k]["fleet_vs_one"] > 0 for k in ("nmap", "connect", "nmap_fleet_rate"))
    plugin = figures["plugin"]
    assert plugin["with"]["remote_commands"] == plugin["without"]["remote_commands"]  # the scan is from here
