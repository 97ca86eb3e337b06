"""A device that cannot be checked gives every one of its items an error with one clear message,
in bounded time, while the other devices carry on. Never a pass."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from pytest_portspec.lab.fixture import Appliance, LabSession
from pytest_portspec.lab.processes import netns_pids

BOUND = 90  # seconds: every run here must end well within it


def run_plugin(pytester: pytest.Pytester, *args: str) -> tuple[dict[str, Any], str]:
    out = pytester.path / "results.json"
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--probe-timeout",
        "1",
        "--connect-timeout",
        "3",
        "--portspec-json",
        str(out),
        *args,
        timeout=BOUND,
    )
    text = result.stdout.str()
    assert "Traceback" not in text
    return json.loads(out.read_text()), text


def outcomes(data: dict[str, Any], device: str) -> set[str]:
    return {r["outcome"] for r in data["results"] if r["device"] == device}


def direct(appliance: Appliance, *extra: str) -> list[str]:
    """Address the appliance like a real device: by address, with explicit SSH settings."""
    return [
        "--device",
        f"{appliance.state['spec']}@{appliance.address}",
        "--ssh-user",
        "portspec",
        "--known-hosts",
        appliance.state["known_hosts"],
        *extra,
    ]


@pytest.fixture
def spare(lab: LabSession) -> Appliance:
    appliance = lab.up("coppercube", name="spare")
    yield appliance  # type: ignore[misc]
    lab.down(appliance)


def assert_device_error(data: dict[str, Any], text: str, message: str) -> None:
    device = data["devices"][0]
    assert message in device["error"]
    assert outcomes(data, device["device"]) == {"error"}
    assert message in text


def test_sshd_stopped(lab: LabSession, pytester: pytest.Pytester) -> None:
    appliance = lab.up("coppercube", name="nosshd")
    os.kill(appliance.state["pids"]["sshd"], signal.SIGTERM)
    time.sleep(0.3)
    data, text = run_plugin(pytester, "--device", "coppercube@lab:nosshd")
    assert_device_error(data, text, "refused the SSH connection (is sshd running?)")
    lab.down(appliance)


def test_wrong_key(spare: Appliance, pytester: pytest.Pytester, tmp_path: Path) -> None:
    key = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    data, text = run_plugin(pytester, *direct(spare, "--ssh-key", str(key)))
    assert_device_error(data, text, "SSH authentication as portspec failed")


def test_unknown_host_key_is_refused_by_default(
    spare: Appliance, pytester: pytest.Pytester, tmp_path: Path
) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    args = [
        "--device",
        f"coppercube@{spare.address}",
        "--ssh-user",
        "portspec",
        "--ssh-key",
        spare.state["private_key"],
        "--known-hosts",
        str(empty),
    ]
    data, text = run_plugin(pytester, *args)
    assert_device_error(data, text, "is not in known_hosts")
    data, _ = run_plugin(pytester, *args, "--host-key-policy", "accept-new")
    assert data["devices"][0]["error"] is None
    assert spare.address in empty.read_text()


def test_sudo_that_wants_a_password(lab: LabSession, pytester: pytest.Pytester) -> None:
    appliance = lab.up("coppercube", name="sudopw", drifts=["sudo-password"])
    data, text = run_plugin(pytester, "--device", "coppercube@lab:sudopw")
    assert_device_error(data, text, "sudo needs a password on this device: pass --sudo-password-env VAR")
    password = Path(appliance.state["sudo_password_file"]).read_text()
    os.environ["LAB_SUDO_PASSWORD"] = password
    try:
        data, text = run_plugin(
            pytester, "--device", "coppercube@lab:sudopw", "--sudo-password-env", "LAB_SUDO_PASSWORD"
        )
    finally:
        del os.environ["LAB_SUDO_PASSWORD"]
    assert data["devices"][0]["error"] is None
    assert outcomes(data, data["devices"][0]["device"]) <= {"passed", "skipped"}
    assert password not in text and password not in json.dumps(data)
    lab.down(appliance)


def test_ufw_missing(lab: LabSession, pytester: pytest.Pytester) -> None:
    appliance = lab.up("coppercube", name="noufw", drifts=["ufw-missing"])
    data, text = run_plugin(pytester, "--device", "coppercube@lab:noufw")
    assert_device_error(data, text, "ufw is not installed or not on the PATH of the device")
    lab.down(appliance)


def test_a_connection_lost_in_the_middle_of_the_run(lab: LabSession, pytester: pytest.Pytester) -> None:
    # outbound probes that take the full probe time, so the connection can be cut while they run
    appliance = lab.up("coppercube", name="dropped", drifts=["site-block:443/tcp", "site-block:5671/tcp"])
    out = pytester.path / "results.json"
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "--device",
        "coppercube@lab:dropped",
        "--probe-timeout",
        "6",
        "--portspec-json",
        str(out),
    ]

    def comms() -> dict[int, str]:
        found = {}
        for pid in netns_pids(appliance.state["netns"]):
            try:
                found[pid] = Path(f"/proc/{pid}/comm").read_text().strip()
            except OSError:  # ended meanwhile
                continue
        return found

    def cut() -> None:
        # once the outbound probes run (the snapshot is taken: the probe program is python3)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "python3" not in comms().values():
            time.sleep(0.05)
        for pid, comm in comms().items():
            if comm == "sshd":
                os.kill(pid, signal.SIGKILL)

    cutter = threading.Thread(target=cut)
    cutter.start()
    done = subprocess.run(command, cwd=pytester.path, capture_output=True, text=True, timeout=BOUND)
    cutter.join()
    assert out.exists(), done.stdout[-2000:] + done.stderr[-2000:]
    data = json.loads(out.read_text())
    error = data["devices"][0]["error"] or ""
    # python3 also runs in the state command (probe tools): the cut may land in either command
    lost = ("the SSH connection dropped before", "the SSH connection was lost")
    assert any(words in error for words in lost), error + done.stdout[-2000:]
    assert outcomes(data, data["devices"][0]["device"]) == {"error"}
    lab.down(appliance)


def test_other_devices_carry_on(lab: LabSession, pytester: pytest.Pytester) -> None:
    good = lab.up("coppercube", name="good")
    dead = lab.up("digi-device-cloud", name="dead")
    os.kill(dead.state["pids"]["sshd"], signal.SIGTERM)
    time.sleep(0.3)
    data, _ = run_plugin(
        pytester, "--device", "coppercube@lab:good", "--device", "digi-device-cloud@lab:dead"
    )
    by_spec = {d["spec"]: d for d in data["devices"]}
    assert by_spec["digi-device-cloud"]["error"] is not None
    assert outcomes(data, by_spec["digi-device-cloud"]["device"]) == {"error"}
    assert by_spec["coppercube"]["error"] is None
    assert "passed" in outcomes(data, by_spec["coppercube"]["device"])
    assert "error" not in outcomes(data, by_spec["coppercube"]["device"])
    lab.down(good, dead)
