"""Node-to-node flows: which pairs a site has, and the verdict of each from plain snapshots."""

from __future__ import annotations

import dataclasses

import pytest

from pytest_portspec.checks.context import Facts
from pytest_portspec.checks.flow_plan import Node, Pair, plan_pairs
from pytest_portspec.checks.flows import check_pair
from pytest_portspec.parse.sockets import Socket
from pytest_portspec.parse.ufw_rules import UfwRule, UfwState
from pytest_portspec.probe.outbound import ProbeResult
from pytest_portspec.spec.catalog import find_spec
from pytest_portspec.spec.model import PortRange
from pytest_portspec.spec.policy import effective_policy

VOSS = [("webproxy-1", "webproxy"), ("application-1", "application"), ("database-1", "database")]


def nodes(spec: str, members: list[tuple[str, str]], profile: str | None = None) -> list[Node]:
    s = find_spec(spec, [])
    return [
        Node(name, f"{spec}@{name}", f"198.18.251.{i}", effective_policy(s, profile=profile, role=role))
        for i, (name, role) in enumerate(members, 1)
    ]


def pair(key: str, spec: str = "voss", members: list[tuple[str, str]] = VOSS) -> Pair:
    found = {p.key: p for p in plan_pairs("site-a", nodes(spec, members))}
    assert key in found, sorted(found)
    return found[key]


def test_a_voss_cluster_has_every_documented_flow_in_each_direction_it_names() -> None:
    keys = {p.key for p in plan_pairs("site-a", nodes("voss", VOSS))}
    assert keys == {
        "webproxy-1->application-1::443-tcp",  # one way: proxy-app-user-access
        "webproxy-1->application-1::8443-tcp",
        "application-1->webproxy-1::8443-tcp",  # bi-directional
        "application-1->database-1::8443-tcp",  # one way: app-db-cluster
        "application-1->database-1::27017-tcp",
        "application-1->database-1::27030-tcp",
        "database-1->application-1::27017-tcp",  # bi-directional database access
        "database-1->application-1::27030-tcp",
    }
    assert all(p.group == "voss@site-a" for p in plan_pairs("site-a", nodes("voss", VOSS)))


def test_two_nodes_of_one_role_talk_to_each_other_but_a_node_never_to_itself() -> None:
    members = [("database-1", "database"), ("database-2", "database")]
    keys = {p.key for p in plan_pairs("site-a", nodes("voss", members))}
    assert "database-1->database-2::27017-tcp" in keys and "database-2->database-1::8443-tcp" in keys
    assert not [k for k in keys if k.startswith("database-1->database-1")]


def test_syncsign_hubs_reach_the_sops_from_both_sides_of_the_document() -> None:
    members = [("sops", "sops"), ("hub-1", "hub"), ("hub-2", "hub")]
    for profile in ("internet", "lan"):
        pairs = plan_pairs("hq", nodes("syncsign-sops", members, profile))
        assert {p.key for p in pairs if p.source.name == "hub-1"} == {
            f"hub-1->sops::{port}-tcp" for port in (80, 443, 1883, 8443, 8883, 8888)
        }
        mqtts = next(p for p in pairs if p.key == "hub-2->sops::8883-tcp")
        assert [e.row.id for e in mqtts.source_rows] == ["hub-mqtts-wss"]
        assert [e.row.id for e in mqtts.peer_rows] == ["mqtts-wss-in"]
        assert mqtts.listener_required and mqtts.applies
        assert not [p for p in pairs if p.source.name == "sops"]  # no row says the SOPS calls a hub


# --- verdicts ------------------------------------------------------------------------------


def rule(port: int, src: str = "0.0.0.0/0", action: str = "allow", direction: str = "in") -> UfwRule:
    return UfwRule(
        position=1,
        action=action,  # type: ignore[arg-type]
        direction=direction,  # type: ignore[arg-type]
        proto="tcp",
        dports=(PortRange(port, port),),
        sports=(),
        src=src,
        dst="0.0.0.0/0",
        interface=None,
        v6=False,
        comment=None,
        text=f"{port}/tcp {action.upper()} {direction.upper()} {src}",
    )


def facts(
    *rules: UfwRule, listening: tuple[int, ...] = (), probe: tuple[str, int, str] | None = None
) -> Facts:
    state = UfwState(True, "deny", "allow", "deny", rules, False, "user.rules")
    sockets = tuple(
        Socket("tcp", "0.0.0.0", port, (("svc", 1),), None, f"tcp LISTEN 0.0.0.0:{port}")
        for port in listening
    )
    outbound = {}
    if probe is not None:
        peer, port, outcome = probe
        pid = f"pair|{peer}|tcp|{port}"
        outbound[pid] = ProbeResult(pid, "198.18.251.3", "tcp", port, outcome, None, (), 0.01, outcome)  # type: ignore[arg-type]
    return Facts(ufw=state, sockets=sockets, outbound=outbound)


DB = "application-1->database-1::27017-tcp"
CLUSTER = "application-1->database-1::8443-tcp"


def test_a_flow_passes_when_the_peer_permits_the_source_and_the_probe_connects() -> None:
    verdict = check_pair(
        pair(CLUSTER), facts(probe=("database-1", 8443, "ok")), facts(rule(8443), listening=(8443,))
    )
    assert verdict.outcome == "passed", verdict
    assert verdict.check == "pair" and verdict.key == CLUSTER and verdict.row == "app-db-cluster"
    assert any(
        "database-1's firewall:" in line and "inbound 8443/tcp from 198.18.251.2" in line
        for line in verdict.evidence
    )


def test_the_peer_ufw_is_decided_for_the_source_address_not_for_anyone() -> None:
    only_other = facts(rule(8443, src="198.18.251.9"), listening=(8443,))
    verdict = check_pair(pair(CLUSTER), facts(probe=("database-1", 8443, "timeout")), only_other)
    assert (verdict.outcome, verdict.failure_class) == ("failed", "blocked-by-peer-ufw")
    assert "from 198.18.251.2" in verdict.observed
    from_source = facts(rule(8443, src="198.18.251.2/32"), listening=(8443,))
    ok = check_pair(pair(CLUSTER), facts(probe=("database-1", 8443, "ok")), from_source)
    assert ok.outcome == "passed"


def test_a_dynamic_firewall_closed_port_is_a_stopped_application_and_a_failure() -> None:
    spec = find_spec("voss", [])
    verdict = check_pair(
        pair(DB), facts(probe=("database-1", 27017, "timeout")), facts(), spec.default.dynamic
    )
    assert (verdict.outcome, verdict.failure_class) == ("failed", "service-stopped")
    assert "appears stopped" in verdict.observed
    assert any("If an application is stopped" in note for note in verdict.notes)
    plain = check_pair(pair(DB), facts(probe=("database-1", 27017, "timeout")), facts(), None)
    assert plain.failure_class == "blocked-by-peer-ufw"


def test_a_required_listener_that_is_missing_fails_even_when_ufw_permits() -> None:
    verdict = check_pair(pair(CLUSTER), facts(probe=("database-1", 8443, "refused")), facts(rule(8443)))
    assert (verdict.outcome, verdict.failure_class) == ("failed", "not-listening")


def test_a_reset_without_a_listener_proves_no_flow_even_where_a_listener_is_merely_permitted() -> None:
    """A site firewall that rejects with resets would look the same: a skip that says so, no pass."""
    verdict = check_pair(pair(DB), facts(probe=("database-1", 27017, "refused")), facts(rule(27017)))
    assert verdict.outcome == "skipped"
    assert "cannot prove the flow" in verdict.observed and "a firewall between the nodes" in verdict.observed
    with_listener = facts(rule(27017), listening=(27017,))
    assert check_pair(pair(DB), facts(probe=("database-1", 27017, "ok")), with_listener).outcome == "passed"


def test_a_node_address_that_is_not_its_own_makes_the_flow_unattributable() -> None:
    """NAT between the nodes: the probe would reach, and ufw's `from` match, some other address."""
    source = facts(probe=("database-1", 8443, "ok"))
    peer = facts(rule(8443), listening=(8443,))
    natted = dataclasses.replace(peer, own_addresses=("127.0.0.1", "198.18.9.3"))
    verdict = check_pair(pair(CLUSTER), source, natted)
    assert verdict.outcome == "skipped"
    assert (
        "database-1's address 198.18.251.3 is not one of its own (127.0.0.1, 198.18.9.3)" in verdict.observed
    )
    own = dataclasses.replace(peer, own_addresses=("127.0.0.1", "198.18.251.3"))
    assert check_pair(pair(CLUSTER), source, own).outcome == "passed"
    elsewhere = dataclasses.replace(source, own_addresses=("198.18.9.2",))
    assert "application-1's address 198.18.251.2" in check_pair(pair(CLUSTER), elsewhere, own).observed


def test_no_answer_through_an_open_peer_is_blocked_in_the_path() -> None:
    peer = facts(rule(8443), listening=(8443,))
    verdict = check_pair(pair(CLUSTER), facts(probe=("database-1", 8443, "timeout")), peer)
    assert (verdict.outcome, verdict.failure_class) == ("failed", "blocked-in-path")
    own_deny = facts(rule(8443, action="deny", direction="out"), probe=("database-1", 8443, "timeout"))
    assert check_pair(pair(CLUSTER), own_deny, peer).failure_class == "blocked-locally"


@pytest.mark.parametrize(
    ("source", "peer", "outcome"),
    [
        (None, facts(), "error"),
        (facts(probe=("database-1", 8443, "ok")), None, "error"),
        (facts(), facts(rule(8443), listening=(8443,)), "error"),  # the source ran no probe of the peer
    ],
)
def test_a_flow_that_cannot_be_decided_is_an_error_never_a_pass(
    source: Facts | None, peer: Facts | None, outcome: str
) -> None:
    assert check_pair(pair(CLUSTER), source, peer).outcome == outcome


def test_an_outbound_probe_failure_on_the_source_is_an_error() -> None:
    source = Facts(ufw=facts().ufw, sockets=(), outbound_error="no python3 on the device")
    verdict = check_pair(pair(CLUSTER), source, facts(rule(8443), listening=(8443,)))
    assert verdict.outcome == "error" and "no python3" in verdict.observed


def test_clusters_keep_their_flows_apart() -> None:
    members = [
        ("prod-app", "application"),
        ("prod-db", "database"),
        ("test-app", "application"),
        ("test-db", "database"),
        ("spare-db", "database"),
    ]
    clusters = {"prod": ("prod-app", "prod-db"), "test": ("test-app", "test-db")}
    keys = {p.key for p in plan_pairs("site-a", nodes("voss", members), clusters)}
    assert "prod-app->prod-db::27017-tcp" in keys and "test-app->test-db::27017-tcp" in keys
    assert not [k for k in keys if "prod" in k and "test" in k]
    assert not [k for k in keys if "spare-db" in k]  # in no cluster: with none of the clustered nodes
    assert {p.key for p in plan_pairs("site-a", nodes("voss", members))} > keys  # without clusters: all


def test_the_peers_kernel_decides_over_its_ufw_view_when_it_was_read() -> None:
    """A raw iptables DROP in front of ufw on the peer: ufw's view permits 8443, the kernel does not."""
    from kernelfixture import ufw_kernel

    kernel = ufw_kernel(
        "-A ufw-user-input -p tcp --dport 8443 -j ACCEPT\n",
        first4=("-A INPUT -s 198.18.251.2 -p tcp -m tcp --dport 8443 -j DROP",),
        addresses=("198.18.251.3",),
    )
    peer = dataclasses.replace(facts(rule(8443), listening=(8443,)), kernel=kernel)
    verdict = check_pair(pair(CLUSTER), facts(probe=("database-1", 8443, "timeout")), peer)
    assert (verdict.outcome, verdict.failure_class) == ("failed", "blocked-by-peer-ufw"), verdict
    assert "filter INPUT rule 1" in verdict.observed
