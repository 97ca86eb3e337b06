"""What an emulated appliance is made of, derived from specs (pure: no root, no namespaces)."""

from __future__ import annotations

import netaddr
import pytest

from pytest_portspec.errors import LabError
from pytest_portspec.lab.drifts import KINDS, apply_drifts
from pytest_portspec.lab.plan import Addresses, AppliancePlan, Listener, plan_appliance, service_address
from pytest_portspec.spec.catalog import find_spec
from pytest_portspec.spec.policy import effective_policy

LAB = netaddr.IPNetwork("198.18.0.0/15")


def plan(spec: str, index: int = 7, **kwargs: object) -> AppliancePlan:
    return plan_appliance(effective_policy(find_spec(spec), **kwargs), index)  # type: ignore[arg-type]


def listening(p: AppliancePlan) -> set[tuple[str, str, str, int]]:
    return {(item.process, item.proto, item.address, item.port) for item in p.listeners}


@pytest.mark.parametrize("index", [1, 7, 250])
def test_every_lab_address_is_in_198_18_0_0_15(index: int) -> None:
    a = Addresses(index)
    for address in (
        a.host,
        a.management,
        a.gateway,
        a.uplink,
        service_address(0),
        service_address(127 * 254 - 1),
    ):
        assert netaddr.IPAddress(address) in LAB
    assert (a.host, a.management) == (f"198.18.{index}.1", f"198.18.{index}.2")


def test_smartserver_enhanced_ufw_is_the_documented_policy() -> None:
    commands = plan("smartserver").ufw_commands
    assert commands[:3] == (
        ("default", "deny", "incoming"),
        ("default", "deny", "outgoing"),
        ("default", "deny", "routed"),
    )
    assert ("allow", "in", "on", "lo") in commands and ("allow", "out", "on", "lo") in commands
    management = [c for c in commands if "comment" in c]
    assert management == [
        (
            "allow",
            "in",
            "on",
            "eth0",
            "from",
            "198.18.7.1",
            "to",
            "any",
            "port",
            "22",
            "proto",
            "tcp",
            "comment",
            "portspec-lab management access",
        )
    ]
    rules = {c for c in commands if c[0] in ("allow", "deny") and "port" in c and "comment" not in c}
    assert rules == {
        ("allow", "in", "proto", "tcp", "to", "any", "port", port) for port in ("22", "443", "2541")
    } | {("allow", "in", "proto", "udp", "to", "any", "port", port) for port in ("67", "5353")} | {
        ("allow", "out", "proto", "tcp", "to", "any", "port", port)
        for port in ("25", "53", "80", "443", "502")
    } | {("allow", "out", "proto", "udp", "to", "any", "port", port) for port in ("53", "123")}


def test_standard_mode_allows_outbound_by_default_and_needs_no_deny_rules() -> None:
    commands = plan("smartserver", profile="standard").ufw_commands
    assert ("default", "allow", "outgoing") in commands
    assert not [c for c in commands if c[0] == "deny" and "port" in c]


def test_a_block_row_gets_a_deny_rule_only_where_the_default_allows() -> None:
    commands = plan("smartserver", profile="standard", enable=["remote-cms"]).ufw_commands
    # remote CMS: In Blocked / Out Allowed on 8883; inbound default already denies
    assert ("allow", "out", "proto", "tcp", "to", "any", "port", "8883") in commands
    assert not [c for c in commands if c[0] == "deny" and "8883" in c]


def test_configurable_ports_open_only_the_default_port() -> None:
    p = plan("smartserver", enable=["bacnet", "lon", "opcua"])
    assert ("allow", "in", "proto", "udp", "to", "any", "port", "47808") in p.ufw_commands
    assert ("allow", "in", "proto", "tcp", "to", "any", "port", "1628") in p.ufw_commands
    assert ("allow", "in", "proto", "tcp", "to", "any", "port", "55000") in p.ufw_commands
    assert not [c for c in p.ufw_commands if "47808:47823,49152:65535" in c]
    assert {
        ("echbacnet", "udp", "0.0.0.0", 47808),
        ("echlte", "tcp", "0.0.0.0", 1628),
        ("echopcua", "tcp", "0.0.0.0", 55000),
    } <= listening(p)


def test_listeners_carry_the_vendor_process_names_and_internal_ones_stay_on_loopback() -> None:
    found = listening(plan("smartserver"))
    assert {
        ("nginx", "tcp", "0.0.0.0", 443),
        ("echlte", "tcp", "0.0.0.0", 2541),
        ("avahi-daemon", "udp", "0.0.0.0", 5353),
        ("redis-server", "tcp", "127.0.0.1", 6379),
        ("postgres", "tcp", "127.0.0.1", 5432),
        ("node-red", "tcp", "127.0.0.1", 1880),
        ("java", "tcp", "127.0.0.1", 0),
    } <= found
    # 22/tcp is the real sshd, not a stand-in
    assert not [item for item in found if item[1:] == ("tcp", "0.0.0.0", 22)]


def test_rows_whose_condition_is_off_get_no_listener() -> None:
    assert not [item for item in plan("smartserver").listeners if item.process in ("echbacnet", "mosquitto")]
    assert ("mosquitto", "tcp", "0.0.0.0", 1883) in listening(plan("smartserver", enable=["mqtt"]))


def test_configured_destinations_become_lab_hosts_and_spec_hosts_are_resolved() -> None:
    p = plan("coppercube", enable=["ntp"])
    assert p.configured == {"dns": "dns.portspec.lab", "ntp": "ntp.portspec.lab"}
    assert set(p.hosts) == {
        "intake1.coppertreeanalytics.com",
        "cucube-updates.deltacontrols.com",
        "kaizen.coppertreeanalytics.com",
        "ntp.portspec.lab",
    }
    assert set(p.internet_ports) == {
        ("tcp", 53),
        ("udp", 53),
        ("tcp", 5671),
        ("tcp", 80),
        ("tcp", 443),
        ("udp", 123),
    }


def test_unspecified_defaults_deny_inbound_and_allow_outbound() -> None:
    commands = plan("digi-device-cloud").ufw_commands
    assert ("default", "deny", "incoming") in commands and ("default", "allow", "outgoing") in commands


def test_a_cluster_role_gets_only_its_rows() -> None:
    p = plan("voss", role="database")
    # a cluster-only port lets only the cluster in (issue 18)
    assert ("allow", "in", "proto", "tcp", "from", "198.18.248.0/21", "to", "any", "port", "27019,27020") in (
        p.ufw_commands
    )
    assert not [c for c in p.ufw_commands if c[-1] == "443" and c[1] == "in"]


# --- drifts --------------------------------------------------------------------------------


def test_every_drift_is_documented() -> None:
    assert set(KINDS) == {
        "listen",
        "stop",
        "ufw-allow",
        "ufw-delete",
        "ufw-inactive",
        "ufw-default-in",
        "ufw-default-out",
        "site-block",
        "path-block",
        "forward",
        "dns-fail",
        "expose",
        "sudo-password",
        "ufw-missing",
        "expose-dual",
        "ufw-allow6",
        "udp-junk",
        "docker-forward",
        "docker-forward-local",
        "nft-forward",
        "vendor-lon-listing",
        "hidden-listener",
    }
    assert all(kind.description for kind in KINDS.values())


def test_a_forward_drift_is_a_nat_redirect_and_bad_arguments_are_refused() -> None:
    assert apply_drifts(plan("smartserver"), ["forward:8080/tcp:443"]).forwards == (("tcp", 8080, 443),)
    for bad in ("forward:8080/tcp", "forward:8080/tcp:0", "forward:8080:443"):
        with pytest.raises(LabError, match="expected PORT/PROTO"):
            apply_drifts(plan("smartserver"), [bad])


def test_drifts_compose_and_each_changes_only_what_it_says() -> None:
    clean = plan("smartserver")
    drifted = apply_drifts(
        clean,
        [
            "listen:8080/tcp:java",
            "stop:nginx",
            "ufw-allow:502/tcp",
            "ufw-delete:2541/tcp",
            "site-block:123/udp",
            "dns-fail:ntp.portspec.lab",
            "expose:6379",
            "ufw-default-in:allow",
        ],
    )
    assert Listener("java", "tcp", "0.0.0.0", 8080) in drifted.listeners
    assert not [item for item in drifted.listeners if item.process == "nginx"]
    assert ("allow", "in", "502/tcp") in drifted.ufw_commands
    assert not [c for c in drifted.ufw_commands if c[-1] == "2541"]
    assert ("default", "allow", "incoming") in drifted.ufw_commands
    assert drifted.site_blocks == (("udp", 123),)
    assert drifted.dns_failures == ("ntp.portspec.lab",)
    assert ("redis-server", "tcp", "0.0.0.0", 6379) in listening(drifted)
    assert drifted.drifts[0] == "listen:8080/tcp:java" and len(drifted.drifts) == 8
    untouched = set(clean.listeners) - set(drifted.listeners)
    assert {item.process for item in untouched} == {"nginx", "redis-server"}


def test_ufw_delete_of_22_keeps_the_lab_management_rule() -> None:
    drifted = apply_drifts(plan("smartserver"), ["ufw-delete:22/tcp"])
    assert [c for c in drifted.ufw_commands if "22" in c] == [
        c for c in drifted.ufw_commands if "comment" in c
    ]


def test_ufw_inactive_leaves_the_rules_but_not_the_firewall() -> None:
    drifted = apply_drifts(plan("smartserver"), ["ufw-inactive"])
    assert drifted.ufw_enabled is False
    assert drifted.ufw_commands == plan("smartserver").ufw_commands


@pytest.mark.parametrize(
    ("drift", "message"),
    [
        ("nonsense", "unknown drift 'nonsense'; drifts: listen:PORT/PROTO:PROCESS, stop:PROCESS"),
        ("stop", "drift 'stop': expected stop:PROCESS"),
        ("ufw-inactive:yes", "drift 'ufw-inactive:yes': expected ufw-inactive"),
        ("stop:sshd", "stop:sshd would cut the lab's own access"),
        ("stop:mosquitto", "no service named 'mosquitto' runs on this appliance; services: avahi-daemon"),
        ("listen:80000/tcp:x", "expected PORT/PROTO such as 8080/tcp, found '80000/tcp'"),
        ("listen:8080/sctp:x", "expected PORT/PROTO such as 8080/tcp, found '8080/sctp'"),
        ("listen:8080/tcp:a-very-long-process-name", "expected a process name of at most 15 characters"),
        ("ufw-delete:9999/tcp", "no ufw rule of this appliance allows 9999/tcp"),
        ("ufw-default-in:open", "expected allow, deny or reject, found 'open'"),
        ("dns-fail:github.com", "'github.com' is not a host name this appliance resolves"),
        ("expose:443", "no internal (loopback) service listens on port 443"),
        ("expose:abc", "expected a port number 1-65535, found 'abc'"),
        ("listen:443/tcp:java", "443/tcp is already held by a service of this appliance"),
        ("listen:22/tcp:java", "22/tcp is already held by a service of this appliance"),
    ],
)
def test_a_drift_that_does_not_fit_says_why(drift: str, message: str) -> None:
    with pytest.raises(LabError) as info:
        apply_drifts(plan("smartserver"), [drift])
    assert message in str(info.value)


def test_the_lab_bacnet_server_answers_a_read_property_like_a_device() -> None:
    from pytest_portspec.lab.services import bacnet_reply
    from pytest_portspec.probe.payloads import bacnet_check, bacnet_request

    request = bacnet_request(0x42)
    reply = bacnet_reply(request)
    assert reply is not None
    assert bacnet_check(request, reply) == (True, "Error")
    assert bacnet_reply(b"hello, not bacnet") is None
