"""Every spec gets a working emulated appliance: SSH with the lab key, the documented ufw rules,
the vendor's listeners under their process names, the lab DNS and a real SNTP answer."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from pytest_portspec.lab.fixture import Appliance, LabSession
from pytest_portspec.lab.plan import AppliancePlan, plan_appliance
from pytest_portspec.spec.catalog import find_spec
from pytest_portspec.spec.policy import effective_policy

# (spec, role, conditions) — every spec, every role of the multi-node ones, every condition on
TARGETS = [
    ("coppercube", None, ["all"]),
    ("smartserver", None, ["all"]),
    ("digi-device-cloud", None, ["all"]),
    ("voss", "webproxy", ["all"]),
    ("voss", "application", ["all"]),
    ("voss", "database", ["all"]),
    ("voss", "unified", ["all"]),
    ("syncsign-sops", "sops", ["all"]),
    ("syncsign-sops", "hub", ["all"]),
]

SNTP_CLIENT = """
import socket, struct, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.sendto(b"\\x23" + bytes(47), (sys.argv[1], 123))
reply = s.recv(512)
print(reply[0] & 7, struct.unpack("!I", reply[40:44])[0] - 2208988800)
"""

TCP_CLIENT = """
import socket, sys
socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3).close()
print("connected")
"""


@dataclass(frozen=True)
class Up:
    appliance: Appliance
    plan: AppliancePlan


def target_id(target: tuple[str, str | None, list[str]]) -> str:
    return "-".join(filter(None, target[:2]))


@pytest.fixture(scope="module")
def appliances(lab: LabSession) -> Iterator[dict[str, Up]]:
    found = {}
    for spec, role, enable in TARGETS:
        appliance = lab.up(spec, role=role, enable=enable)
        policy = effective_policy(find_spec(spec), role=role, enable=enable)
        found[target_id((spec, role, enable))] = Up(
            appliance, plan_appliance(policy, appliance.state["index"])
        )
    yield found


@pytest.fixture(params=TARGETS, ids=target_id)
def up(request: pytest.FixtureRequest, appliances: dict[str, Up]) -> Up:
    return appliances[target_id(request.param)]


def ok(appliance: Appliance, command: str) -> str:
    status, out, err = appliance.run(command)
    assert status == 0, f"{command!r} failed ({status}): {err}"
    return out


def test_ssh_with_the_lab_key_and_passwordless_sudo(up: Up) -> None:
    assert ok(up.appliance, "id -un").strip() == "portspec"
    assert ok(up.appliance, "sudo -n id -u").strip() == "0"


def test_the_lab_user_exists_only_inside_the_appliance(up: Up) -> None:
    assert "portspec:" in ok(up.appliance, "cat /etc/passwd")
    with open("/etc/passwd", encoding="utf-8") as host_passwd:
        assert not [line for line in host_passwd if line.startswith("portspec:")]


def ufw_expected_lines(plan: AppliancePlan) -> set[str]:
    lines = set()
    for command in plan.ufw_commands:
        if command[0] in ("allow", "deny") and "proto" in command and "comment" not in command:
            ports = command[command.index("port") + 1]
            proto = command[command.index("proto") + 1]
            lines.add(f"{ports}/{proto} {command[0].upper()} {command[1].upper()}")
    return lines


def test_ufw_is_active_with_the_documented_rules(up: Up) -> None:
    status = ok(up.appliance, "sudo -n ufw status verbose")
    assert "Status: active" in status
    shown = {" ".join(line.split()[:3]) for line in status.splitlines() if "(v6)" not in line}
    missing = ufw_expected_lines(up.plan) - shown
    assert not missing, status
    defaults = dict(c[2:0:-1] for c in up.plan.ufw_commands if c[0] == "default")
    assert f"Default: {defaults['incoming']} (incoming), {defaults['outgoing']} (outgoing)" in status
    assert re.search(r"22/tcp on eth0 +ALLOW IN +198\.18\.\d+\.1 +# portspec-lab management access", status)


def test_the_vendor_listeners_run_under_their_process_names(up: Up) -> None:
    sockets = ok(up.appliance, "sudo -n ss -H -tulpn")
    for item in up.plan.listeners:
        port = str(item.port) if item.port else r"\d+"
        pattern = rf"^{item.proto} .*{re.escape(item.address)}:{port} .*\(\(\"{re.escape(item.process)}\","
        assert re.search(pattern, sockets, re.M), f"{item} not in:\n{sockets}"
    assert re.search(r"^tcp .*198\.18\.\d+\.2:22 .*\(\(\"sshd\",", sockets, re.M)


def test_the_lab_dns_resolves_the_specs_host_names(up: Up) -> None:
    assert ok(up.appliance, "cat /etc/resolv.conf").strip() == f"nameserver {up.appliance.state['resolver']}"
    for host in up.plan.hosts:
        resolved = ok(up.appliance, f"getent hosts {host}").split()
        assert resolved[0] == up.appliance.state["hosts"][host]
        assert resolved[0].startswith("198.19.")


def test_outbound_destinations_answer(up: Up) -> None:
    hosts = [h for h in up.plan.hosts if not h.endswith(".portspec.lab")] or list(up.plan.hosts)
    tcp = [port for proto, port in up.plan.internet_ports if proto == "tcp" and port != 53]
    if not hosts or not tcp:
        pytest.fail(f"{up.appliance.name} has no outbound TCP destination to try")  # every spec has one
    out = ok(up.appliance, f"python3 -c '{TCP_CLIENT}' {hosts[0]} {tcp[0]}")
    assert out.strip() == "connected"


@pytest.mark.parametrize(
    "target",
    [t for t in TARGETS if t[0] in ("coppercube", "smartserver", "digi-device-cloud", "voss")],
    ids=target_id,
)
def test_an_sntp_request_from_inside_gets_a_valid_reply(
    appliances: dict[str, Up], target: tuple[str, str | None, list[str]]
) -> None:
    up = appliances[target_id(target)]
    server = next(h for h in up.plan.hosts if "ntp" in h or "time" in h)
    mode, seconds = ok(up.appliance, f"python3 -c '{SNTP_CLIENT}' {server}").split()
    assert mode == "4"
    assert abs(int(seconds) - time.time()) < 5


def test_status_json_describes_every_appliance(lab: LabSession, appliances: dict[str, Up]) -> None:
    states = {s["name"]: s for s in lab.lab.status()}
    for up in appliances.values():
        state = states[up.appliance.name]
        assert state["status"] == "up"
        for key in (
            "name",
            "spec",
            "profile",
            "enabled",
            "drifts",
            "management_address",
            "ssh_user",
            "private_key",
            "known_hosts",
        ):
            assert key in state
        assert state["management_address"].startswith("198.18.")
