"""The default-policy items: the policy itself, and rules that undo it (plain data)."""

from __future__ import annotations

import pytest

from pytest_portspec.catalog import find_spec
from pytest_portspec.checks.context import Facts
from pytest_portspec.checks.firewall import check_default
from pytest_portspec.parse.ufw_rules import UfwRule, UfwState
from pytest_portspec.policy import effective_policy
from pytest_portspec.spec.model import PortRange


def allow_in(ports: tuple[PortRange, ...], src: str = "0.0.0.0/0", proto: str = "any") -> UfwRule:
    where = ",".join(f"{r.lo}:{r.hi}" for r in ports) or "Anywhere"
    return UfwRule(
        1, "allow", "in", proto, ports, (), src, "0.0.0.0/0", None, False, None, f"{where} ALLOW IN {src}"
    )  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("rules", "outcome", "klass"),
    [
        ((), "passed", None),
        ((allow_in(()),), "failed", "rule-opens-all"),  # `ufw allow from any`
        ((allow_in((PortRange(1, 65535),), proto="tcp"),), "failed", "rule-opens-all"),
        ((allow_in((), src="198.18.0.0/16"),), "passed", None),  # one source: the exposure audit's part
        ((allow_in((PortRange(443, 443),), proto="tcp"),), "passed", None),  # a documented port
    ],
)
def test_a_rule_that_opens_every_port_undoes_the_default_policy(
    rules: tuple[UfwRule, ...], outcome: str, klass: str | None
) -> None:
    policy = effective_policy(find_spec("smartserver"))
    state = UfwState(True, "deny", "deny", "disabled", rules, False, "user.rules")
    verdict = check_default(policy, Facts(ufw=state, sockets=()), "in")
    assert (verdict.outcome, verdict.failure_class) == (outcome, klass), verdict.observed
    if outcome == "failed":
        observed = (
            "ufw's default incoming policy is deny, but ports no row documents are open (inbound 9/tcp: "
        )
        assert verdict.observed.startswith(observed) and "allowed by IPv4 rule 1" in verdict.observed
