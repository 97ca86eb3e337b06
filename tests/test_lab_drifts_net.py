"""The network-stack drifts (lab/drifts_net.py) and their nat rules (lab/forwards.py), pure."""

from __future__ import annotations

import socket

import netaddr
import pytest

from pytest_portspec.errors import LabError
from pytest_portspec.lab.drifts import apply_drifts
from pytest_portspec.lab.forwards import iptables_nat, nft_nat
from pytest_portspec.lab.plan import Addresses, AppliancePlan, Listener, NatForward, plan_appliance
from pytest_portspec.lab.services import JUNK, sntp_reply
from pytest_portspec.spec.catalog import find_spec
from pytest_portspec.spec.policy import effective_policy


def plan(spec: str = "smartserver", **kwargs: object) -> AppliancePlan:
    return plan_appliance(effective_policy(find_spec(spec), **kwargs), 7)  # type: ignore[arg-type]


@pytest.mark.parametrize("index", [1, 10, 120])
def test_the_ipv6_management_addresses_are_in_2001_2_48(index: int) -> None:
    a = Addresses(index)
    for address in (a.host6, a.management6):
        assert netaddr.IPAddress(address) in netaddr.IPNetwork("2001:2::/48")
    assert a.management6 == f"2001:2:0:{index:x}::2"


def test_expose_dual_moves_the_internal_service_to_a_dual_stack_socket() -> None:
    drifted = apply_drifts(plan(), ["expose-dual:6379"])
    assert Listener("redis-server", "tcp", "::", 6379) in drifted.listeners
    assert not [i for i in drifted.listeners if i.port == 6379 and i.address == "127.0.0.1"]


def test_ufw_allow6_is_a_rule_from_an_ipv6_network_only() -> None:
    drifted = apply_drifts(plan(), ["ufw-allow6:6379/tcp"])
    assert drifted.ufw_commands[-1] == (
        *("allow", "in", "from", "::/0", "to", "any", "port", "6379", "proto", "tcp"),
    )


def test_udp_junk_answers_junk_that_is_no_sntp_reply() -> None:
    drifted = apply_drifts(plan(), ["udp-junk:123"])
    assert Listener("udp-junk", "udp", "0.0.0.0", 123, reply="junk") in drifted.listeners
    assert sntp_reply(JUNK) is None and len(JUNK) < 48


def test_forward_drifts_are_dnats_to_the_management_address() -> None:
    forwards = ["docker-forward:8080/tcp:443", "docker-forward-local:8081/tcp:443", "nft-forward:8082/udp:53"]
    drifted = apply_drifts(plan(), forwards)
    assert drifted.management == "198.18.7.2"
    assert drifted.nat_forwards == (
        NatForward("docker", "tcp", 8080, 443),
        NatForward("docker-local", "tcp", 8081, 443),
        NatForward("nft", "udp", 8082, 53),
    )
    rules = iptables_nat(drifted.nat_forwards, drifted.management).splitlines()
    assert rules[:3] == ["*nat", ":DOCKER - [0:0]", "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER"]
    dnat = "-p tcp -m tcp --dport {} -j DNAT --to-destination 198.18.7.2:443"
    assert f"-A DOCKER ! -i docker0 {dnat.format(8080)}" in rules
    assert f"-A DOCKER -d 127.0.0.1/32 ! -i docker0 {dnat.format(8081)}" in rules
    assert rules[-1] == "COMMIT"
    nft = nft_nat(drifted.nat_forwards, drifted.management)
    assert "table ip portspec-nat {" in nft and "type nat hook prerouting priority dstnat;" in nft
    assert "udp dport 8082 dnat to 198.18.7.2:53" in nft and "8080" not in nft
    assert iptables_nat((), "198.18.7.2") == nft_nat((), "198.18.7.2") == ""


def test_a_forward_never_leaves_the_lab() -> None:
    with pytest.raises(ValueError, match="outside the lab network"):
        iptables_nat((NatForward("docker", "tcp", 8080, 443),), "192.0.2.1")


def test_vendor_lon_listing_is_the_vendors_ufw_example_for_lon() -> None:
    clean = plan(enable=("lon",))
    drifted = apply_drifts(clean, ["vendor-lon-listing"])
    echlte = {(i.proto, i.address, i.port) for i in drifted.listeners if i.process == "echlte"}
    assert echlte == {("udp", "0.0.0.0", 2541), ("udp", "0.0.0.0", 1628), ("udp", "127.0.0.1", 1629)}
    assert drifted.ufw_commands[-4:] == (
        ("allow", "2541/udp"),
        ("allow", "out", "2541/udp"),
        ("allow", "1628/udp"),
        ("allow", "out", "1628/udp"),
    )
    tcp_lon = [c for c in drifted.ufw_commands if "tcp" in c and ("2541" in c or "1628" in c)]
    assert tcp_lon == []
    assert set(clean.ufw_commands) - set(drifted.ufw_commands)  # the table's TCP LON rules went
    others = {i for i in clean.listeners if i.process != "echlte"}
    assert others == {i for i in drifted.listeners if i.process != "echlte"}


@pytest.mark.parametrize(
    ("drift", "message"),
    [
        ("expose-dual:443", "no internal (loopback) service listens on port 443"),
        ("expose-dual:x", "expected a port number 1-65535, found 'x'"),
        ("ufw-allow6:6379", "expected PORT/PROTO such as 8080/tcp"),
        ("udp-junk:5353", "5353/udp is already held by a service of this appliance"),
        ("docker-forward:22/tcp:443", "forwarding 22/tcp would cut the lab's own access"),
        ("nft-forward:8080/tcp:0", "expected a port number 1-65535, found '0'"),
        ("docker-forward-local:8080:443", "expected PORT/PROTO such as 8080/tcp"),
        ("vendor-lon-listing:yes", "expected vendor-lon-listing"),
    ],
)
def test_a_network_drift_that_does_not_fit_says_why(drift: str, message: str) -> None:
    with pytest.raises(LabError) as info:
        apply_drifts(plan(), [drift])
    assert message in str(info.value)


def test_vendor_lon_listing_needs_the_lon_service() -> None:
    with pytest.raises(LabError, match=r"no LON service \(echlte on TCP\) runs on this appliance"):
        apply_drifts(plan("coppercube"), ["vendor-lon-listing"])


def test_a_dual_stack_listener_takes_ipv4_and_ipv6() -> None:
    """The lab's services bind "::" with IPV6_V6ONLY off: an IPv4 client reaches it too."""
    from pytest_portspec.lab.services import _bind

    sock = _bind({"proto": "tcp", "address": "::", "port": 0}, reuseport=False)
    try:
        assert sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 0
        with socket.create_connection(("127.0.0.1", sock.getsockname()[1]), timeout=2):
            pass
    finally:
        sock.close()
