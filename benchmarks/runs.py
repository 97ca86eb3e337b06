"""Measuring whole pytest processes: wall time, CPU and peak RSS (wait4), machine-wide busy time."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Run:
    seconds: float  # wall time
    rss_mib: float  # peak RSS of the pytest process
    cpu_s: float  # CPU time of the pytest process (user + system)
    busy_s: float  # core-seconds the whole machine was busy (pytest, the appliances' sshd, ...)
    status: int


def busy_jiffies() -> int:
    """Core time spent busy so far, machine-wide (user, nice, system, irq, softirq), in clock ticks."""
    fields = Path("/proc/stat").read_text(encoding="ascii").splitlines()[0].split()[1:]
    return sum(int(fields[i]) for i in (0, 1, 2, 5, 6))


def measured(argv: list[str], cwd: Path, env: dict[str, str]) -> Run:
    """Run a command and measure it."""
    started, busy = time.monotonic(), busy_jiffies()
    with open(cwd / "last-run.log", "w", encoding="utf-8") as log:  # kept for a look when a run fails
        process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode not in (0, 1, 5):  # a failed check, nothing collected (start-up); else: why
        tail = (cwd / "last-run.log").read_text(encoding="utf-8", errors="replace").splitlines()[-5:]
        print(f"{' '.join(argv[3:6])}...: exit {process.returncode}", *tail, sep="\n  ", file=sys.stderr)
    return Run(
        time.monotonic() - started,
        usage.ru_maxrss / 1024,
        usage.ru_utime + usage.ru_stime,
        (busy_jiffies() - busy) / os.sysconf("SC_CLK_TCK"),
        process.returncode,
    )


def median(runs: Callable[[], Run], repeat: int) -> Run:
    """The median of `repeat` runs (by wall time), after one untimed warm-up run."""
    runs()
    done = sorted((runs() for _ in range(repeat)), key=lambda r: r.seconds)
    middle = done[len(done) // 2]
    return Run(
        statistics.median(r.seconds for r in done),
        middle.rss_mib,
        middle.cpu_s,
        middle.busy_s,
        max(r.status for r in done),
    )


def pytest_argv(*args: str) -> list[str]:
    """pytest in this interpreter, quiet, without the cache plugin (every run starts alike)."""
    return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args]


def startup(env: dict[str, str], work: Path, *extra: str) -> Run:
    """pytest's own start-up with every plugin installed, collecting nothing: the floor of any run
    (with `-p no:portspec`: what the plugin adds to every pytest run of its environment)."""
    work = work / "empty"
    work.mkdir(exist_ok=True)
    return measured(pytest_argv("--co", *extra), work, env)


def figures(run: Run) -> dict[str, float]:
    return {
        "seconds": round(run.seconds, 2),
        "peak_rss_mib": round(run.rss_mib, 1),
        "cpu_s": round(run.cpu_s, 2),
        "machine_busy_core_s": round(run.busy_s, 2),
    }
