"""Speed and memory of pytest-portspec against a naive per-row testinfra baseline, in one run.

    sudo python benchmarks/bench.py [--fleet 1,10,30] [--rows N] [--probe-timeout S] [--repeat N]
                                    [--lab-dir DIR]
    sudo python benchmarks/bench.py --scan [--scan-fleet 10] [--scan-rate 20000]   (scan_bench.py)

On the emulator (its own lab directory, taken down at the end; a second benchmark on the same
directory waits for the first instead of tearing its appliances down) it measures side by side:
1. the plugin on one SmartServer (Enhanced security) appliance;
2. a naive baseline written the way testinfra users commonly do it — one pytest test per row,
   `host.run("sudo ufw status verbose")`, `host.socket(...)`, `nc -z` per destination — over the
   same rows of the same appliance;
3. fleets of appliances checked by the plugin in one run.
It prints wall-time ratios, remote commands per device (counted in the appliances' sshd logs),
peak RSS and CPU time of each pytest process, and the machine's busy core-seconds during each
run (the emulated appliances share the machine's cores with pytest). Each figure is the median
of --repeat runs after one untimed warm-up run of each kind, with Python's bytecode cache on as
in any installation (PYTHONDONTWRITEBYTECODE is dropped: otherwise every run would recompile the
plugin but not the baseline's site-packages). No assertion: the numbers are for
docs/performance.md.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import sys
import tempfile
from functools import partial
from pathlib import Path

from runs import Run, figures, measured, median, pytest_argv, startup

from pytest_portspec.lab.controller import Lab, UpRequest
from pytest_portspec.lab.store import LAB_DIR_ENV, Store
from pytest_portspec.spec.catalog import find_spec
from pytest_portspec.spec.policy import effective_policy

LAB_DIR = Path("/var/lib/portspec-lab-bench")
SPEC = "smartserver"


def sessions(state: dict[str, object]) -> int:
    """Remote commands run on an appliance so far: sshd logs one 'Starting session' per command."""
    log = Path(str(state["known_hosts"])).parent / "sshd.log"
    return log.read_text(encoding="utf-8", errors="replace").count("Starting session: command")


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
    elif row["check"] == "not-allowed":
        status = host.run("sudo ufw status verbose").stdout
        assert not any(l.startswith(row["rule"]) and "ALLOW IN" in l for l in status.splitlines())
    elif row["check"] == "loopback-only":
        assert not host.socket(row["socket"]).is_listening
    else:
        assert host.run("nc -z -w {timeout} %s %s" % (row["host"], row["port"])).rc == 0
"""


def _loopback_rows(key: str, port: int, proto: str) -> list[dict[str, object]]:
    """A loopback-only row, naively: never opened in ufw, and not listening beyond loopback."""
    return [
        {"key": f"{key}-ufw", "check": "not-allowed", "rule": f"{port}/{proto}"},
        {"key": f"{key}-loopback", "check": "loopback-only", "socket": f"{proto}://0.0.0.0:{port}"},
    ]


def baseline_rows(limit: int | None, destinations: dict[str, str], address: str) -> list[dict[str, object]]:
    """The same rows the plugin checks, as one naive test each."""
    policy = effective_policy(find_spec(SPEC))
    rows: list[dict[str, object]] = []
    for e in policy.rows:
        if not e.applies or not e.row.ports:
            continue
        port = e.row.ports[0].lo
        if e.row.scope == "loopback" and e.side.direction == "in":
            rows += _loopback_rows(e.key, port, e.side.proto)
        if e.row.scope != "external":
            continue
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


def run_plugin(names: list[str], env: dict[str, str], timeout: float, work: Path, *extra: str) -> Run:
    devices = [arg for name in names for arg in ("--device", f"{SPEC}@lab:{name}")]
    work = work / "plugin"  # an empty directory: the plugin's items come from --device alone
    work.mkdir(exist_ok=True)
    return measured(pytest_argv("--probe-timeout", str(timeout), *devices, *extra), work, env)


def run_baseline(
    state: dict[str, object], rows: list[dict[str, object]], env: dict[str, str], timeout: float, work: Path
) -> Run:
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
    host = f"--hosts=paramiko://portspec@{state['management_address']}"
    return measured(pytest_argv("test_naive.py", host, f"--ssh-config={ssh_config}"), work, env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fleet", default="1,10,30", help="fleet sizes, comma separated")
    parser.add_argument("--rows", type=int, default=None, help="limit the baseline to N rows (smoke runs)")
    parser.add_argument("--probe-timeout", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each measurement (median)")
    parser.add_argument("--lab-dir", type=Path, default=LAB_DIR, help=f"lab directory (default {LAB_DIR})")
    from fake_fleet import add_arguments  # --fake-fleet and its options
    from scan_bench import add_arguments as add_scan_arguments  # --scan and its options

    add_arguments(parser)
    add_scan_arguments(parser)
    args = parser.parse_args(argv)
    if args.fake_fleet:
        from fake_fleet import fake_fleet_main

        return fake_fleet_main(args)
    fleet = sorted({int(n) for n in args.fleet.split(",")})
    repeat = max(1, args.repeat)
    lab_dir: Path = args.lab_dir
    env = dict(os.environ, **{LAB_DIR_ENV: str(lab_dir)})
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ[LAB_DIR_ENV] = str(lab_dir)
    lab_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(lab_dir.with_name(lab_dir.name + ".bench-lock"), "w", encoding="ascii") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # held until the end: the lab directory is this run's alone
        if args.scan:
            from scan_bench import scan_main

            with tempfile.TemporaryDirectory() as scratch:
                return scan_main(args, lab_dir, env, Path(scratch))
        return measure(args, fleet, repeat, lab_dir, env)


def measure(
    args: argparse.Namespace, fleet: list[int], repeat: int, lab_dir: Path, env: dict[str, str]
) -> int:
    lab = Lab(Store(lab_dir))
    lab.down(everything=True)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            work = Path(scratch)
            states = [lab.up(UpRequest(SPEC, name=f"bench-{i}")) for i in range(1, max(fleet) + 1)]
            first = states[0]
            floor = median(lambda: startup(env, work), repeat)
            without = median(lambda: startup(env, work, "-p", "no:portspec"), repeat)
            before = sessions(first)
            plugin = median(lambda: run_plugin([first["name"]], env, args.probe_timeout, work), repeat)
            plugin_commands = (sessions(first) - before) / (repeat + 1)
            # the baseline's own checks (ufw, listening, outbound): no inbound probe from the tester
            same = median(
                lambda: run_plugin([first["name"]], env, args.probe_timeout, work, "-m", "not inbound"),
                repeat,
            )
            rows = baseline_rows(args.rows, dict(first["destinations"]), str(first["management_address"]))
            before = sessions(first)
            base = median(lambda: run_baseline(first, rows, env, args.probe_timeout, work), repeat)
            base_commands = (sessions(first) - before) / (repeat + 1)
            names = [str(s["name"]) for s in states]
            timeout = args.probe_timeout
            fleets = {n: median(partial(run_plugin, names[:n], env, timeout, work), repeat) for n in fleet}
    finally:
        lab.down(everything=True)
    one = fleets[min(fleet)].seconds
    results = {
        "startup": figures(floor),
        "startup_without_plugin": figures(without),
        "plugin": {**figures(plugin), "remote_commands": plugin_commands},
        "baseline": {**figures(base), "remote_commands": base_commands, "rows": len(rows)},
        "speedup": round(base.seconds / plugin.seconds, 1),
        "plugin_same_checks": figures(same),
        "speedup_same_checks": round(base.seconds / same.seconds, 1),
        "fleet": {n: {**figures(r), "vs_one": round(r.seconds / one, 2)} for n, r in fleets.items()},
        "cores": os.cpu_count(),
        "repeat": repeat,
    }
    print(f"medians of {repeat} run(s) after a warm-up, {os.cpu_count()} cores")
    print(f"pytest start-up alone:   {floor.seconds:6.2f} s (collecting nothing: the floor of every run)")
    print(
        f"  of which the plugin:   {floor.seconds - without.seconds:6.2f} s (what it adds to any pytest run "
        f"of its environment: {without.seconds:.2f} s with -p no:portspec)"
    )
    print(
        f"plugin, one appliance:   {plugin.seconds:6.2f} s, {plugin_commands:g} remote commands, "
        f"{plugin.rss_mib:.0f} MiB peak, {plugin.cpu_s:.2f} s CPU"
    )
    print(
        f"naive baseline ({len(rows)} rows): {base.seconds:6.2f} s, {base_commands:g} remote commands, "
        f"{base.rss_mib:.0f} MiB peak, {base.cpu_s:.2f} s CPU"
    )
    if base.status != 0:
        print(f"note: the naive baseline's pytest exited {base.status} (see its last-run.log)")
    print(
        f"plugin is {base.seconds / plugin.seconds:.1f}x faster than the baseline, with "
        f"{plugin_commands:g} vs {base_commands:g} remote commands per device"
    )
    print(
        f"plugin without inbound probes (-m 'not inbound', the baseline's checks): {same.seconds:.2f} s, "
        f"{base.seconds / same.seconds:.1f}x faster than the baseline"
    )
    for n, r in fleets.items():
        print(
            f"fleet of {n:3d}: {r.seconds:6.2f} s ({r.seconds / one:.2f}x one appliance), "
            f"{r.rss_mib:.0f} MiB peak, pytest {r.cpu_s:.2f} s CPU, machine busy {r.busy_s:.2f} "
            f"core-s of {r.seconds * (os.cpu_count() or 1):.2f}, pytest exit {r.status}"
        )
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
