"""The site's management networks (issue 18): with the cluster network known, a cluster-only port
may also let in the networks the site declares for management (`--management-net`, an
inventory's `management:`), which need not get in; any other address is outside the cluster.
They never excuse a port open to every address.

The rules are ufw 0.36's user.rules lines, as in tests/test_cluster_rows.py.
"""

from __future__ import annotations

from test_cluster_rows import CLUSTER_PORTS, SSH, SSH6, anywhere, facts, from_net, policy, verdicts

from pytest_portspec.checks.context import Declarations
from pytest_portspec.checks.exposure import check_exposure

CLUSTER = "198.18.40.0/24"
MANAGEMENT = "198.18.50.0/24"
DB = "in-27017,27030-tcp-db-db-database"
MONGOD = 'tcp   LISTEN 0      4096         0.0.0.0:27017      0.0.0.0:*    users:(("mongod",pid=912,fd=11))'


def node(extra: str) -> str:
    """A database node whose cluster ports let the cluster in, and 27017,27030 also from `extra`."""
    return SSH + "".join(from_net(p) for p in CLUSTER_PORTS) + extra


STRICT = Declarations(cluster_nets=(CLUSTER,))
MANAGED = Declarations(cluster_nets=(CLUSTER,), management_nets=(MANAGEMENT,))


def test_a_management_network_let_in_fails_without_its_declaration_and_passes_with_it() -> None:
    user = node(from_net("27017,27030", MANAGEMENT))
    verdict = verdicts(facts(user), declared=STRICT)[DB]
    assert (verdict.outcome, verdict.failure_class) == ("failed", "cluster-open"), verdict.observed
    verdict = verdicts(facts(user), declared=MANAGED)[DB]
    assert verdict.outcome == "passed", verdict.observed
    assert any(MANAGEMENT in n and "management" in n for n in verdict.notes), verdict.notes
    assert any(MANAGEMENT in line for line in verdict.evidence), verdict.evidence


def test_the_management_network_need_not_get_in() -> None:
    found = verdicts(facts(node("")), declared=MANAGED)
    assert {v.outcome for v in found.values()} == {"passed"}
    assert not any("management" in n for v in found.values() for n in v.notes)
    wide = Declarations(cluster_nets=(CLUSTER,), management_nets=("198.18.0.0/16",))
    found = verdicts(facts(node("")), declared=wide)  # it holds the cluster: only the cluster gets in
    assert {v.outcome for v in found.values()} == {"passed"}
    assert not any("management" in n for v in found.values() for n in v.notes)


def test_an_undeclared_network_is_still_outside_the_cluster() -> None:
    user = node(from_net("27017,27030", "198.18.60.0/24"))
    verdict = verdicts(facts(user), declared=MANAGED)[DB]
    assert (verdict.outcome, verdict.failure_class) == ("failed", "cluster-open"), verdict.observed
    assert "198.18.60.0/24" in verdict.observed and MANAGEMENT in verdict.observed


def test_a_port_open_to_anywhere_fails_whatever_management_network_is_declared() -> None:
    user = node(anywhere("27017,27030"))
    for declared in (
        MANAGED,
        Declarations(management_nets=(MANAGEMENT,)),
        Declarations(cluster_nets=(CLUSTER,), management_nets=("0.0.0.0/0",)),
        Declarations(management_nets=("0.0.0.0/0",)),
    ):
        verdict = verdicts(facts(user), declared=declared)[DB]
        assert (verdict.outcome, verdict.failure_class) == ("failed", "cluster-open"), (declared, verdict)


def test_ipv6_open_to_everyone_fails_though_an_ipv6_management_network_is_declared() -> None:
    declared = Declarations(cluster_nets=(CLUSTER,), management_nets=(MANAGEMENT, "::/0"))
    verdict = verdicts(facts(node(""), SSH6 + anywhere("27019,27020", v6=True)), declared=declared)
    assert verdict["in-27019,27020-tcp"].failure_class == "cluster-open"


def test_without_the_cluster_network_the_note_names_the_management_networks_it_lets_in() -> None:
    user = node(from_net("27017,27030", MANAGEMENT))
    verdict = verdicts(facts(user), declared=Declarations(management_nets=(MANAGEMENT, "198.18.70.0/24")))[DB]
    assert verdict.outcome == "passed", verdict.observed
    [note] = [n for n in verdict.notes if "management" in n]
    assert MANAGEMENT in note and "198.18.70.0/24" not in note
    plain = verdicts(facts(user))[DB]
    assert plain.outcome == "passed" and not [n for n in plain.notes if "management" in n]


def test_the_exposure_audit_does_not_count_a_management_network_as_outside() -> None:
    found = facts(node(from_net("27017,27030", MANAGEMENT)), ss=MONGOD)
    strict = check_exposure(policy(), found, STRICT)
    assert (strict.outcome, strict.failure_class) == ("failed", "exposed"), strict.observed
    assert check_exposure(policy(), found, MANAGED).outcome == "passed"
    open_ = facts(node(anywhere("27017,27030")), ss=MONGOD)
    assert check_exposure(policy(), open_, MANAGED).failure_class == "exposed"
