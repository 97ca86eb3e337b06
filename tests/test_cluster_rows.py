"""Cluster-only ports (issue 18): a row the document gives for the cluster's nodes is judged by who
can reach it. A rule restricted to some sources is right (a note names them for the reviewer),
one open to every address is a failure and an exposure; `--cluster-net` makes the check strict.

The user.rules texts are what ufw 0.36 writes for the commands quoted beside them (the
`### tuple ###` line, then the `-A` lines it loads), as the lab's emulated VOSS nodes hold them.
"""

from __future__ import annotations

from pathlib import Path

from kernelfixture import ufw_kernel
from test_loader_errors import GOOD, problems_of, write
from test_readings import choice, device, sock

from pytest_portspec.checks.context import Declarations, Facts
from pytest_portspec.checks.exposure import check_exposure
from pytest_portspec.checks.firewall import check_row
from pytest_portspec.checks.reach import check_inbound, inbound_probes
from pytest_portspec.checks.rules import explain_rules
from pytest_portspec.checks.verdict import Verdict
from pytest_portspec.lab.plan import CLUSTER_NET, plan_appliance
from pytest_portspec.parse.sockets import parse_listening
from pytest_portspec.parse.ufw import parse_user_rules
from pytest_portspec.parse.ufw_rules import UfwState
from pytest_portspec.spec import load_spec
from pytest_portspec.spec.catalog import find_spec
from pytest_portspec.spec.policy import EffectivePolicy, effective_policy

NODE = ("198.18.40.12", "fe80::12", "2001:2:0:40::12")  # a database node with a global IPv6 address
SSH = "### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in\n-A ufw-user-input -p tcp --dport 22 -j ACCEPT\n"
SSH6 = "### tuple ### allow tcp 22 ::/0 any ::/0 in\n-A ufw6-user-input -p tcp --dport 22 -j ACCEPT\n"
CLUSTER_PORTS = ("27017,27030", "27019,27020", "8443")


def from_net(ports: str, net: str = "198.18.40.0/24") -> str:
    """`ufw allow from NET to any port PORTS proto tcp` (IPv4 only: NET is an IPv4 network)."""
    dports = f"-m multiport --dports {ports}" if "," in ports else f"--dport {ports}"
    return (
        f"### tuple ### allow tcp {ports} 0.0.0.0/0 any {net} in\n"
        f"-A ufw-user-input -p tcp {dports} -s {net} -j ACCEPT\n"
    )


def anywhere(ports: str, v6: bool = False) -> str:
    """`ufw allow PORTS/tcp`: ufw writes it to user.rules and user6.rules."""
    any_ = "::/0" if v6 else "0.0.0.0/0"
    chain = "ufw6" if v6 else "ufw"
    dports = f"-m multiport --dports {ports}" if "," in ports else f"--dport {ports}"
    return (
        f"### tuple ### allow tcp {ports} {any_} any {any_} in\n"
        f"-A {chain}-user-input -p tcp {dports} -j ACCEPT\n"
    )


def facts(user: str, user6: str = SSH6, ss: str = "", addresses: tuple[str, ...] = NODE) -> Facts:
    rules = tuple(parse_user_rules(user, False) + parse_user_rules(user6, True))
    ufw = UfwState(True, "deny", "allow", "deny", rules, True, "user.rules")
    kernel = ufw_kernel(user, user6, addresses=addresses, interfaces=("lo", "eth0", "eth2"))
    sockets = tuple(parse_listening(ss)) if ss else ()
    return Facts(ufw=ufw, sockets=sockets, kernel=kernel, own_addresses=addresses)


def policy(role: str = "database") -> EffectivePolicy:
    return effective_policy(find_spec("voss"), role=role)


def verdicts(f: Facts, role: str = "database", declared: Declarations | None = None) -> dict[str, Verdict]:
    return {
        e.key: check_row(e, f, declared or Declarations())
        for e in policy(role).rows
        if e.applies and e.side.direction == "in" and e.cluster_ports
    }


RESTRICTED = SSH + "".join(from_net(p) for p in CLUSTER_PORTS)


def test_the_database_nodes_cluster_rows_are_the_cluster_tables_and_its_database_ports() -> None:
    keys = {e.key for e in policy().rows if e.cluster_ports}
    assert keys == {
        "in-27017,27030-tcp-app-db-database",
        "in-8443-tcp-app-db-cluster",
        "in-27017,27030-tcp-db-db-database",
        "in-8443-tcp-db-db-cluster",
        "in-27019,27020-tcp",
    }


def test_a_node_whose_cluster_ports_are_restricted_to_the_ipv4_cluster_net_passes() -> None:
    found = verdicts(facts(RESTRICTED))
    assert len(found) == 5
    for key, verdict in found.items():
        assert verdict.outcome == "passed", (key, verdict.observed)
        assert any("198.18.40.0/24" in n and "cluster" in n for n in verdict.notes), verdict.notes


def test_a_cluster_port_open_to_anywhere_fails_as_open_to_every_address() -> None:
    user = SSH + anywhere("27017,27030") + from_net("27019,27020") + from_net("8443")
    found = verdicts(facts(user, SSH6 + anywhere("27017,27030", v6=True)))
    for key in ("in-27017,27030-tcp-app-db-database", "in-27017,27030-tcp-db-db-database"):
        verdict = found[key]
        assert (verdict.outcome, verdict.failure_class) == ("failed", "cluster-open"), verdict.observed
        assert "open to every address" in verdict.observed
    assert found["in-8443-tcp-db-db-cluster"].outcome == "passed"


def test_open_to_every_ipv6_address_fails_though_ipv4_is_restricted() -> None:
    verdict = verdicts(facts(RESTRICTED, SSH6 + anywhere("27019,27020", v6=True)))["in-27019,27020-tcp"]
    assert (verdict.outcome, verdict.failure_class) == ("failed", "cluster-open"), verdict.observed
    assert "IPv6" in verdict.observed


def test_an_ipv4_cluster_rule_set_is_complete_on_an_ipv4_only_node_too() -> None:
    found = verdicts(facts(RESTRICTED, "", addresses=("198.18.40.12", "fe80::12")))
    assert {v.outcome for v in found.values()} == {"passed"}


def test_a_cluster_row_reached_on_only_one_of_its_ports_is_restricted() -> None:
    user = SSH + from_net("27017") + from_net("27019,27020") + from_net("8443")
    verdict = verdicts(facts(user))["in-27017,27030-tcp-db-db-database"]
    assert (verdict.outcome, verdict.failure_class) == ("failed", "restricted"), verdict.observed
    assert "27030" in verdict.observed


def test_a_cluster_row_nobody_reaches_is_blocked_as_before() -> None:
    user = SSH + from_net("27019,27020") + from_net("8443")
    verdict = verdicts(facts(user))["in-27017,27030-tcp-db-db-database"]
    assert (verdict.outcome, verdict.failure_class) == ("failed", "blocked-by-ufw"), verdict.observed


def test_the_declared_cluster_network_makes_the_check_strict() -> None:
    strict = Declarations(cluster_nets=("198.18.40.0/24",))
    assert {v.outcome for v in verdicts(facts(RESTRICTED), declared=strict).values()} == {"passed"}
    wider = SSH + "".join(from_net(p, "198.18.0.0/16") for p in CLUSTER_PORTS)
    verdict = verdicts(facts(wider), declared=strict)["in-8443-tcp-db-db-cluster"]
    assert (verdict.outcome, verdict.failure_class) == ("failed", "cluster-open"), verdict.observed
    assert "outside the cluster network" in verdict.observed and "198.18.40.0/24" in verdict.observed
    narrower = SSH + "".join(from_net(p, "198.18.40.0/25") for p in CLUSTER_PORTS)
    verdict = verdicts(facts(narrower), declared=strict)["in-8443-tcp-db-db-cluster"]
    assert (verdict.outcome, verdict.failure_class) == ("failed", "restricted"), verdict.observed
    assert "198.18.40.128" in verdict.observed


def test_the_exposure_audit_counts_a_cluster_port_open_to_anywhere_as_exposed() -> None:
    ss = 'tcp   LISTEN 0      4096         0.0.0.0:27017      0.0.0.0:*    users:(("mongod",pid=912,fd=11))'
    open_ = SSH + anywhere("27017,27030") + from_net("27019,27020") + from_net("8443")
    verdict = check_exposure(policy(), facts(open_, ss=ss), Declarations())
    assert (verdict.outcome, verdict.failure_class) == ("failed", "exposed"), verdict.observed
    assert "cluster-only port 27017/tcp open to every address" in verdict.observed
    assert check_exposure(policy(), facts(RESTRICTED, ss=ss), Declarations()).outcome == "passed"


def test_8443_on_an_application_node_is_also_documented_for_everyone() -> None:
    """The Application port list opens 443 and 8443 to everyone: 8443 is no cluster-only port there."""
    rows = {e.key: e for e in policy("application").rows if e.side.direction == "in"}
    assert rows["in-8443-tcp-app-app-cluster"].cluster_ports == ()
    assert [str(p) for p in rows["in-27017,27030-tcp-application-ports-database"].cluster_ports or ()] == [
        "27017",
        "27030",
    ]


def test_the_syncsign_hub_rows_are_not_cluster_only() -> None:
    """The document gives them "From Internet to SOPS" (hubs at several offices): no restriction."""
    sops = effective_policy(find_spec("syncsign-sops"), role="sops", profile="internet")
    assert not [e.key for e in sops.rows if e.cluster_ports]


def test_the_tester_does_not_probe_a_cluster_only_port_and_says_why() -> None:
    e = next(e for e in policy().rows if e.key == "in-8443-tcp-db-db-cluster")
    assert not [p for p in inbound_probes(policy(), None, Declarations()) if p.port == 8443]
    verdict = check_inbound(e, facts(RESTRICTED), Declarations())
    assert verdict.outcome == "skipped" and "the tester is no node of the cluster" in verdict.observed


def test_cluster_only_is_a_between_rows_default_and_an_inbound_rows_choice(tmp_path: Path) -> None:
    text = GOOD.replace(
        "    action: allow\n    listener: required\n", "    action: allow\n    cluster_only: true\n"
    )
    spec = load_spec(write(tmp_path, text))
    assert {r.id: r.cluster_only for r in spec.rows} == {"ssh": True, "cloud": False, "agent-link": True}
    bad = GOOD.replace(
        "    action: {secure: allow, open: allow}\n", "    action: allow\n    cluster_only: true\n"
    )
    [problem] = problems_of(tmp_path, bad)
    assert problem.path == "rows[1].cluster_only" and "outbound rows have no sources" in problem.message


def test_the_labs_database_node_lets_only_the_cluster_in_on_its_cluster_ports() -> None:
    commands = plan_appliance(policy(), 40).ufw_commands
    for ports in ("27017,27030", "27019,27020", "8443"):
        assert ("allow", "in", "proto", "tcp", "from", CLUSTER_NET, "to", "any", "port", ports) in commands
    assert ("allow", "in", "proto", "tcp", "to", "any", "port", "22") in commands


def test_a_database_port_open_to_anywhere_fails_as_such_whatever_reading_the_node_follows() -> None:
    """27017 open to everyone is no reason to read the document another way (where 27017 would
    then be undocumented): the rows as written hold, and their cluster-only items fail."""
    rules = tuple(f"-A ufw-user-input -p tcp --dport {p} -j ACCEPT" for p in ("27017", "27030"))
    rules += tuple(
        f"-A ufw-user-input -s 198.18.40.0/24 -p tcp --dport {p} -j ACCEPT" for p in ("27019", "27020")
    )
    judged = device(policy(), rules, [sock("tcp", p, "mongod") for p in (27017, 27030, 27019, 27020)])
    assert choice(judged, "database-port-lists") is None
    failed = {(v.key, v.check): v.failure_class for v in judged.verdicts.values() if v.outcome == "failed"}
    assert failed[("in-27017,27030-tcp-db-db-database", "ufw")] == "cluster-open"
    assert failed[("exposure", "exposure")] == "exposed"
    assert "undocumented-open" not in failed.values()


def test_the_exposure_audit_asks_only_the_families_the_socket_takes() -> None:
    """mongod on 0.0.0.0 serves IPv4 alone: ufw's IPv6 rule open to everyone exposes nothing there
    (the row's own item still fails: the port is open to every IPv6 address)."""
    ss = 'tcp   LISTEN 0      4096         0.0.0.0:27017      0.0.0.0:*    users:(("mongod",pid=912,fd=11))'
    found = facts(RESTRICTED, SSH6 + anywhere("27017,27030", v6=True), ss=ss)
    assert check_exposure(policy(), found, Declarations()).outcome == "passed"
    assert verdicts(found)["in-27017,27030-tcp-db-db-database"].failure_class == "cluster-open"


def test_ufws_rule_table_says_a_cluster_only_port_open_to_anywhere_contradicts_the_document() -> None:
    user = SSH + anywhere("27017,27030") + from_net("27019,27020")
    explained = {r.rule.describe(): r for r in explain_rules(policy(), facts(user).ufw, Declarations())}
    wide = next(r for d, r in explained.items() if "27017" in d)
    assert wide.kind == "contradicts" and "cluster-only" in wide.text and "every address" in wide.text
    assert next(r for d, r in explained.items() if "27019" in d).kind == "documented"


def test_a_sops_open_to_every_hub_on_the_internet_passes_as_the_document_says() -> None:
    sops = effective_policy(find_spec("syncsign-sops"), role="sops", profile="internet")
    user = SSH + anywhere("8883,8443")
    e = next(e for e in sops.rows if e.row.id == "mqtts-wss-in")
    assert (
        check_row(e, facts(user, SSH6 + anywhere("8883,8443", v6=True)), Declarations()).outcome == "passed"
    )
