"""The default-policy items judge every port of both protocols and both families in the kernel."""

from __future__ import annotations

import pytest
from kernelfixture import ufw_kernel

from pytest_portspec.checks.context import Declarations, Facts
from pytest_portspec.checks.defaults import check_default
from pytest_portspec.parse.ufw_rules import UfwState
from pytest_portspec.spec.catalog import find_spec
from pytest_portspec.spec.policy import effective_policy

UFW = UfwState(True, "deny", "deny", "disabled", (), True, "user.rules")


def rules(*lines: str) -> str:
    return "\n".join(lines) + "\n"


def default(
    spec: str, direction: str, profile: str | None = None, **kernel: object
) -> tuple[str, str | None, str]:
    policy = effective_policy(find_spec(spec), profile=profile)
    facts = Facts(ufw=UFW, sockets=(), kernel=ufw_kernel(**kernel))  # type: ignore[arg-type]
    verdict = check_default(policy, facts, Declarations(), direction)  # type: ignore[arg-type]
    return verdict.outcome, verdict.failure_class, verdict.observed


@pytest.mark.parametrize(
    ("user", "outcome"),
    [
        ("", "passed"),
        (rules("-A ufw-user-input -j ACCEPT"), "failed"),  # `ufw allow from any`
        (rules("-A ufw-user-input -p tcp --dport 1:65535 -j ACCEPT"), "failed"),
        (rules("-A ufw-user-input -s 198.18.0.0/16 -j ACCEPT"), "failed"),  # every port, from some sources
        (rules("-A ufw-user-input -p tcp --dport 443 -j ACCEPT"), "passed"),  # a documented port
        (rules("-A ufw-user-input -p tcp --dport 6000:6100 -j ACCEPT"), "failed"),
        (rules("-A ufw-user-input -p udp --dport 502 -j ACCEPT"), "failed"),  # 502 is documented for tcp only
        (rules("-A ufw-user-input -p tcp --sport 53 -j ACCEPT"), "failed"),  # every port from source port 53
    ],
)
def test_an_undocumented_port_open_to_anyone_fails_the_inbound_default(user: str, outcome: str) -> None:
    found, klass, observed = default("smartserver", "in", user_rules=user)
    assert found == outcome, observed
    if outcome == "failed":
        assert klass == "undocumented-open" and observed.startswith("ports no row documents are open: ")


def test_the_default_names_the_first_undocumented_range_and_the_rule_that_opens_it() -> None:
    _, _, observed = default(
        "smartserver", "in", user_rules=rules("-A ufw-user-input -p tcp --dport 6000:6100 -j ACCEPT")
    )
    assert "6000-6100/tcp from any address" in observed
    assert "filter ufw-user-input rule 1 `-A ufw-user-input -p tcp --dport 6000:6100 -j ACCEPT`" in observed


def test_an_outbound_range_opened_on_an_enhanced_smartserver_fails_the_outbound_default() -> None:
    user = rules("-A ufw-user-output -p tcp --dport 6000:6100 -j ACCEPT")
    found, klass, observed = default("smartserver", "out", "enhanced", user_rules=user, default_out="deny")
    assert (found, klass) == ("failed", "undocumented-open"), observed
    assert default("smartserver", "out", "enhanced", default_out="deny")[0] == "passed"


def test_ipv6_left_open_on_a_coppercube_fails_though_ipv4_is_closed() -> None:
    found, _, observed = default("coppercube", "in", user6_rules=rules("-A ufw6-user-input -j ACCEPT"))
    assert found == "failed" and "(IPv6)" in observed, observed


def test_a_raw_iptables_accept_in_front_of_ufw_fails_the_default() -> None:
    found, _, observed = default("coppercube", "in", first4=("-A INPUT -p tcp --dport 31337 -j ACCEPT",))
    assert found == "failed" and "filter INPUT rule 1" in observed, observed


def test_a_chain_policy_set_to_accept_under_ufw_fails_the_default() -> None:
    # `iptables -P INPUT ACCEPT`: what ufw does not decide (its skip-to-policy is left) falls to ACCEPT
    found, _, observed = default("coppercube", "in", input_policy="ACCEPT")
    assert found == "failed" and "filter INPUT policy ACCEPT" in observed, observed


def test_ufws_stock_dhcp_client_rule_is_a_note_not_an_undocumented_port() -> None:
    policy = effective_policy(find_spec("coppercube"))
    facts = Facts(ufw=UFW, sockets=(), kernel=ufw_kernel())
    verdict = check_default(policy, facts, Declarations(), "in")
    assert verdict.outcome == "passed", verdict.observed
    assert any("68/udp" in n and "--sport 67" in n for n in verdict.notes)


def test_a_rule_the_model_cannot_read_makes_the_default_an_error_quoting_it() -> None:
    user = rules("-A ufw-user-input -p tcp -m u32 --u32 0x0=0x0 -j ACCEPT")
    found, _, observed = default("coppercube", "in", user_rules=user)
    assert found == "error" and "cannot decide" in observed and "-m u32" in observed, observed


def test_without_the_kernels_ruleset_the_default_is_an_error_naming_why() -> None:
    policy = effective_policy(find_spec("coppercube"))
    facts = Facts(ufw=UFW, sockets=(), kernel_error="iptables-save gave no ruleset (command not found)")
    verdict = check_default(policy, facts, Declarations(), "in")
    assert verdict.outcome == "error" and "command not found" in verdict.observed
