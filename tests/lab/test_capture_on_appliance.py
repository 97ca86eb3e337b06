"""Offline evidence on a real emulated appliance: the generated capture script run ON the appliance
(as root, in its own mount and network namespaces), its bundle judged offline, and the verdicts
compared with a live run of the same appliance: the same, except the inbound items (skipped)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from plugin_runs import run_plugin

from pytest_portspec.cli import main
from pytest_portspec.device.bundle import NOT_VERIFIABLE
from pytest_portspec.device.bundle_format import read_bundle
from pytest_portspec.lab.appliance import enter
from pytest_portspec.lab.fixture import Appliance, LabSession

DRIFTS = ["ufw-allow:502/tcp", "site-block:25/tcp", "stop:nginx"]  # a ufw, an outbound, a listening failure


def capture(
    appliance: Appliance, workdir: Path, dests: list[str], capsys: pytest.CaptureFixture[str]
) -> Path:
    """The capture script as `portspec capture-script` prints it, run by root on the appliance."""
    capsys.readouterr()  # what ran before (the live run's pytest) is not the script
    assert main(["capture-script", "smartserver", "--enable", "all", *dests]) == 0
    script = capsys.readouterr().out
    done = subprocess.run(
        [*enter(int(appliance.state["pids"]["sshd"])), "sh", "-s", "/dev/stdout"],
        input=script.encode(),
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    bundle = workdir / "smartserver.bundle"
    bundle.write_bytes(done.stdout)
    return bundle


def verdicts(data: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    """Each item's (outcome, failure class), by its id without the device label."""
    return {r["nodeid"].split("::", 1)[1]: (r["outcome"], r.get("failure_class")) for r in data["results"]}


def test_a_capture_made_on_the_appliance_gives_the_live_verdicts_but_inbound(
    lab: LabSession, pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    appliance = lab.up("smartserver", name="captured", enable=["all"], drifts=DRIFTS)
    # the lab's stand-ins for the site's servers, which a live lab run declares by itself
    dests = [f"--dest={key}={host}" for key, host in sorted(appliance.state["destinations"].items())]
    live = run_plugin(pytester, "--device", "smartserver@lab:captured")
    path = capture(appliance, pytester.path, dests, capsys)
    bundle = read_bundle(path, "captured")
    offline = run_plugin(pytester, "--device", f"smartserver@bundle:{path}", "--enable", "all", *dests)

    live_items, offline_items = verdicts(live), verdicts(offline)
    assert live_items.keys() == offline_items.keys()
    inbound = {k for k in live_items if k.endswith("::inbound")}
    assert inbound and {offline_items[k][0] for k in inbound} == {"skipped"}
    assert {k: v for k, v in offline_items.items() if k not in inbound} == {
        k: v for k, v in live_items.items() if k not in inbound
    }
    failed = {k for k, (outcome, _) in offline_items.items() if outcome == "failed"}
    assert {"in-502-tcp::ufw", "out-25-tcp::outbound"} <= failed, failed  # the drifts are seen
    skipped = [r for r in offline["results"] if r["nodeid"].endswith("::inbound") and r.get("observed")]
    assert any(NOT_VERIFIABLE in r["observed"] for r in skipped)

    (device,) = offline["devices"]
    assert device["capture"]["bundle_sha256"] == bundle.sha256
    assert device["capture"]["captured_by"] == "root" and device["read_only"] is True
    assert "capture" not in live["devices"][0]  # a live device's record is as before
