"""The vendor's own `ufw status numbered` example (SmartServer, after moving HTTP/HTTPS to
1780/1443): given options describing that configuration, every line gets an explained verdict,
and the document's own inconsistencies are reported as such."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_portspec.checks.context import Declarations
from pytest_portspec.checks.rules import RuleExplanation, explain_rules
from pytest_portspec.parse.ufw import UfwRule, UfwState, parse_status_rules
from pytest_portspec.spec.catalog import find_spec
from pytest_portspec.spec.model import PortRange
from pytest_portspec.spec.policy import effective_policy

EXAMPLE = Path(__file__).parent / "data" / "ufw" / "vendor-example.status-numbered.txt"


@pytest.fixture(scope="module")
def explained() -> dict[int, RuleExplanation]:
    rules = parse_status_rules(EXAMPLE.read_text())
    # the listing shows no defaults: Enhanced security's are deny/deny
    state = UfwState(True, "deny", "deny", "disabled", tuple(rules), False, "status")
    policy = effective_policy(find_spec("smartserver"), enable=["mqtt", "ine", "lon"])
    moved = Declarations(site_allow=frozenset({("tcp", 1780), ("tcp", 1443)}))
    return {e.rule.position: e for e in explain_rules(policy, state, moved)}


def test_every_line_of_the_example_is_explained(explained: dict[int, RuleExplanation]) -> None:
    assert sorted(explained) == list(range(1, 26))
    assert all(e.text for e in explained.values())


@pytest.mark.parametrize(
    ("position", "kind", "words"),
    [
        (1, "documented", "row ssh"),
        (2, "documented", "row mdns"),
        (
            3,
            "inconsistent",
            "the document gives 2541 as tcp (row lon-ip70), not udp (decision lon-tcp-vs-example-udp)",
        ),
        (4, "inconsistent", "2541 as tcp"),
        (5, "loopback", "as in the vendor's own example"),
        (6, "loopback", "as in the vendor's own example"),
        (7, "loopback", "as in the vendor's own example"),
        (8, "documented", "row dns"),
        (9, "contradicts", "row mdns requires outbound 5353/udp blocked in profile enhanced"),
        (10, "documented", "row cms-update-http"),
        (11, "documented", "row certificates-licensing"),
        (12, "undocumented", "allows every outbound port on interface ip70"),
        (13, "documented", "row ntp"),
        (14, "documented", "row smtp"),
        (15, "documented", "row modbus-tcp"),
        (16, "partly", "listed as [26], but it is rule 16 in order"),
        (17, "inconsistent", "the document gives 1628 as tcp (row lon)"),
        (19, "partly", "1883/tcp: row mqtt"),
        (20, "partly", "8883/tcp: row mqtt-ine"),
        (21, "site", "declared site addition"),
        (22, "undocumented", "1780/tcp: no row of the document"),
        (24, "site", "declared site addition"),
    ],
)
def test_each_line_gets_its_verdict(
    explained: dict[int, RuleExplanation], position: int, kind: str, words: str
) -> None:
    assert explained[position].kind == kind, explained[position].text
    assert words in explained[position].text


def _allow(port: int, src: str, comment: str | None) -> UfwRule:
    return UfwRule(
        1, "allow", "in", "tcp", (PortRange(port, port),), (), src, "0.0.0.0/0", None, False, comment, ""
    )


@pytest.mark.parametrize(
    ("port", "src", "comment", "kind"),
    [
        (22, "198.18.0.1", None, "management"),  # SSH from one address: this test's way in
        (22, "0.0.0.0/0", "portspec-lab management", "management"),
        (3306, "0.0.0.0/0", "management", "undocumented"),  # a comment alone explains nothing
        (3306, "198.18.0.1", "management", "undocumented"),
    ],
)
def test_only_a_rule_for_the_management_port_is_management_access(
    port: int, src: str, comment: str | None, kind: str
) -> None:
    state = UfwState(True, "deny", "deny", "disabled", (_allow(port, src, comment),), False, "status")
    policy = effective_policy(find_spec("smartserver"))
    assert explain_rules(policy, state, Declarations())[0].kind == kind
