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
