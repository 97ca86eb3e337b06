"""bench.py --scan: the outside-in scan's speed on the emulator, against a naive nmap run in the same run.

    sudo python benchmarks/bench.py --scan [--scan-fleet 10] [--scan-rate 20000] [--repeat 3]

Deny-by-default SmartServer appliances (ufw drops what it does not allow: every closed port is a
timeout, the slow case). Measured, each the median of --repeat runs after a warm-up:
1. one appliance's full TCP sweep (1-65535 on its IPv4 and IPv6 management addresses) by the scan
   the plugin runs (`scan_addresses`), with nmap and with the built-in connect scanner;
2. the same for --scan-fleet appliances at once (each its own sweep, as the plugin's devices run;
   the built-in scanner's sweeps take turns), and nmap again at --scan-fleet-rate, a rate at which
   the fleet's scans fit the tester's cores;
3. the naive baseline: `nmap -p- ADDRESS` as typed by hand (default timing, host discovery, reverse
   DNS), one address after the other;
4. the plugin on one appliance with and without --scan: wall time and remote commands (the sshd
   log's sessions): the scan adds none, it runs from the tester.
No assertion: the figures are for docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from statistics import median
from typing import Any

from runs import Run, measured, pytest_argv

from pytest_portspec.firewall.intervals import Intervals
from pytest_portspec.lab.controller import Lab, UpRequest
from pytest_portspec.lab.store import Store
from pytest_portspec.scan.model import ScannerName, ScanRequest
from pytest_portspec.scan.run import scan_addresses

SPEC = "smartserver"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scan", action="store_true", help="measure the outside-in scan (scan_bench.py)")
    parser.add_argument("--scan-fleet", type=int, default=10, help="appliances scanned at once (default 10)")
    parser.add_argument("--scan-rate", type=float, default=20000.0, help="probes per second and address")
    parser.add_argument("--scan-timeout", type=float, default=0.5, help="seconds to wait for each port")
    parser.add_argument(
        "--scan-ports", type=int, default=65535, help="TCP ports 1-N swept (smoke runs: fewer)"
    )
    parser.add_argument(
        "--scan-fleet-rate",
        type=float,
        default=5000.0,
        help="nmap's rate again, where a fleet fits the tester",
    )


def addresses(state: dict[str, Any]) -> list[str]:
    index = int(state["index"])
    return [str(state["management_address"]), f"2001:2:0:{index:x}::2"]


def sweep(
    states: list[dict[str, Any]], scanner: ScannerName, rate: float, timeout: float, ports: int = 65535
) -> float:
    """Seconds to sweep every TCP port of every appliance's addresses, each appliance in its own thread."""

    def one(state: dict[str, Any]) -> None:
        tcp = Intervals.of((1, ports))
        requests = [ScanRequest(a, tcp=tcp, rate=rate, timeout=timeout) for a in addresses(state)]
        found = scan_addresses(requests, scanner)
        if found.errors or len(found.scans) != len(requests):
            raise SystemExit(f"the scan of {state['name']} failed: {dict(found.errors)}")

    started = time.monotonic()
    with ThreadPoolExecutor(len(states)) as pool:
        list(pool.map(one, states))
    return time.monotonic() - started


def naive(states: list[dict[str, Any]], ports: int = 65535) -> float:
    """`nmap -p- ADDRESS` by hand, one address after the other."""
    started = time.monotonic()
    for state in states:
        for address in addresses(state):
            family = ["-6"] if ":" in address else []
            which = "-p-" if ports == 65535 else f"-p1-{ports}"
            subprocess.run(["nmap", *family, which, address], capture_output=True, check=True, timeout=3600)
    return time.monotonic() - started


def timed(work: Callable[[], float], repeat: int, warm_up: bool = True) -> float:
    if warm_up:
        work()
    return float(median(work() for _ in range(repeat)))


def plugin_run(state: dict[str, Any], work: Path, env: dict[str, str], *extra: str) -> Run:
    work = work / "plugin-scan"
    work.mkdir(exist_ok=True)
    device = f"{SPEC}@lab:{state['name']}"
    return measured(pytest_argv("--probe-timeout", "1", "--device", device, *extra), work, env)


def sessions(state: dict[str, Any]) -> int:
    log = Path(str(state["known_hosts"])).parent / "sshd.log"
    return log.read_text(encoding="utf-8", errors="replace").count("Starting session: command")


def scan_main(args: argparse.Namespace, lab_dir: Path, env: dict[str, str], work: Path) -> int:
    lab = Lab(Store(lab_dir))
    lab.down(everything=True)
    repeat, rate, timeout = max(1, args.repeat), args.scan_rate, args.scan_timeout
    try:
        states = [lab.up(UpRequest(SPEC, name=f"scan-{i}")) for i in range(1, args.scan_fleet + 1)]
        first = states[:1]
        figures: dict[str, Any] = {"rate": rate, "timeout": timeout, "repeat": repeat, "fleet": len(states)}
        for key, scanner, r in (
            ("nmap", "nmap", rate),
            ("connect", "connect", rate),
            ("nmap_fleet_rate", "nmap", args.scan_fleet_rate),
        ):
            one = timed(partial(sweep, first, scanner, r, timeout, args.scan_ports), repeat)
            many = timed(partial(sweep, states, scanner, r, timeout, args.scan_ports), repeat)
            figures[key] = {
                "rate": r,
                "one_s": round(one, 2),
                "fleet_s": round(many, 2),
                "fleet_vs_one": round(many / one, 2),
            }
        naive_s = timed(lambda: naive(first, args.scan_ports), 1, warm_up=False)  # minutes: once
        figures["naive_one_s"], figures["ports"] = round(naive_s, 2), args.scan_ports
        scan_args = ("--scan", "--scan-rate", f"{rate:g}", "--scan-timeout", f"{timeout:g}")
        runs: dict[str, Any] = {}
        for label, extra in (("without", ()), ("with", scan_args)):
            before = sessions(states[0])
            run = plugin_run(states[0], work, env, *extra)
            runs[label] = {"seconds": round(run.seconds, 2), "remote_commands": sessions(states[0]) - before}
        figures["plugin"] = runs
    finally:
        lab.down(everything=True)
    _print(figures)
    return 0


def _print(f: dict[str, Any]) -> None:
    how = f"rate {f['rate']:g}/s per address, timeout {f['timeout']:g} s"
    print(f"scan of deny-by-default {SPEC} appliances: {how}")
    for key in ("nmap", "connect", "nmap_fleet_rate"):
        s = f[key]
        print(
            f"  {key:15} at {s['rate']:g}/s: one appliance (2 addresses x {f['ports']} TCP ports) "
            f"{s['one_s']:6.2f} s; "
            f"{f['fleet']} at once: {s['fleet_s']:6.2f} s ({s['fleet_vs_one']:.2f}x one)"
        )
    naive_one = f["naive_one_s"]
    print(
        f"  naive `nmap -p- ADDRESS` by hand, one appliance: {naive_one:.2f} s "
        f"({naive_one / f['nmap']['one_s']:.1f}x the plugin's nmap sweep)"
    )
    p = f["plugin"]
    print(
        f"  plugin on one appliance: {p['without']['seconds']:.2f} s without --scan, "
        f"{p['with']['seconds']:.2f} s with; remote commands {p['without']['remote_commands']} "
        f"and {p['with']['remote_commands']}"
    )
    print(json.dumps(f))
