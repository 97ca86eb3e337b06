"""Speed and memory of pytest-portspec against a naive per-row testinfra baseline, in one run.

    sudo python benchmarks/bench.py [--fleet 1,10,30] [--rows N] [--probe-timeout S]

On the emulator (its own lab directory, taken down at the end) it measures side by side:
1. the plugin on one SmartServer (Enhanced security) appliance;
2. a naive baseline written the way testinfra users commonly do it — one pytest test per row,
   `host.run("sudo ufw status verbose")`, `host.socket(...)`, `nc -z` per destination — over the
   same rows of the same appliance;
3. fleets of appliances checked by the plugin in one run.
It prints wall-time ratios, remote commands per device (counted in the appliances' sshd logs)
and peak RSS of each pytest process. No assertion: the numbers are for docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pytest_portspec.catalog import find_spec
from pytest_portspec.lab.controller import Lab, UpRequest
from pytest_portspec.lab.store import LAB_DIR_ENV, Store
from pytest_portspec.policy import effective_policy

LAB_DIR = Path("/var/lib/portspec-lab-bench")
SPEC = "smartserver"


def sessions(state: dict[str, object]) -> int:
    """Remote commands run on an appliance so far: sshd logs one 'Starting session' per command."""
    log = Path(str(state["known_hosts"])).parent / "sshd.log"
    return log.read_text(encoding="utf-8", errors="replace").count("Starting session: command")


def measured(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, int]:
    """Run a command; (wall seconds, peak RSS of the process in MiB, exit status)."""
    started = time.monotonic()
    with open(cwd / "last-run.log", "w", encoding="utf-8") as log:  # kept for a look when a run fails
        process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return time.monotonic() - started, usage.ru_maxrss / 1024, process.returncode


BASELINE_HEAD = """
import pytest

ROWS = {rows!r}


@pytest.mark.parametrize("row", ROWS, ids=[r["key"] for r in ROWS])
def test_row(host, row):
    if row["check"] == "ufw":
        status = host.run("sudo ufw status verbose").stdout
        line = any(l.startswith(row["rule"]) for l in status.splitlines())
        assert line == (row["action"] == "allow") or row["action"] == "block"
    elif row["check"] == "listening":
        assert host.socket(row["socket"]).is_listening
    else:
        assert host.run("nc -z -w {timeout} %s %s" % (row["host"], row["port"])).rc == 0
"""


def baseline_rows(limit: int | None, destinations: dict[str, str], address: str) -> list[dict[str, object]]:
    """The same rows the plugin checks, as one naive test each."""
    policy = effective_policy(find_spec(SPEC))
    rows: list[dict[str, object]] = []
    for e in policy.rows:
        if not e.applies or e.row.scope != "external" or not e.row.ports:
            continue
        port = e.row.ports[0].lo
        rows.append(
            {"key": f"{e.key}-ufw", "check": "ufw", "action": e.action, "rule": f"{port}/{e.side.proto}"}
        )
        if e.side.direction == "in" and e.listener == "required" and e.side.proto == "tcp":
            bound = address if port == 22 else "0.0.0.0"  # the lab's sshd listens on the management address
            rows.append(
                {"key": f"{e.key}-listening", "check": "listening", "socket": f"tcp://{bound}:{port}"}
            )
        for d in e.side.destinations:
            host = destinations.get(d.value) if d.kind == "configured" else d.value
            if e.side.direction == "out" and e.action == "allow" and e.side.proto == "tcp" and host:
                rows.append({"key": f"{e.key}-reach-{host}", "check": "reach", "host": host, "port": port})
    return rows[:limit] if limit else rows


def run_plugin(names: list[str], env: dict[str, str], timeout: float, work: Path) -> tuple[float, float, int]:
    devices = [arg for name in names for arg in ("--device", f"{SPEC}@lab:{name}")]
    work = work / "plugin"  # an empty directory: the plugin's items come from --device alone
    work.mkdir(exist_ok=True)
    return measured(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "--probe-timeout",
            str(timeout),
            *devices,
        ],
        work,
        env,
    )


def run_baseline(
    state: dict[str, object], rows: list[dict[str, object]], env: dict[str, str], timeout: float, work: Path
) -> tuple[float, float, int]:
    work = work / "baseline"  # apart from the plugin's runs, which must not collect it
    work.mkdir(exist_ok=True)
    (work / "test_naive.py").write_text(
        BASELINE_HEAD.format(rows=rows, timeout=int(timeout)), encoding="utf-8"
    )
    ssh_config = work / "ssh_config"
    ssh_config.write_text(
        f"Host {state['management_address']}\n  UserKnownHostsFile {state['known_hosts']}\n"
        f"  IdentityFile {state['private_key']}\n  User portspec\n",
        encoding="utf-8",
    )
    return measured(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "test_naive.py",
            f"--hosts=paramiko://portspec@{state['management_address']}",
            f"--ssh-config={ssh_config}",
        ],
        work,
        env,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fleet", default="1,10,30", help="fleet sizes, comma separated")
    parser.add_argument("--rows", type=int, default=None, help="limit the baseline to N rows (smoke runs)")
    parser.add_argument("--probe-timeout", type=float, default=1.0)
    args = parser.parse_args(argv)
    fleet = sorted({int(n) for n in args.fleet.split(",")})
    env = dict(os.environ, **{LAB_DIR_ENV: str(LAB_DIR)})
    os.environ[LAB_DIR_ENV] = str(LAB_DIR)
    lab = Lab(Store(LAB_DIR))
    lab.down(everything=True)
    results: dict[str, object] = {}
    try:
        with tempfile.TemporaryDirectory() as scratch:
            work = Path(scratch)
            states = [lab.up(UpRequest(SPEC, name=f"bench-{i}")) for i in range(1, max(fleet) + 1)]
            first = states[0]
            before = sessions(first)
            plugin_s, plugin_rss, _ = run_plugin([first["name"]], env, args.probe_timeout, work)
            plugin_commands = sessions(first) - before
            rows = baseline_rows(args.rows, dict(first["destinations"]), str(first["management_address"]))
            before = sessions(first)
            base_s, base_rss, base_status = run_baseline(first, rows, env, args.probe_timeout, work)
            base_commands = sessions(first) - before
            fleets = {
                n: run_plugin([s["name"] for s in states[:n]], env, args.probe_timeout, work) for n in fleet
            }
    finally:
        lab.down(everything=True)
    one = fleets[min(fleet)][0]
    results = {
        "plugin": {
            "seconds": round(plugin_s, 2),
            "remote_commands": plugin_commands,
            "peak_rss_mib": round(plugin_rss, 1),
        },
        "baseline": {
            "seconds": round(base_s, 2),
            "remote_commands": base_commands,
            "rows": len(rows),
            "peak_rss_mib": round(base_rss, 1),
        },
        "speedup": round(base_s / plugin_s, 1),
        "fleet": {
            n: {"seconds": round(s, 2), "vs_one": round(s / one, 2), "peak_rss_mib": round(rss, 1)}
            for n, (s, rss, _) in fleets.items()
        },
    }
    print(
        f"plugin, one appliance:   {plugin_s:6.2f} s, {plugin_commands} remote commands, "
        f"{plugin_rss:.0f} MiB peak"
    )
    print(
        f"naive baseline ({len(rows)} rows): {base_s:6.2f} s, {base_commands} remote commands, "
        f"{base_rss:.0f} MiB peak"
    )
    if base_status != 0:
        print(f"note: the naive baseline's pytest exited {base_status} (see its last-run.log)")
    print(
        f"plugin is {base_s / plugin_s:.1f}x faster than the baseline, with "
        f"{plugin_commands} vs {base_commands} remote commands per device"
    )
    for n, (s, rss, status) in fleets.items():
        print(
            f"fleet of {n:3d}: {s:6.2f} s ({s / one:.2f}x one appliance), {rss:.0f} MiB peak, "
            f"pytest exit {status}"
        )
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
