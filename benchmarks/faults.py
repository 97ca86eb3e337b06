"""How a hostile device ends: each fault of tests/hostile_server.py against one device's run.

    .venv/bin/python benchmarks/faults.py

For each case the hostile SSH server runs in this process, on 127.0.0.1, and the device's run
(DeviceRun over SSHTransport, as the plugin builds it) in a subprocess of its own, so its peak
RSS is its own: it prints the case, the time to the device's error (or verdicts), the peak RSS
and its growth over the subprocess's RSS before the run, and the outcome sentence. A naive line
reads the 200 MB flood the way the transport did before (whole, then decode) for comparison.
Deadlines are shortened where the documented ones would take minutes (said in the case name).
No assertion: the figures are for docs/performance.md. Takes about half a minute.
"""

from __future__ import annotations

import json
import logging
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

MB = 1024 * 1024
FLOOD = "flood 200 MB (cap 8 MB)"
NAIVE = "flood 200 MB, naive read-all"


def cases() -> list[tuple[str, object, dict[str, object], dict[str, object]]]:
    """(name, behaviour, server options, device options) of every case."""
    from hostile_server import answering, closing_without_status, dropping, flooding, trickling
    from test_runner import sections

    esc = "\x1b[2J\x1b]0;owned\x07"
    python = "python3 yes\nbash no\nnc no\ntimeout no\ngetent yes\nbash-tcp no\nnc-z no"
    missing = {
        "iptables": (127, "sh: 1: iptables-save: not found"),
        "fingerprint": (127, "portspec-proof: sha256sum is not installed"),
    }
    good = sections()
    return [
        ("well-behaved (no outbound probe tool)", answering(good, proof=good), {}, {}),
        ("trickle 1 B/2 s (device deadline 5 s)", trickling(2.0), {}, {"deadline": 5.0}),
        (FLOOD, flooding(200 * MB), {}, {}),
        (NAIVE, flooding(200 * MB), {}, {"naive": True}),
        ("channel never confirmed (open timeout 2 s)", answering(good), {"confirm": False}, {"open": 2.0}),
        (
            "exec never answered (device deadline 5 s)",
            answering(good),
            {"answer_exec": False},
            {"deadline": 5.0},
        ),
        ("closes without exit status", closing_without_status(), {}, {}),
        ("connection dropped mid-output", dropping(), {}, {}),
        ("no iptables-save, no sha256sum", answering(sections(**missing), proof=sections(**missing)), {}, {}),
        ("malformed sections", answering(f"==portspec==tools\n{esc}\n==portspec==rc=x\n"), {}, {}),
        ("escape sequences in ufw's error", answering(sections(**{"ufw-status": (1, esc)})), {}, {}),
        (
            "nested JSON from the outbound probe",
            answering(sections(**{"probe-tools": python}), "[" * 60000),
            {},
            {},
        ),
    ]


def child(port: int, client_key: str, options: dict[str, object]) -> dict[str, object]:
    """One device's run against the server at `port`; what it took."""
    from pytest_portspec.checks.context import Declarations
    from pytest_portspec.engine.device_run import DeviceRun
    from pytest_portspec.spec.catalog import find_spec
    from pytest_portspec.spec.policy import effective_policy
    from pytest_portspec.transport import SSHSettings, SSHTransport

    settings = SSHSettings(
        host="127.0.0.1", port=port, key=client_key, host_key_policy="ignore", allow_agent=False
    )
    settings.channel_open_timeout = float(options.get("open", settings.channel_open_timeout))  # type: ignore[arg-type]
    transport = SSHTransport(f"dev@127.0.0.1:{port}", settings)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    if options.get("naive"):
        return naive(transport, before, started)
    run = DeviceRun(
        label=transport.label,
        host="127.0.0.1",
        policy=effective_policy(find_spec("smartserver"), enable=["all"]),
        transport=transport,
        declared=Declarations(),
        sudo=False,
        address="127.0.0.1",
        probe_timeout=0.2,
        deadline=options.get("deadline"),  # type: ignore[arg-type]
    )
    run.run()
    seconds = time.monotonic() - started
    if run.error is not None:
        outcome = f"ERROR {run.error.reason}"
    else:
        outcomes: dict[str, int] = {}
        for verdict in run.verdicts.values():
            outcomes[verdict.outcome] = outcomes.get(verdict.outcome, 0) + 1
        notes = [n for n in (run.facts.kernel_error if run.facts else None, run.proof_problem) if n]
        errors = {
            r.detail for r in (run.facts.outbound.values() if run.facts else []) if r.outcome == "error"
        }
        outcome = ", ".join(f"{n} {o}" for o, n in sorted(outcomes.items())) + "".join(
            f"; {n}" for n in [*notes, *sorted(errors)[:1]]
        )
    return {
        "seconds": seconds,
        "before": before,
        "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "outcome": outcome,
    }


def naive(transport: object, before: int, started: float) -> dict[str, object]:
    """The transport before issue 14: read stdout whole, then decode it."""
    channel = transport._session()  # type: ignore[attr-defined]
    channel.exec_command("ufw status verbose")
    text = channel.makefile("r").read().decode("utf-8", errors="replace")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "seconds": time.monotonic() - started,
        "before": before,
        "peak": peak,
        "outcome": f"read {len(text) / MB:.0f} MB whole, no error (the old transport)",
    }


def main() -> None:
    from hostile_server import HostileServer, make_keys

    logging.getLogger("paramiko").setLevel(logging.CRITICAL)  # the server's side of a reset: expected
    with tempfile.TemporaryDirectory(prefix="portspec-faults-") as workdir:
        measured = _matrix(HostileServer, make_keys(Path(workdir)))
    capped, naive = measured.get(FLOOD), measured.get(NAIVE)
    if capped and naive:  # the ratio the cap buys, both measured in this run
        print(
            f"flood 200 MB, capped against naive read-all: RSS growth {naive['growth']:.0f} MB / "
            f"{max(capped['growth'], 1):.0f} MB = {naive['growth'] / max(capped['growth'], 1):.0f}x less, "
            f"time to end {naive['seconds']:.2f} s / {capped['seconds']:.2f} s = "
            f"{naive['seconds'] / capped['seconds']:.1f}x shorter"
        )


def _matrix(server_class: Any, keys: Any) -> dict[str, dict[str, float]]:
    """Each case in a subprocess of its own (its peak RSS is its own), one line each."""
    measured: dict[str, dict[str, float]] = {}
    print(f"{'case':<44} {'time to end':>11} {'peak RSS':>9} {'growth':>8}  outcome")
    total = time.monotonic()
    for name, behaviour, server_options, options in cases():
        with server_class(behaviour, keys, **server_options) as server:
            argv = [
                sys.executable,
                __file__,
                "--child",
                str(server.port),
                str(keys.client),
                json.dumps(options),
            ]
            done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            print(f"{name:<44} failed: {done.stderr.strip().splitlines()[-1:]}")
            continue
        found = json.loads(done.stdout)
        peak, growth = found["peak"] / 1024, (found["peak"] - found["before"]) / 1024
        outcome = found["outcome"].replace("ERROR ", "error: ", 1)
        print(f"{name:<44} {found['seconds']:>9.2f} s {peak:>6.0f} MB {growth:>5.0f} MB  {outcome[:150]}")
        measured[name] = {"seconds": found["seconds"], "growth": growth}
    print(f"(all cases: {time.monotonic() - total:.0f} s)")
    return measured


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(child(int(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4]))))
    else:
        main()
