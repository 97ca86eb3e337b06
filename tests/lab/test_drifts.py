"""Each drift changes exactly what it says on a real appliance, compared with a clean twin."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from pytest_portspec.lab.fixture import Appliance, LabSession

DRIFTS = [
    "listen:8080/tcp:java",
    "stop:nginx",
    "ufw-allow:502/tcp",
    "ufw-delete:2541/tcp",
    "expose:6379",
    "ufw-default-in:allow",
    "ufw-default-out:allow",
    "site-block:123/udp",
    "dns-fail:smtp.portspec.lab",
]

SNTP_CLIENT = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.sendto(b"\\x23" + bytes(47), (sys.argv[1], 123))
try:
    print("mode", s.recv(512)[0] & 7)
except OSError as exc:
    print("no-reply", type(exc).__name__)
"""


@dataclass(frozen=True)
class Twins:
    clean: Appliance
    drifted: Appliance


@pytest.fixture(scope="module")
def twins(lab: LabSession) -> Iterator[Twins]:
    clean = lab.up("smartserver", name="clean")
    drifted = lab.up("smartserver", name="drifted", drifts=DRIFTS)
    yield Twins(clean, drifted)


def out(appliance: Appliance, command: str) -> str:
    status, stdout, stderr = appliance.run(command)
    assert status == 0, stderr
    return stdout


def ufw_rules(appliance: Appliance) -> set[str]:
    """ufw's rule lines without the management rule's own address (it differs per appliance)."""
    text = out(appliance, "sudo -n ufw status verbose")
    return {
        re.sub(r"198\.18\.\d+\.1", "HOST", " ".join(line.split()))
        for line in text.splitlines()
        if "ALLOW" in line or "DENY" in line or line.startswith("Default:")
    }


def sockets(appliance: Appliance) -> set[tuple[str, str, str]]:
    """(proto, local address:port, process) of every socket; ephemeral ports and the sshd address folded."""
    found = set()
    for line in out(appliance, "sudo -n ss -H -tulpn").splitlines():
        fields = line.split()
        process = re.search(r'\(\("([^"]+)"', line)
        address, _, port = fields[4].rpartition(":")
        address = re.sub(r"198[.]18[.][0-9]+[.]2", "MGMT", address)
        local = f"{address}:{'EPHEMERAL' if int(port) >= 32768 else port}"
        found.add((fields[0], local, process.group(1) if process else "?"))
    return found


def test_the_drifts_are_recorded_in_status(lab: LabSession, twins: Twins) -> None:
    states = {s["name"]: s for s in lab.lab.status()}
    assert states["drifted"]["drifts"] == DRIFTS
    assert states["clean"]["drifts"] == []


def test_socket_drifts_change_only_their_sockets(twins: Twins) -> None:
    clean, drifted = sockets(twins.clean), sockets(twins.drifted)
    assert drifted - clean == {("tcp", "0.0.0.0:8080", "java"), ("tcp", "0.0.0.0:6379", "redis-server")}
    assert clean - drifted == {("tcp", "0.0.0.0:443", "nginx"), ("tcp", "127.0.0.1:6379", "redis-server")}


def test_ufw_drifts_change_only_their_rules(twins: Twins) -> None:
    clean, drifted = ufw_rules(twins.clean), ufw_rules(twins.drifted)
    assert drifted - clean == {
        "Default: allow (incoming), allow (outgoing), disabled (routed)",
        "502/tcp ALLOW IN Anywhere",
        "502/tcp (v6) ALLOW IN Anywhere (v6)",
    }
    assert clean - drifted == {
        "Default: deny (incoming), deny (outgoing), disabled (routed)",
        "2541/tcp ALLOW IN Anywhere",
        "2541/tcp (v6) ALLOW IN Anywhere (v6)",
    }


def test_site_block_drops_ntp_upstream_only_for_the_drifted_appliance(twins: Twins) -> None:
    server = twins.clean.state["hosts"]["ntp.portspec.lab"]
    assert out(twins.clean, f"python3 -c '{SNTP_CLIENT}' {server}").split() == ["mode", "4"]
    assert out(twins.drifted, f"python3 -c '{SNTP_CLIENT}' {server}").split()[0] == "no-reply"


def test_dns_fail_breaks_only_that_name(twins: Twins) -> None:
    status, _, _ = twins.drifted.run("getent hosts smtp.portspec.lab")
    assert status == 2  # getent: key not found
    assert out(twins.clean, "getent hosts smtp.portspec.lab").split()[1] == "smtp.portspec.lab"
    assert out(twins.drifted, "getent hosts modbus.portspec.lab").split()[1] == "modbus.portspec.lab"


def test_ufw_inactive_disables_the_firewall(lab: LabSession) -> None:
    appliance = lab.up("coppercube", name="inactive", drifts=["ufw-inactive"])
    try:
        assert out(appliance, "sudo -n ufw status").strip() == "Status: inactive"
    finally:
        lab.down(appliance)
