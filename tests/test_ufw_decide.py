"""decide(): ufw's first-match semantics over parsed states (the recorded fixtures and small
hand-written rule sets), case by case. tests/lab/test_ufw_differential.py checks the same
function against real packets."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from pytest_portspec.firewall.ufw_view import BEFORE_RULES, Packet, decide
from pytest_portspec.parse.ufw import UfwPolicy, UfwState, parse_user_rules, ufw_state

DATA = Path(__file__).parent / "data" / "ufw"


def fixture_state(name: str) -> UfwState:
    def read(suffix: str) -> str:
        return (DATA / f"{name}.{suffix}").read_text(encoding="utf-8")

    return ufw_state(read("status-verbose.txt"), read("user.rules"), read("user6.rules"))


def state(
    *v4: str,
    v6: tuple[str, ...] = (),
    default_in: UfwPolicy = "deny",
    default_out: UfwPolicy = "allow",
    active: bool = True,
    ipv6: bool = True,
) -> UfwState:
    """A state from tuple lines ('allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in'), in order."""
    rules = parse_user_rules("".join(f"### tuple ### {t}\n" for t in v4), False)
    rules += parse_user_rules("".join(f"### tuple ### {t}\n" for t in v6), True)
    return UfwState(active, default_in, default_out, "disabled", tuple(rules), ipv6, "user.rules")


FORMS = fixture_state("forms")
EXOTIC = fixture_state("exotic")
FIRST_DENY = state(
    "deny tcp 7001 0.0.0.0/0 any 0.0.0.0/0 in", "allow tcp 7000:7002 0.0.0.0/0 any 0.0.0.0/0 in"
)
FIRST_ALLOW = state(
    "allow tcp 7005 0.0.0.0/0 any 0.0.0.0/0 in", "deny tcp 7004:7006 0.0.0.0/0 any 0.0.0.0/0 in"
)
REJECTING = state("allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in", default_in="reject", default_out="reject")
OPEN_IN_CLOSED_OUT = state(
    "deny tcp 23 0.0.0.0/0 any 0.0.0.0/0 in",
    "allow tcp 443 0.0.0.0/0 any 0.0.0.0/0 out",
    default_in="allow",
    default_out="deny",
)
INACTIVE = replace(
    FORMS, active=False, default_in="disabled", default_out="disabled", default_routed="disabled"
)
NO_IPV6 = replace(FORMS, ipv6=False)
WILDCARD = state("allow tcp 8084 0.0.0.0/0 any 0.0.0.0/0 in_eth+")
DEVICE_SIDE = state(
    "allow tcp 8082 198.18.1.2 any 0.0.0.0/0 in",
    "deny tcp 5671 198.19.128.2 any 0.0.0.0/0 out_eth1",
)
NETWORK = state("allow tcp 9000 0.0.0.0/0 any 10.0.0.0/8 in")

MGMT = "22/tcp on eth0 ALLOW IN 198.18.1.1 # mgmt access"
DHCP = "68/udp ALLOW IN 67/udp # before.rules: DHCP client"
MDNS = "224.0.0.251 5353/udp ALLOW IN Anywhere # before.rules: mDNS multicast"


@dataclass(frozen=True)
class Case:
    id: str
    state: UfwState
    packet: Packet
    permitted: bool
    decided_by: str
    rule: str | None = None  # the deciding rule, as describe() prints it
    partial: tuple[str, ...] = ()
    limited: bool = False


def P(direction: str, proto: str, port: int, **kw: object) -> Packet:
    return Packet(direction, proto, port, **kw)  # type: ignore[arg-type]


CASES = [
    # first match, partial rules
    Case("ssh-anyone", FORMS, P("in", "tcp", 22), True, "rule", "22/tcp ALLOW IN Anywhere", (MGMT,)),
    Case(
        "ssh-mgmt-host-on-eth0",
        FORMS,
        P("in", "tcp", 22, remote="198.18.1.1", interface="eth0"),
        True,
        "rule",
        MGMT,
    ),
    Case(
        "ssh-mgmt-host-interface-unknown",
        FORMS,
        P("in", "tcp", 22, remote="198.18.1.1"),
        True,
        "rule",
        "22/tcp ALLOW IN Anywhere",
        (MGMT,),
    ),
    Case(
        "ssh-other-host-on-eth0",
        FORMS,
        P("in", "tcp", 22, remote="203.0.113.1", interface="eth0"),
        True,
        "rule",
        "22/tcp ALLOW IN Anywhere",
    ),
    Case("deny-before-allow", FIRST_DENY, P("in", "tcp", 7001), False, "rule", "7001/tcp DENY IN Anywhere"),
    Case(
        "deny-before-allow-rest",
        FIRST_DENY,
        P("in", "tcp", 7000),
        True,
        "rule",
        "7000:7002/tcp ALLOW IN Anywhere",
    ),
    Case("allow-before-deny", FIRST_ALLOW, P("in", "tcp", 7005), True, "rule", "7005/tcp ALLOW IN Anywhere"),
    Case(
        "allow-before-deny-rest",
        FIRST_ALLOW,
        P("in", "tcp", 7004),
        False,
        "rule",
        "7004:7006/tcp DENY IN Anywhere",
    ),
    # interfaces
    Case(
        "iface-unknown",
        FORMS,
        P("in", "tcp", 8080),
        False,
        "default",
        None,
        ("8080/tcp on eth0 ALLOW IN Anywhere",),
    ),
    Case(
        "iface-eth0",
        FORMS,
        P("in", "tcp", 8080, interface="eth0"),
        True,
        "rule",
        "8080/tcp on eth0 ALLOW IN Anywhere",
    ),
    Case("iface-eth1", FORMS, P("in", "tcp", 8080, interface="eth1"), False, "default"),
    Case(
        "iface-any-proto",
        FORMS,
        P("in", "udp", 1883, interface="eth0"),
        True,
        "rule",
        "1883 on eth0 ALLOW IN Anywhere",
    ),
    Case(
        "iface-wildcard-match",
        WILDCARD,
        P("in", "tcp", 8084, interface="eth3"),
        True,
        "rule",
        "8084/tcp on eth+ ALLOW IN Anywhere",
    ),
    Case(
        "iface-wildcard-bare-prefix",
        WILDCARD,
        P("in", "tcp", 8084, interface="eth"),
        True,
        "rule",
        "8084/tcp on eth+ ALLOW IN Anywhere",
    ),
    Case("iface-wildcard-other", WILDCARD, P("in", "tcp", 8084, interface="wlan0"), False, "default"),
    Case(
        "iface-wildcard-unknown",
        WILDCARD,
        P("in", "tcp", 8084),
        False,
        "default",
        None,
        ("8084/tcp on eth+ ALLOW IN Anywhere",),
    ),
    # LIMIT, REJECT, DENY
    Case("limit", FORMS, P("in", "tcp", 2222), True, "rule", "2222/tcp LIMIT IN Anywhere", limited=True),
    Case(
        "limit-v6",
        FORMS,
        P("in", "tcp", 2222, v6=True),
        True,
        "rule",
        "2222/tcp (v6) LIMIT IN Anywhere (v6)",
        limited=True,
    ),
    Case("reject", FORMS, P("in", "tcp", 3306), False, "rule", "3306/tcp REJECT IN Anywhere"),
    Case(
        "deny-source-unknown",
        FORMS,
        P("in", "tcp", 5432),
        False,
        "default",
        None,
        ("5432/tcp DENY IN 203.0.113.0/24",),
    ),
    Case(
        "deny-source-inside",
        FORMS,
        P("in", "tcp", 5432, remote="203.0.113.77"),
        False,
        "rule",
        "5432/tcp DENY IN 203.0.113.0/24",
    ),
    Case("deny-source-outside", FORMS, P("in", "tcp", 5432, remote="198.18.0.9"), False, "default"),
    # ports: multiport ranges, proto any, source ports
    Case(
        "multiport-low",
        FORMS,
        P("in", "udp", 47808),
        True,
        "rule",
        "47808:47823,49152:65535/udp ALLOW IN Anywhere",
    ),
    Case(
        "multiport-high",
        FORMS,
        P("in", "udp", 47823),
        True,
        "rule",
        "47808:47823,49152:65535/udp ALLOW IN Anywhere",
    ),
    Case("multiport-gap-above", FORMS, P("in", "udp", 47824), False, "default"),
    Case("multiport-gap-below", FORMS, P("in", "udp", 49151), False, "default"),
    Case(
        "multiport-top",
        FORMS,
        P("in", "udp", 65535),
        True,
        "rule",
        "47808:47823,49152:65535/udp ALLOW IN Anywhere",
    ),
    Case("multiport-wrong-proto", FORMS, P("in", "tcp", 47808), False, "default"),
    Case("any-proto-tcp", FORMS, P("in", "tcp", 1443), True, "rule", "1443 ALLOW IN Anywhere"),
    Case("any-proto-udp", FORMS, P("in", "udp", 1443), True, "rule", "1443 ALLOW IN Anywhere"),
    Case(
        "sports-unknown",
        FORMS,
        P("in", "tcp", 8443),
        False,
        "default",
        None,
        ("8443/tcp ALLOW IN 1024:65535/tcp",),
    ),
    Case("sports-outside", FORMS, P("in", "tcp", 8443, sport=1023), False, "default"),
    Case(
        "sports-inside",
        FORMS,
        P("in", "tcp", 8443, sport=1024),
        True,
        "rule",
        "8443/tcp ALLOW IN 1024:65535/tcp",
    ),
    # addresses
    Case(
        "loopback-source-on-eth0",
        FORMS,
        P("in", "tcp", 22, remote="127.0.0.1", interface="eth0"),
        False,
        "rule",
        "Anywhere DENY IN 127.0.0.0/8",
    ),
    Case(
        "device-side-unknown",
        DEVICE_SIDE,
        P("in", "tcp", 8082),
        False,
        "default",
        None,
        ("198.18.1.2 8082/tcp ALLOW IN Anywhere",),
    ),
    Case(
        "device-side-match",
        DEVICE_SIDE,
        P("in", "tcp", 8082, local="198.18.1.2"),
        True,
        "rule",
        "198.18.1.2 8082/tcp ALLOW IN Anywhere",
    ),
    Case("device-side-other", DEVICE_SIDE, P("in", "tcp", 8082, local="198.19.1.2"), False, "default"),
    Case(
        "out-destination-unknown",
        DEVICE_SIDE,
        P("out", "tcp", 5671),
        True,
        "default",
        None,
        ("198.19.128.2 5671/tcp DENY OUT Anywhere on eth1",),
    ),
    Case(
        "out-destination-match",
        DEVICE_SIDE,
        P("out", "tcp", 5671, remote="198.19.128.2", interface="eth1"),
        False,
        "rule",
        "198.19.128.2 5671/tcp DENY OUT Anywhere on eth1",
    ),
    Case(
        "out-destination-other",
        DEVICE_SIDE,
        P("out", "tcp", 5671, remote="198.19.128.3", interface="eth1"),
        True,
        "default",
    ),
    Case(
        "remote-subnet-inside",
        NETWORK,
        P("in", "tcp", 9000, remote="10.1.0.0/16"),
        True,
        "rule",
        "9000/tcp ALLOW IN 10.0.0.0/8",
    ),
    Case(
        "remote-supernet",
        NETWORK,
        P("in", "tcp", 9000, remote="0.0.0.0/1"),
        False,
        "default",
        None,
        ("9000/tcp ALLOW IN 10.0.0.0/8",),
    ),
    Case("remote-disjoint", NETWORK, P("in", "tcp", 9000, remote="11.0.0.0/8"), False, "default"),
    # out rules
    Case("out-deny", FORMS, P("out", "tcp", 25), False, "rule", "25/tcp DENY OUT Anywhere"),
    Case(
        "out-deny-v6",
        FORMS,
        P("out", "tcp", 25, v6=True),
        False,
        "rule",
        "25/tcp (v6) DENY OUT Anywhere (v6)",
    ),
    Case("out-reject", FORMS, P("out", "tcp", 6667), False, "rule", "6667/tcp REJECT OUT Anywhere"),
    Case(
        "out-iface-unknown",
        FORMS,
        P("out", "udp", 123),
        True,
        "default",
        None,
        ("123/udp ALLOW OUT Anywhere on eth1",),
    ),
    Case(
        "out-iface-eth1",
        FORMS,
        P("out", "udp", 123, interface="eth1"),
        True,
        "rule",
        "123/udp ALLOW OUT Anywhere on eth1",
    ),
    Case(
        "out-first-match",
        FORMS,
        P("out", "tcp", 443, remote="198.51.100.7"),
        True,
        "rule",
        "443/tcp ALLOW OUT Anywhere",
    ),
    Case("out-default-allow", FORMS, P("out", "tcp", 9999), True, "default"),
    # v6
    Case("v6-allow", FORMS, P("in", "tcp", 22, v6=True), True, "rule", "22/tcp (v6) ALLOW IN Anywhere (v6)"),
    Case(
        "v6-source-unknown",
        FORMS,
        P("in", "tcp", 443, v6=True),
        False,
        "default",
        None,
        ("443/tcp ALLOW IN 2001:db8::/32",),
    ),
    Case(
        "v6-source-inside",
        FORMS,
        P("in", "tcp", 443, v6=True, remote="2001:db8::1"),
        True,
        "rule",
        "443/tcp ALLOW IN 2001:db8::/32",
    ),
    Case("v4-ignores-v6-rules", FORMS, P("in", "tcp", 443), False, "default"),
    Case("v6-not-managed", NO_IPV6, P("in", "tcp", 22, v6=True), False, "default"),
    Case(
        "v6-not-managed-loopback", NO_IPV6, P("in", "tcp", 22, v6=True, interface="lo"), True, "before-rules"
    ),
    Case(
        "v6-not-managed-v4-unaffected",
        NO_IPV6,
        P("in", "tcp", 22),
        True,
        "rule",
        "22/tcp ALLOW IN Anywhere",
        (MGMT,),
    ),
    # defaults
    Case("default-reject-in", REJECTING, P("in", "tcp", 7), False, "default"),
    Case("default-reject-out", REJECTING, P("out", "udp", 53), False, "default"),
    Case("default-reject-allowed", REJECTING, P("in", "tcp", 22), True, "rule", "22/tcp ALLOW IN Anywhere"),
    Case("default-allow-in", OPEN_IN_CLOSED_OUT, P("in", "tcp", 80), True, "default"),
    Case(
        "default-allow-in-denied",
        OPEN_IN_CLOSED_OUT,
        P("in", "tcp", 23),
        False,
        "rule",
        "23/tcp DENY IN Anywhere",
    ),
    Case("default-deny-out", OPEN_IN_CLOSED_OUT, P("out", "tcp", 80), False, "default"),
    Case(
        "default-deny-out-allowed",
        OPEN_IN_CLOSED_OUT,
        P("out", "tcp", 443),
        True,
        "rule",
        "443/tcp ALLOW OUT Anywhere",
    ),
    # before.rules
    Case("loopback-source", FORMS, P("in", "tcp", 9999, remote="127.0.0.1"), True, "before-rules"),
    Case("loopback-interface", FORMS, P("in", "tcp", 3306, interface="lo"), True, "before-rules"),
    Case("loopback-out-before-deny", FORMS, P("out", "tcp", 25, interface="lo"), True, "before-rules"),
    Case("dhcp-reply", FORMS, P("in", "udp", 68, sport=67), True, "before-rules"),
    Case("dhcp-port-unknown-source", FORMS, P("in", "udp", 68), False, "default", None, (DHCP,)),
    Case("dhcp-port-other-source", FORMS, P("in", "udp", 68, sport=1067), False, "default"),
    Case("mdns-multicast", FORMS, P("in", "udp", 5353, local="224.0.0.251"), True, "before-rules"),
    Case("mdns-unspecified", FORMS, P("in", "udp", 5353), False, "default", None, (MDNS,)),
    Case("mdns-unicast", FORMS, P("in", "udp", 5353, local="198.18.1.2"), False, "default"),
    Case("mdns-tcp", FORMS, P("in", "tcp", 5353, local="224.0.0.251"), False, "default"),
    Case("upnp-multicast", FORMS, P("in", "udp", 1900, local="239.255.255.250"), True, "before-rules"),
    Case("mdns-v6-multicast", FORMS, P("in", "udp", 5353, v6=True, local="ff02::fb"), True, "before-rules"),
    Case(
        "dhcpv6-reply",
        FORMS,
        P("in", "udp", 546, v6=True, sport=547, remote="fe80::1", local="fe80::2"),
        True,
        "before-rules",
    ),
    Case(
        "dhcpv6-not-link-local",
        FORMS,
        P("in", "udp", 546, v6=True, sport=547, remote="2001:db8::1", local="fe80::2"),
        False,
        "default",
    ),
    # inactive
    Case("inactive-in", INACTIVE, P("in", "tcp", 3306), True, "inactive"),
    Case("inactive-out", INACTIVE, P("out", "tcp", 25), True, "inactive"),
    Case("inactive-v6", INACTIVE, P("in", "udp", 9, v6=True), True, "inactive"),
    # the exotic recording: logging, device-side addresses, route rules, a trailing allow-all-tcp
    Case(
        "exotic-partial-deny-then-allow-all",
        EXOTIC,
        P("in", "tcp", 5555),
        True,
        "rule",
        "Anywhere/tcp ALLOW IN Anywhere/tcp",
        (
            "Anywhere DENY IN 198.18.99.0/24 (log-all)",
            "198.18.1.2 ALLOW IN Anywhere",
            "198.18.1.2/tcp ALLOW IN 198.18.8.8/tcp",
        ),
    ),
    Case("exotic-deny-first", EXOTIC, P("in", "tcp", 9005), False, "rule", "9005/tcp DENY IN Anywhere"),
    Case(
        "exotic-logged-allow", EXOTIC, P("in", "tcp", 8081), True, "rule", "8081/tcp ALLOW IN Anywhere (log)"
    ),
    Case(
        "exotic-source-port",
        EXOTIC,
        P("in", "udp", 6000, remote="198.18.5.5", sport=5000),
        True,
        "rule",
        "6000/udp ALLOW IN 198.18.5.5 5000/udp",
        ("198.18.1.2 ALLOW IN Anywhere",),
    ),
    Case(
        "exotic-app-rule",
        EXOTIC,
        P("in", "tcp", 22, remote="198.18.3.3", interface="eth1"),
        True,
        "rule",
        "22/tcp (OpenSSH) ALLOW IN Anywhere",
        ("198.18.1.2 ALLOW IN Anywhere",),  # allows everything, but only to that device address
    ),
    Case("exotic-route-rules-not-out", EXOTIC, P("out", "tcp", 25, interface="eth1"), True, "default"),
    Case(
        "exotic-limit-out",
        EXOTIC,
        P("out", "tcp", 2223),
        True,
        "rule",
        "2223/tcp LIMIT OUT Anywhere",
        limited=True,
    ),
    Case(
        "exotic-v6-out-destination",
        EXOTIC,
        P("out", "tcp", 443, v6=True, remote="2001:db8::1"),
        True,
        "rule",
        "2001:db8::1 443/tcp ALLOW OUT Anywhere (v6)",
    ),
]


def test_enough_cases() -> None:
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_decide(case: Case) -> None:
    verdict = decide(case.state, case.packet)
    assert verdict.permitted == case.permitted, verdict.reason
    assert verdict.decided_by == case.decided_by, verdict.reason
    assert (verdict.rule.describe() if verdict.rule else None) == case.rule, verdict.reason
    assert tuple(r.describe() for r in verdict.partial) == case.partial, verdict.reason
    assert verdict.limited == case.limited
    if verdict.decided_by != "rule":
        assert verdict.rule is None
    assert verdict.reason.startswith(("inbound ", "outbound "))


def test_reasons_read_as_sentences() -> None:
    assert decide(FORMS, P("in", "tcp", 22)).reason == (
        "inbound 22/tcp: allowed by IPv4 rule 10 '22/tcp ALLOW IN Anywhere'; "
        "not decided by IPv4 rule 4 '22/tcp on eth0 ALLOW IN 198.18.1.1 # mgmt access', "
        "which covers only traffic from 198.18.1.1 on eth0"
    )
    assert decide(FORMS, P("in", "tcp", 9)).reason == (
        "inbound 9/tcp: no rule decides, so ufw's default deny (incoming) applies: dropped"
    )
    assert "rejected by IPv4 rule 13" in decide(FORMS, P("in", "tcp", 3306)).reason
    assert "default reject (outgoing) applies: rejected" in decide(REJECTING, P("out", "udp", 53)).reason
    assert "rate-limited" in decide(FORMS, P("in", "tcp", 2222)).reason
    assert "ufw is inactive" in decide(INACTIVE, P("in", "tcp", 22)).reason
    assert "IPV6=no" in decide(NO_IPV6, P("in", "tcp", 22, v6=True)).reason
    mdns = decide(FORMS, P("in", "udp", 5353, local="224.0.0.251")).reason
    assert mdns == (
        "inbound 5353/udp to 224.0.0.251: always accepted by ufw's before.rules: mDNS multicast "
        "(-A ufw-before-input -p udp -d 224.0.0.251 --dport 5353 -j ACCEPT)"
    )


def test_fully_described_packets_are_never_partial() -> None:
    """With every field known, each rule either covers the packet or does not."""
    for st in (FORMS, EXOTIC, WILDCARD, DEVICE_SIDE, NETWORK):
        for port in (22, 53, 68, 123, 443, 1443, 1883, 5353, 5432, 6000, 8080, 8082, 8443, 9000, 47810):
            for direction in ("in", "out"):
                for proto in ("tcp", "udp"):
                    for v6, remote, local in (
                        (False, "198.18.1.1", "198.18.1.2"),
                        (True, "fe80::1", "fe80::2"),
                    ):
                        packet = P(
                            direction,
                            proto,
                            port,
                            remote=remote,
                            local=local,
                            interface="eth0",
                            sport=5000,
                            v6=v6,
                        )
                        assert decide(st, packet).partial == ()


def test_before_rules_precede_user_rules_and_match_the_installed_files() -> None:
    installed = Path("/etc/ufw/before.rules")
    if installed.exists():  # the stock Debian file, on a machine with ufw
        lines = installed.read_text(encoding="utf-8").splitlines()
        for rule in BEFORE_RULES[False]:
            assert rule.text in lines
    installed6 = Path("/etc/ufw/before6.rules")
    if installed6.exists():
        lines = installed6.read_text(encoding="utf-8").splitlines()
        for rule in BEFORE_RULES[True]:
            assert rule.text in lines
    assert all(r.position == 0 for v6 in (False, True) for r in BEFORE_RULES[v6])


@pytest.mark.parametrize(
    ("packet", "message"),
    [
        (P("in", "udp", 5353, remote="224.0.0.251"), "multicast"),
        (P("in", "tcp", 22, remote="2001:db8::1"), "not IPv4"),
        (P("in", "tcp", 22, v6=True, local="198.18.1.2"), "not IPv6"),
        (P("in", "tcp", 0), "1-65535"),
        (P("in", "tcp", 22, sport=70000), "1-65535"),
        (P("in", "tcp", 22, remote="not-an-address"), "bad"),
        (P("sideways", "tcp", 22), "direction"),
        (P("in", "icmp", 22), "proto"),
    ],
)
def test_bad_packets(packet: Packet, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decide(FORMS, packet)


def test_an_active_state_needs_its_defaults() -> None:
    with pytest.raises(ValueError, match="default incoming"):
        decide(replace(FORMS, default_in="disabled"), P("in", "tcp", 9))
