"""Port forwards in the nat table (Docker's published ports): parsed, and in the exposure audit."""

from __future__ import annotations

from pytest_portspec.catalog import find_spec
from pytest_portspec.checks.context import Declarations, Facts
from pytest_portspec.checks.sockets import check_exposure
from pytest_portspec.parse.nat import parse_forwards
from pytest_portspec.parse.ufw_rules import UfwState
from pytest_portspec.policy import effective_policy
from pytest_portspec.spec.model import PortRange

DOCKER = """*nat
:PREROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A DOCKER -i docker0 -j RETURN
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8443 -j DNAT --to-destination 172.17.0.2:8443
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 6379 -j DNAT --to-destination 172.17.0.3:6379
-A PREROUTING -p udp -m udp --dport 10000:10002 -j REDIRECT --to-ports 53
-A PREROUTING -i lo -p tcp -m tcp --dport 9000 -j REDIRECT --to-ports 90
-A OUTPUT -p tcp -m tcp --dport 8000 -j REDIRECT --to-ports 80
COMMIT
"""


def test_forwards_of_incoming_traffic_are_read_and_the_rest_left_out() -> None:
    forwards = parse_forwards(DOCKER)
    assert [(f.proto, f.ports, f.target, f.to) for f in forwards] == [
        ("tcp", PortRange(8443, 8443), "DNAT", "172.17.0.2:8443"),
        ("tcp", PortRange(6379, 6379), "DNAT", "172.17.0.3:6379"),
        ("udp", PortRange(10000, 10002), "REDIRECT", "53"),
    ]
    assert forwards[1].describe() == "6379/tcp DNAT to 172.17.0.3:6379"
    assert (
        parse_forwards("*filter\n-A INPUT -p tcp --dport 1 -j DNAT --to-destination 1.2.3.4\nCOMMIT\n") == []
    )
    assert parse_forwards("") == []


def test_a_container_port_no_row_documents_fails_the_exposure_audit_though_ufw_never_shows_it() -> None:
    """SyncSign's SOPS runs in Docker: 8443 is documented, a published redis is not."""
    policy = effective_policy(find_spec("syncsign-sops"), profile="internet", role="sops")
    state = UfwState(True, "deny", "allow", "deny", (), False, "user.rules")
    facts = Facts(ufw=state, sockets=(), forwards=tuple(parse_forwards(DOCKER)))
    verdict = check_exposure(policy, facts, Declarations())
    assert verdict.outcome == "failed" and verdict.failure_class == "exposed"
    assert "undocumented port forward 6379/tcp DNAT to 172.17.0.3:6379, which ufw's rules do not see" in (
        verdict.observed
    )
    assert "8443" not in verdict.observed  # documented for the hubs
    assert any("--dport 6379" in line for line in verdict.evidence)
    declared = Declarations(
        site_allow=frozenset({("tcp", 6379), ("udp", 10000), ("udp", 10001), ("udp", 10002)})
    )
    assert check_exposure(policy, facts, declared).outcome == "passed"
