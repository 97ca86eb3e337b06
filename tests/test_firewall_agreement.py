"""Where ufw's view and the kernel disagree, the report gets a finding quoting both sides."""

from __future__ import annotations

from kernelfixture import ufw_kernel

from pytest_portspec.firewall.agreement import disagreements
from pytest_portspec.parse.ufw import parse_user_rules
from pytest_portspec.parse.ufw_rules import UfwState

USER = (
    "### tuple ### allow tcp 443 0.0.0.0/0 any 0.0.0.0/0 in\n-A ufw-user-input -p tcp --dport 443 -j ACCEPT\n"
)


def state(user: str = USER, active: bool = True) -> UfwState:
    return UfwState(
        active, "deny", "allow", "disabled", tuple(parse_user_rules(user, False)), False, "user.rules"
    )


def test_a_device_set_up_only_through_ufw_has_no_finding() -> None:
    assert disagreements(state(), {False: USER, True: None}, ufw_kernel(USER)) == []


def test_a_raw_rule_in_front_of_ufw_is_a_finding_outside_ufw_and_on_its_port() -> None:
    kernel = ufw_kernel(USER, first4=("-A INPUT -p tcp -m tcp --dport 502 -j ACCEPT",))
    found = disagreements(state(), {False: USER, True: None}, kernel)
    texts = [f.what for f in found]
    assert "1 rule(s) outside ufw in filter INPUT decide traffic" in texts
    port = next(f for f in found if "502/tcp" in f.what)
    assert "default deny (incoming)" in port.ufw and "filter INPUT rule 1" in port.kernel


def test_a_tuple_that_says_deny_over_an_accept_line_is_a_finding() -> None:
    user = "### tuple ### deny tcp 502 0.0.0.0/0 any 0.0.0.0/0 in\n"
    user += "-A ufw-user-input -p tcp --dport 502 -j ACCEPT\n"
    found = disagreements(state(user), {False: user, True: None}, ufw_kernel(user))
    tuple_finding = next(f for f in found if "says deny in its tuple but ACCEPT" in f.what)
    assert tuple_finding.ufw.startswith("### tuple ### deny") and tuple_finding.kernel.endswith("-j ACCEPT")


def test_a_kernel_chain_that_differs_from_user_rules_is_a_finding() -> None:
    edited = "-A ufw-user-input -p tcp --dport 8443 -j ACCEPT\n"  # loaded by hand, not in the file
    found = disagreements(state(), {False: USER, True: None}, ufw_kernel(edited))
    chain = next(f for f in found if "ufw-user-input in the kernel differs" in f.what)
    assert "--dport 443" in chain.ufw and "--dport 8443" in chain.kernel


def test_ufw_inactive_while_its_chains_still_filter_is_a_finding() -> None:
    found = disagreements(state(active=False), {False: USER, True: None}, ufw_kernel(USER))
    assert any("ufw reports inactive" in f.what for f in found)


def test_ufw_active_without_its_chains_in_the_kernel_is_a_finding() -> None:
    found = disagreements(state(), {False: USER, True: None}, ufw_kernel(USER, active=False))
    assert any("does not pass through ufw's chains" in f.what for f in found)
