"""How the tester's cost grows with the fleet, without SSH: N fake SmartServers in one pytest run.

    python benchmarks/bench.py --fake-fleet 10,100,1000 [--fake-latency S] [--repeat N]
                               [--fake-tb line] [--fake-modes "plugin,pytest itself"]

No root, no lab, no packet to a device: each `--device smartserver@198.18.X.Y` (a test range,
never contacted) gets a FakeTransport (pytest_portspec.transport) that answers the state
command with tests/test_runner.py's captured SmartServer sections, the outbound probes'
command with a well-formed report, and the read-only proof, each after `--fake-latency`
seconds (a device's answer time). The tester's inbound probes go to 127.0.0.1, not to
198.18.X.Y: the devices' `address` is set to it, so the inbound items run their real probes
(the local machine answers them). Each size runs in its own pytest process, in one process and
with `-n 2`, beside "pytest itself": a plain pytest run (`-p no:portspec`) of as many trivial
parametrized items. Wall time, CPU (the process and the children it waited for: xdist's
workers) and peak RSS (the largest single process) come from wait4. The `marginal` figures are
the cost of one more item between two sizes (start-up excluded): constant when growth is linear.
Every run has `--tb=line` (`--fake-tb`), as a fleet should: pytest's failure summary with its
default tracebacks rescans every report for each failure (pytest #13360), quadratic in a fleet.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fleet_figures import ITEMS_PER_DEVICE, report

from pytest_portspec.device.state_command import MARK
from pytest_portspec.probe import payloads
from pytest_portspec.probe.model import udp_verifiable
from pytest_portspec.transport import CommandResult, FakeTransport

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent / "tests"
ANSWERED = "198.18.255.1"  # the address a fake outbound probe to a host name "reached" (never contacted)
TOOLS = "python3 yes\nbash yes\nnc yes\ntimeout yes\ngetent yes\nbash-tcp yes\nnc-z yes"

CONFTEST = """
import sys

import pytest

sys.path.insert(0, {here!r})
from fake_fleet import install  # noqa: E402


@pytest.hookimpl(trylast=True)  # after portspec's own pytest_configure: the devices exist
def pytest_configure(config):
    install(config, latency={latency!r}, probe_timeout={probe_timeout!r})
"""

TRIVIAL = """
import pytest


@pytest.mark.parametrize("i", range({items}))
def test_item(i):
    pass
"""


def host(index: int) -> str:
    """The index-th device's address in 198.18.0.0/15 (never contacted: the transport is fake)."""
    return f"198.18.{index // 250}.{index % 250 + 2}"


def _answers() -> tuple[str, str]:
    """The state command's answer (a SmartServer with python3) and the proof's (same fingerprint)."""
    sys.path.insert(0, str(TESTS))
    from test_runner import PROOF, sections  # type: ignore[import-not-found]  # tests/: on sys.path above

    return sections(**{"probe-tools": TOOLS}), f"{MARK}fingerprint\n{PROOF}\n{MARK}rc=0\n"


def outbound_report(stdin: str | None) -> str:
    """What the probe program would print had every probe been answered (no packet is sent)."""
    records = []
    for probe in json.loads(stdin or "{}").get("probes", []):
        address = probe["host"] if probe["host"][:1].isdigit() or ":" in probe["host"] else ANSWERED
        verifiable = probe["proto"] == "tcp" or udp_verifiable("udp", probe["port"], probe["protocol"])
        records.append(
            {
                **{k: probe[k] for k in ("id", "host", "proto", "port")},
                "outcome": "ok" if verifiable else "unverifiable",
                "address": address if verifiable else None,
                "addresses": [address],
                "seconds": 0.01,
                "detail": "fake fleet: answered without a packet",
            }
        )
    return json.dumps({"program": payloads.PROGRAM, "version": payloads.VERSION, "results": records})


Responder = Callable[[str, str | None], CommandResult]


def _after(latency: float, answer: Callable[[str | None], str]) -> Responder:
    def respond(command: str, stdin: str | None) -> CommandResult:
        time.sleep(latency)  # the device's answer time
        return CommandResult(0, answer(stdin), "", latency)

    return respond


def fleet_transport(latency: float, state: str, proof: str) -> FakeTransport:
    # first match wins: the state command also mentions sha256sum and python3
    return FakeTransport(
        {
            "ufw status verbose": _after(latency, lambda _: state),
            "sha256sum": _after(latency, lambda _: proof),
            "python3 -I -c": _after(latency, outbound_report),
        }
    )


def install(config: pytest.Config, latency: float, probe_timeout: float) -> None:
    """Swap every device's SSH transport for a fake one; inbound probes go to 127.0.0.1."""
    from pytest_portspec.plugin import REGISTRY

    registry = config.stash.get(REGISTRY, None)
    state, proof = _answers()
    for run in registry.runs if registry is not None else ():
        run.transport = fleet_transport(latency, state, proof)
        run.address = "127.0.0.1"
        run.probe_timeout = probe_timeout


def prepare(work: Path, devices: int, latency: float, probe_timeout: float) -> list[str]:
    """A directory for a fleet's runs (its conftest), and the pytest arguments naming its devices."""
    work.mkdir(parents=True, exist_ok=True)
    text = CONFTEST.format(here=str(HERE), latency=latency, probe_timeout=probe_timeout)
    (work / "conftest.py").write_text(text, encoding="utf-8")
    named = [arg for i in range(devices) for arg in ("--device", f"smartserver@{host(i)}")]
    return [*named, "--portspec-json", str(work / "results.json")]


def prepare_trivial(work: Path, items: int) -> list[str]:
    work.mkdir(parents=True, exist_ok=True)
    (work / "test_trivial.py").write_text(TRIVIAL.format(items=items), encoding="utf-8")
    return ["-p", "no:portspec", "test_trivial.py"]


# --- measuring -----------------------------------------------------------------------------------

MODES = {  # what runs, and its extra pytest arguments
    "plugin": (),
    "plugin -n 2": ("-n", "2"),
    "pytest itself": (),
    "pytest itself -n 2": ("-n", "2"),
}


def _run(mode: str, devices: int, work: Path, args: argparse.Namespace) -> Any:
    """One measured pytest process (runs.measured: wall time, CPU and peak RSS from wait4)."""
    from runs import measured, pytest_argv  # here, not at the top: the fleet's conftest imports this module

    place = work / f"{mode.split()[0]}-{devices}"
    if mode.startswith("plugin"):
        named = prepare(place, devices, args.fake_latency, args.probe_timeout)
    else:
        named = prepare_trivial(place, devices * ITEMS_PER_DEVICE)
    tb = f"--tb={getattr(args, 'fake_tb', 'line')}"
    run = measured(pytest_argv(*MODES[mode], tb, *named), place, env=_env())
    print(  # progress: a 1,000-device run takes minutes
        f"  {mode}, {devices} devices: {run.seconds:.1f} s, {run.cpu_s:.1f} s CPU, {run.rss_mib:.0f} MiB",
        file=sys.stderr,
        flush=True,
    )
    return run


def _env() -> dict[str, str]:
    import os

    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: bytecode cached (see bench.py)
    return env


def _problems(work: Path, devices: int) -> list[str]:
    """Why a plugin run does not measure what it should: a device errored (the fake is broken)."""
    path = work / f"plugin-{devices}" / "results.json"
    if not path.exists():
        return [f"{devices} devices: no results file (see {path.parent}/last-run.log)"]
    data = json.loads(path.read_text(encoding="utf-8"))
    bad = [d["device"] for d in data["devices"] if d.get("error")]
    problems = [f"{devices} devices: {len(bad)} device error(s), first {bad[0]}"] if bad else []
    if len(data["results"]) != devices * ITEMS_PER_DEVICE:  # the per-item figures divide by it
        problems.append(f"{devices} devices: {len(data['results'])} items, not {ITEMS_PER_DEVICE} per device")
    return problems


def measure(
    sizes: list[int], args: argparse.Namespace, work: Path
) -> tuple[dict[str, dict[int, Any]], list[str]]:
    modes = [m for m in MODES if m in (getattr(args, "fake_modes", None) or MODES)]
    figures: dict[str, dict[int, Any]] = {mode: {} for mode in modes}
    problems: list[str] = []
    for mode in modes:  # one untimed warm-up of each kind: bytecode caches, as in any installation
        _run(mode, min(sizes), work, args)
    for n in sizes:
        for mode in modes:
            done = sorted((_run(mode, n, work, args) for _ in range(args.repeat)), key=lambda r: r.seconds)
            figures[mode][n] = done[len(done) // 2]
            if mode.startswith("plugin"):
                problems += _problems(work, n)
            if done[-1].status not in (0, 1):  # 1: checks failed (the captured state has drifts)
                problems.append(f"{mode}, {n} devices: pytest exit {done[-1].status}")
    return figures, problems


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """bench.py's options of the fake fleet."""
    parser.add_argument("--fake-fleet", help="fleet sizes of fake devices, no SSH nor root (fake_fleet.py)")
    parser.add_argument("--fake-latency", type=float, default=0.05, help="seconds per fake remote command")
    parser.add_argument("--fake-keep", action="store_true", help="keep the fake fleet's run directories")
    parser.add_argument(
        "--fake-tb", default="line", help="pytest --tb of the fake fleet's runs (default line)"
    )
    parser.add_argument(
        "--fake-modes",
        type=lambda text: [m.strip() for m in text.split(",")],
        help=f"the fake fleet's runs, comma separated (default all: {','.join(MODES)})",
    )


def fake_fleet_main(args: argparse.Namespace) -> int:
    """bench.py --fake-fleet: args has fake_fleet ("10,100"), fake_latency, probe_timeout, repeat."""
    import os
    import tempfile

    sizes = sorted({int(n) for n in args.fake_fleet.split(",")})
    args.repeat = max(1, args.repeat)
    print(
        f"fake fleet: {args.fake_latency} s per remote command, inbound probes to 127.0.0.1 "
        f"(probe timeout {args.probe_timeout} s), median of {args.repeat} run(s) after a warm-up, "
        f"{os.cpu_count()} cores; CPU: the pytest process and its xdist workers; RSS: the largest process"
    )
    work = Path(tempfile.mkdtemp(prefix="portspec-fake-fleet-"))
    try:
        figures, problems = measure(sizes, args, work)
        data = report(figures, sizes)
    finally:
        if not args.fake_keep:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({"fake_fleet": data, "latency": args.fake_latency, "repeat": args.repeat}))
    for problem in problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    return 1 if problems else 0
