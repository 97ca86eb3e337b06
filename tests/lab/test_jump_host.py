"""A device reached only through a jump host (issue 16): another emulated appliance is the jump host,
and the device's management link is moved into the jump host's namespace (lab/enclave.py), so the
tester cannot reach the device at all. The run goes through the jump host's sshd (direct-tcpip);
inbound probes are sent from the jump host with --inbound-from jump, and skipped (never passed)
without it; a jump host whose key is not in known_hosts is refused like a device.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_portspec.lab.enclave import move_management, restore_management
from pytest_portspec.lab.fixture import Appliance, LabSession
from pytest_portspec.lab.store import Store

BOUND = 240  # seconds a whole plugin run may take


@pytest.fixture(scope="module")
def site(lab: LabSession, lab_store: Store) -> Iterator[tuple[Appliance, Appliance]]:
    jump = lab.up("smartserver", name="jump-host", drifts=["ufw-inactive"])
    device = lab.up("smartserver", name="behind-jump")
    move_management(lab_store, [device.name], jump.state["netns"])
    try:
        yield jump, device
    finally:
        restore_management(lab_store, [device.name])
        lab.down(jump, device)


def reaches(address: str) -> bool:
    try:
        with socket.create_connection((address, 22), timeout=2):
            return True
    except OSError:
        return False


def run_through(
    pytester: pytest.Pytester, site: tuple[Appliance, Appliance], known: Path, *extra: str
) -> dict[str, Any]:
    jump, device = site
    out = pytester.path / "results.json"
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--probe-timeout", "1", "--connect-timeout", "3",
        "--portspec-json", str(out),
        "--device", f"smartserver@{device.address}",
        "--ssh-proxy-jump", f"portspec@{jump.address}",
        "--ssh-user", "portspec", "--ssh-key", device.state["private_key"], "--known-hosts", str(known),
        *extra,
        timeout=BOUND,
    )  # fmt: skip
    text = result.stdout.str()
    assert result.ret in (0, 1) and "Traceback" not in text, text[-3000:]
    data: dict[str, Any] = json.loads(out.read_text())
    data["stdout"] = text
    return data


def known_hosts(tmp_path: Path, *appliances: Appliance) -> Path:
    path = tmp_path / "known_hosts"
    path.write_text("".join(Path(a.state["known_hosts"]).read_text() for a in appliances))
    return path


def inbound(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in data["results"] if r.get("check") == "inbound"]


def test_the_tester_cannot_reach_the_device_but_the_jump_host_can(site: tuple[Appliance, Appliance]) -> None:
    jump, device = site
    assert reaches(jump.address) and not reaches(device.address)


def test_inbound_probes_leave_from_the_jump_host_when_asked(
    site: tuple[Appliance, Appliance], pytester: pytest.Pytester, tmp_path: Path
) -> None:
    jump, _ = site
    data = run_through(pytester, site, known_hosts(tmp_path, *site), "--inbound-from", "jump")
    assert data["devices"][0]["error"] is None, data["devices"][0]["error"]
    assert data["devices"][0]["reached_through"] == f"jump host portspec@{jump.address}:22"
    items = inbound(data)
    assert items and {r["outcome"] for r in items} >= {"passed"}
    probed = [r for r in items if r["outcome"] in ("passed", "failed")]
    assert probed and all(
        any(f"from jump host portspec@{jump.address}:22 ({jump.address})" in e for e in r["evidence"])
        for r in probed
    )


def test_without_inbound_from_jump_every_inbound_item_is_skipped_with_the_reason(
    site: tuple[Appliance, Appliance], pytester: pytest.Pytester, tmp_path: Path
) -> None:
    jump, _ = site
    data = run_through(pytester, site, known_hosts(tmp_path, *site))
    assert data["devices"][0]["error"] is None, data["devices"][0]["error"]
    items = inbound(data)
    reason = (
        f"reached through jump host portspec@{jump.address}:22: inbound probes would leave from this tester"
    )
    assert items and all(r["outcome"] == "skipped" for r in items)
    probed = [r for r in items if "inbound probes would leave" in (r.get("observed") or "")]
    assert probed and all(reason in r["observed"] for r in probed)
    assert {r["outcome"] for r in data["results"] if r.get("check") != "inbound"} & {"passed"}  # the rest ran


def test_a_jump_host_whose_key_is_not_known_is_refused(
    site: tuple[Appliance, Appliance], pytester: pytest.Pytester, tmp_path: Path
) -> None:
    jump, device = site
    data = run_through(pytester, site, known_hosts(tmp_path, device))  # the device's key only
    error = data["devices"][0]["error"]
    assert error is not None and error.startswith(
        f"jump host portspec@{jump.address}:22: {jump.address} is not in known_hosts"
    )
    assert {r["outcome"] for r in data["results"]} == {"error"}
