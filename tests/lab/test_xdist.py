"""End to end under pytest-xdist: `pytest -n 2` against two emulated appliances says what a run
in one process says, and each appliance still takes its three remote commands, once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_portspec.lab.fixture import Appliance, LabSession

VARYING = ("snapshot_s",)  # device fields that differ from one run to the next
VARYING_RESULT = ("evidence",)  # probe timings ("ok in 1 ms")


def commands(appliance: Appliance) -> int:
    """Remote commands run on an appliance so far: sshd logs one 'Starting session' per command."""
    log = Path(str(appliance.state["known_hosts"])).parent / "sshd.log"
    return log.read_text(encoding="utf-8", errors="replace").count("Starting session: command")


def run(pytester: pytest.Pytester, name: str, *args: str) -> tuple[pytest.RunResult, dict[str, Any]]:
    out = pytester.path / f"{name}.json"
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--device",
        "smartserver@lab:xdist-a",
        "--device",
        "smartserver@lab:xdist-b",
        "--probe-timeout",
        "1",
        "--portspec-json",
        str(out),
        *args,
    )
    assert result.ret == 1, result.stdout.str()[-3000:]  # the drift's failure
    data: dict[str, Any] = json.loads(out.read_text())
    return result, data


def comparable(data: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    devices = [{k: v for k, v in d.items() if k not in VARYING} for d in data["devices"]]
    results = [{k: v for k, v in r.items() if k not in VARYING_RESULT} for r in data["results"]]
    return devices, results


def test_two_workers_give_the_results_of_one_process_with_one_snapshot_per_appliance(
    lab: LabSession, pytester: pytest.Pytester
) -> None:
    drifted = lab.up("smartserver", name="xdist-a", drifts=["ufw-allow:502/tcp"])
    clean = lab.up("smartserver", name="xdist-b")
    try:
        plain, plain_data = run(pytester, "plain")
        before = [commands(drifted), commands(clean)]
        spread, spread_data = run(pytester, "spread", "-n", "2", "--html", "report.html")
        after = [commands(drifted), commands(clean)]
        partial, partial_data = run(pytester, "partial", "-n", "2", "-m", "not inbound")
    finally:
        lab.down(drifted, clean)

    # one snapshot, one probe command and one proof per appliance, from one worker each
    assert [a - b for a, b in zip(after, before, strict=True)] == [3, 3]
    assert [d["remote_commands"] for d in spread_data["devices"]] == [3, 3]
    spread.stdout.fnmatch_lines(["portspec: pytest-xdist --dist loadgroup (chosen by portspec for -n)*"])
    spread.stdout.fnmatch_lines(["created: 2/2 workers"])

    # the same items, outcomes and failures as in one process
    assert spread.parseoutcomes() == plain.parseoutcomes()
    assert plain.parseoutcomes()["failed"] == 1
    failed = [r["nodeid"] for r in spread_data["results"] if r["outcome"] == "failed"]
    assert failed == [f"smartserver[enhanced]@{drifted.address}::in-502-tcp::ufw"]
    assert "not run" not in {r["outcome"] for r in spread_data["results"]}

    # the results file: both devices with their snapshots, proofs and explained rules, all results
    assert comparable(spread_data) == comparable(plain_data)
    for device in spread_data["devices"]:
        assert device["read_only"] is True
        assert device["snapshot"]["ufw-status"].startswith("Status: active")
        assert device["ufw_rules"] and device["host_key"]
        assert device["fingerprint"]["start"] == device["fingerprint"]["end"]

    # the terminal's per-device lines and the sign-off report, on the controller
    lines = spread.stdout.lines
    for device in spread_data["devices"]:  # (a label's brackets are no glob)
        assert any(line.startswith(f"portspec {device['device']}: 3 remote command(s), ") for line in lines)
    page = (pytester.path / "report.html").read_text(encoding="utf-8")
    assert "NOT ACCEPTED" in page
    for device in spread_data["devices"]:
        assert device["device"] in page

    # a partial run says so on the controller: the workers' deselection is not lost
    inbound = sum(r["check"] == "inbound" for r in plain_data["results"])
    assert inbound and partial_data["run"]["deselected"] == inbound
    line = f"portspec: partial run, not a sign-off: {inbound} check(s) not selected (-m*"
    partial.stdout.fnmatch_lines([line])


CHANGE_DURING_THE_RUN = """
import json

import pytest

from pytest_portspec.lab.fixture import Appliance

STATE = json.loads({state!r})
changed = []


@pytest.hookimpl
def pytest_portspec_verdict(device, verdict):
    # on the worker, after the snapshot: someone opens a port while the acceptance run goes on
    if not changed:
        changed.append(Appliance(STATE).run("sudo -n ufw allow 5555/tcp"))
    return None
"""


def test_a_firewall_changed_under_a_worker_fails_the_session_on_the_controller(
    lab: LabSession, pytester: pytest.Pytester
) -> None:
    appliance = lab.up("smartserver", name="xdist-changed")
    pytester.makeconftest(CHANGE_DURING_THE_RUN.format(state=json.dumps(appliance.state)))
    out = pytester.path / "changed.json"
    try:
        result = pytester.runpytest_subprocess(
            "-p",
            "no:cacheprovider",
            "-n",
            "2",
            "--device",
            "smartserver@lab:xdist-changed",
            "--probe-timeout",
            "1",
            "--portspec-json",
            str(out),
        )
    finally:
        lab.down(appliance)
    outcomes = result.parseoutcomes()
    assert "failed" not in outcomes and "error" not in outcomes  # every check passed ...
    assert result.ret == 1, result.stdout.str()[-3000:]  # ... and yet the session fails
    device = json.loads(out.read_text())["devices"][0]
    assert device["read_only"] is False
    assert device["fingerprint"]["start"] != device["fingerprint"]["end"]
    assert (
        f"portspec {device['device']}: SESSION ERROR: the device's firewall state changed during the run "
        "(ufw files or iptables rules differ from the start)"
    ) in result.stdout.lines
