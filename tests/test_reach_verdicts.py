"""Outbound and inbound reach verdicts from plain probe results: a row is passed only when every
probe it needs was verified; a probe that could not be verified never counts as reached."""

from __future__ import annotations

import dataclasses

import pytest

from pytest_portspec.checks.context import Declarations, Facts
from pytest_portspec.checks.ports import inbound_ports
from pytest_portspec.checks.reach import check_inbound, check_outbound, inbound_probes, outbound_probes
from pytest_portspec.device.state_command import own_addresses
from pytest_portspec.parse.sockets import Socket
from pytest_portspec.parse.ufw_rules import UfwState
from pytest_portspec.probe.outbound import ProbeResult
from pytest_portspec.spec.catalog import find_spec
from pytest_portspec.spec.policy import EffectivePolicy, Expectation, effective_policy

INACTIVE = UfwState(False, "deny", "allow", "deny", (), False, "user.rules")


def row(policy: EffectivePolicy, key: str) -> Expectation:
    return next(e for e in policy.rows if e.key == key)


def result(probe_id: str, host: str, proto: str, port: int, outcome: str) -> ProbeResult:
    return ProbeResult(probe_id, host, proto, port, outcome, None, (), 0.01, f"{outcome} detail")  # type: ignore[arg-type]


def sops_facts(outcomes: dict[int, str]) -> tuple[Expectation, Facts]:
    """SyncSign SOPS's OTA row: up.sync-sign.com on 443 and 8433/tcp, every one needed."""
    policy = effective_policy(find_spec("syncsign-sops"), profile="internet", role="sops")
    e = row(policy, "out-443,8433-tcp")
    assert e.row.reach == "all"
    probes = [
        p for p in outbound_probes(policy, Facts(ufw=INACTIVE, sockets=()), Declarations()) if e.key in p.id
    ]
    assert {p.port for p in probes} == set(outcomes)
    results = {p.id: result(p.id, p.host, "tcp", p.port, outcomes[p.port]) for p in probes}
    return e, Facts(ufw=INACTIVE, sockets=(), outbound=results)


@pytest.mark.parametrize(
    ("outcomes", "verdict"),
    [
        ({443: "ok", 8433: "ok"}, "passed"),
        ({443: "ok", 8433: "unverifiable"}, "skipped"),  # half a row is not a row
        ({443: "unverifiable", 8433: "unverifiable"}, "skipped"),
        ({443: "ok", 8433: "timeout"}, "failed"),
        ({443: "unverifiable", 8433: "refused"}, "failed"),
    ],
)
def test_outbound_every_destination_must_be_verified_to_pass(outcomes: dict[int, str], verdict: str) -> None:
    e, facts = sops_facts(outcomes)
    assert check_outbound(e, facts, Declarations()).outcome == verdict


def test_a_partly_unverifiable_row_says_what_answered_and_what_could_not_be_verified() -> None:
    e, facts = sops_facts({443: "ok", 8433: "unverifiable"})
    verdict = check_outbound(e, facts, Declarations())
    assert verdict.observed.startswith("1 of 2 probe(s) answered; cannot verify up.sync-sign.com:8433/tcp")
    assert len(verdict.evidence) == 2


def sops_mqtt_inbound(probed: str, outcomes: tuple[str, str]) -> tuple[Expectation, Facts]:
    """SOPS's MQTT row (8443 and 8883/tcp, listeners up) and the tester's probes of `probed`."""
    policy = effective_policy(find_spec("syncsign-sops"), profile="internet", role="sops")
    e = row(policy, "in-8443,8883-tcp")
    sockets = tuple(
        Socket("tcp", "0.0.0.0", port, (("sops", 1),), None, f"tcp LISTEN 0.0.0.0:{port}")
        for port in (8443, 8883)
    )
    probes = [p for p in inbound_probes(policy, None, Declarations()) if f"|{e.key}|" in p.id]
    assert [p.port for p in probes] == [8443, 8883]
    inbound = {p.id: result(p.id, probed, "tcp", p.port, o) for p, o in zip(probes, outcomes, strict=True)}
    return e, Facts(ufw=INACTIVE, sockets=sockets, inbound=inbound, address=probed)


@pytest.mark.parametrize(
    ("outcomes", "verdict"),
    [
        (("ok", "ok"), "passed"),
        (("ok", "unverifiable"), "skipped"),
        (("ok", "timeout"), "failed"),
    ],
)
def test_inbound_allow_passes_only_when_every_port_answered(outcomes: tuple[str, str], verdict: str) -> None:
    """SOPS's MQTT row: 8443 and 8883/tcp, each with its listener required."""
    e, facts = sops_mqtt_inbound("198.18.251.2", outcomes)
    checked = check_inbound(e, facts, Declarations())
    assert checked.outcome == verdict
    if verdict == "skipped":
        assert "1 of 2 probe(s) answered; cannot verify 198.18.251.2:8883/tcp" in checked.observed


def test_inbound_probes_a_documented_range_where_its_service_listens() -> None:
    """A range is a pool (as the listening check reads it): the tester probes where the row's
    service listens in it, or its first port when nothing does (which then fails honestly)."""
    policy = effective_policy(find_spec("smartserver"), enable=["all"])
    bacnet = row(policy, "in-47808-47823,49152-65535-udp")
    fixed_row = dataclasses.replace(bacnet.row, configurable=False)  # a range that is not configurable
    fixed = dataclasses.replace(bacnet, side=dataclasses.replace(bacnet.side, row=fixed_row))
    declared = Declarations()
    assert inbound_ports(fixed, None, declared) == []  # a range needs the snapshot

    def udp(port: int, process: str) -> Socket:
        return Socket("udp", "0.0.0.0", port, ((process, 7),), None, f"udp UNCONN 0.0.0.0:{port} {process}")

    held = (udp(47810, "echbacnet"), udp(47811, "echbacnet"), udp(50000, "other"))
    facts = Facts(ufw=INACTIVE, sockets=held)
    assert inbound_ports(fixed, facts, declared) == [47810, 47811, 49152]  # 50000 is not the row's service
    assert inbound_ports(fixed, Facts(ufw=INACTIVE, sockets=()), declared) == [47808, 49152]


IP_ADDR = """1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
1: lo    inet6 ::1/128 scope host \\       valid_lft forever preferred_lft forever
2: eth0    inet 198.18.1.2/24 brd 198.18.1.255 scope global eth0\\       valid_lft forever
2: eth0    inet6 fe80::1/64 scope link \\       valid_lft forever preferred_lft forever
"""


def test_the_device_s_own_addresses_come_from_ip_addr() -> None:
    assert own_addresses(IP_ADDR) == ["127.0.0.1", "::1", "198.18.1.2", "fe80::1"]
    assert own_addresses("") == []


@pytest.mark.parametrize(
    ("probed", "own", "outcome"),
    [
        ("198.18.1.2", ("127.0.0.1", "198.18.1.2"), "passed"),  # the device's own address
        ("198.18.9.9", ("127.0.0.1", "198.18.1.2"), "skipped"),  # a NAT or port forward in between
        ("198.18.9.9", (), "passed"),  # `ip` gave nothing: nothing to compare with
    ],
)
def test_inbound_probes_of_an_address_that_is_not_the_device_s_prove_nothing(
    probed: str, own: tuple[str, ...], outcome: str
) -> None:
    e, facts = sops_mqtt_inbound(probed, ("ok", "ok"))
    verdict = check_inbound(e, dataclasses.replace(facts, own_addresses=own), Declarations())
    assert verdict.outcome == outcome
    if outcome == "skipped":
        assert (
            "not one of its own addresses (127.0.0.1, 198.18.1.2): NAT or port forwarding" in verdict.observed
        )
