"""A row's firewall item judges what the kernel enforces: every case here passed on ufw's rule file alone.

The kernels are built the way ufw builds them (kernelfixture): ufw's stock chains of a real
capture, the user rules, and raw iptables rules where a case adds them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kernelfixture import ufw_kernel, ufw_save

from pytest_portspec.checks.context import Declarations, Facts
from pytest_portspec.checks.firewall import check_row
from pytest_portspec.checks.verdict import Verdict
from pytest_portspec.firewall.model import KernelModel, KernelSources
from pytest_portspec.parse.ufw import parse_user_rules
from pytest_portspec.parse.ufw_rules import UfwState
from pytest_portspec.spec.catalog import find_spec
from pytest_portspec.spec.policy import effective_policy

UFW = UfwState(True, "deny", "allow", "disabled", (), True, "user.rules")


def rules(*lines: str) -> str:
    return "\n".join(lines) + "\n"


def row(spec: str, key: str, kernel: KernelModel, profile: str | None = None) -> Verdict:
    policy = effective_policy(find_spec(spec), profile=profile)
    [e] = [e for e in policy.rows if e.key == key]
    return check_row(e, Facts(ufw=UFW, sockets=(), kernel=kernel), Declarations())


OPENS_502 = {
    "two halves of IPv4": (
        "-A ufw-user-input -s 0.0.0.0/1 -j ACCEPT",
        "-A ufw-user-input -s 128.0.0.0/1 -j ACCEPT",
    ),
    "one source network": ("-A ufw-user-input -s 10.0.0.0/8 -p tcp --dport 502 -j ACCEPT",),
    "one interface": ("-A ufw-user-input -i eth1 -p tcp --dport 502 -j ACCEPT",),
    "source port 53": ("-A ufw-user-input -p tcp --sport 53 -j ACCEPT",),
}


@pytest.mark.parametrize("case", list(OPENS_502))
def test_a_blocked_port_opened_for_part_of_the_flows_fails(case: str) -> None:
    kernel = ufw_kernel(rules(*OPENS_502[case]), interfaces=("lo", "eth0", "eth1"))
    verdict = row("smartserver", "in-502-tcp", kernel)
    assert verdict.outcome == "failed" and verdict.failure_class == "permitted-by-kernel", verdict.observed
    assert "502/tcp" in verdict.observed and "ufw-user-input rule" in verdict.observed


def test_the_failure_names_the_sources_and_the_rule() -> None:
    verdict = row("smartserver", "in-502-tcp", ufw_kernel(rules(*OPENS_502["one source network"])))
    assert "502/tcp from 10.0.0.0/8" in verdict.observed
    assert "`-A ufw-user-input -s 10.0.0.0/8 -p tcp --dport 502 -j ACCEPT`" in verdict.observed


def test_a_partial_deny_in_front_of_a_full_allow_takes_effect() -> None:
    user = rules(
        "-A ufw-user-input -s 0.0.0.0/1 -p tcp --dport 443 -j DROP",
        "-A ufw-user-input -s 128.0.0.0/1 -p tcp --dport 443 -j DROP",
        "-A ufw-user-input -p tcp --dport 443 -j ACCEPT",
    )
    verdict = row("smartserver", "in-443-tcp-https-nginx", ufw_kernel(user, addresses=("198.18.1.2",)))
    # ufw's view here (no tuples listed) says blocked too: the class names whose view agrees
    assert verdict.outcome == "failed" and verdict.failure_class == "blocked-by-ufw", verdict.observed


def test_a_raw_iptables_accept_ahead_of_ufw_opens_a_blocked_port() -> None:
    kernel = ufw_kernel(first4=("-A INPUT -p tcp -m tcp --dport 502 -j ACCEPT",))
    verdict = row("smartserver", "in-502-tcp", kernel)
    assert (verdict.outcome, verdict.failure_class) == ("failed", "permitted-by-kernel"), verdict.observed
    assert "filter INPUT rule 1" in verdict.observed


def test_an_edited_before_rules_opens_a_blocked_port() -> None:
    kernel = ufw_kernel(extra4=("-A ufw-before-input -p tcp --dport 502 -j ACCEPT",))
    assert row("smartserver", "in-502-tcp", kernel).outcome == "failed"


def test_the_kernels_rule_decides_when_the_tuple_comment_says_deny() -> None:
    user = rules(
        "### tuple ### deny tcp 502 0.0.0.0/0 any 0.0.0.0/0 in",
        "-A ufw-user-input -p tcp --dport 502 -j ACCEPT",
    )
    assert row("smartserver", "in-502-tcp", ufw_kernel(user)).outcome == "failed"


def test_a_blocked_port_closed_in_both_families_passes_with_ufws_view_beside_it() -> None:
    verdict = row("smartserver", "in-502-tcp", ufw_kernel())
    assert verdict.outcome == "passed", verdict.observed
    assert any(line.startswith("ufw's view:") for line in verdict.evidence)


def test_an_outbound_allow_restricted_to_the_documented_destination_passes() -> None:
    user = rules("-A ufw-user-output -d 35.182.117.170 -p tcp --dport 5671 -j ACCEPT")
    verdict = row(
        "coppercube", "out-5671-tcp", ufw_kernel(user, default_out="deny", addresses=("198.18.1.2",))
    )
    assert verdict.outcome == "passed", verdict.observed
    assert any("35.182.117.170" in note for note in verdict.notes)


def test_an_outbound_allow_to_another_destination_fails() -> None:
    user = rules("-A ufw-user-output -d 192.0.2.9 -p tcp --dport 5671 -j ACCEPT")
    verdict = row(
        "coppercube", "out-5671-tcp", ufw_kernel(user, default_out="deny", addresses=("198.18.1.2",))
    )
    assert verdict.outcome == "failed", verdict.observed


@pytest.mark.parametrize(
    "rule",
    [
        "-A ufw-user-input -d 198.18.1.2 -p tcp --dport 443 -j ACCEPT",  # the device's only address
        "-A ufw-user-input -i eth0 -p tcp --dport 443 -j ACCEPT",  # its only interface
    ],
)
def test_an_allow_restricted_to_the_devices_own_address_or_only_interface_passes(rule: str) -> None:
    kernel = ufw_kernel(rules(rule), addresses=("127.0.0.1", "198.18.1.2"), interfaces=("lo", "eth0"))
    assert row("smartserver", "in-443-tcp-https-nginx", kernel).outcome == "passed"


def test_an_allow_on_one_of_two_interfaces_is_restricted() -> None:
    kernel = ufw_kernel(
        rules("-A ufw-user-input -i eth0 -p tcp --dport 443 -j ACCEPT"),
        addresses=("198.18.1.2", "198.19.1.2"),
        interfaces=("lo", "eth0", "eth1"),
    )
    verdict = row("smartserver", "in-443-tcp-https-nginx", kernel)
    assert (verdict.outcome, verdict.failure_class) == ("failed", "restricted"), verdict.observed
    assert "on eth1" in verdict.observed


def test_an_ipsec_rule_is_explained_and_never_matches_a_tcp_check() -> None:
    user = rules(
        "### tuple ### allow esp any 0.0.0.0/0 any 192.0.2.0/24 in",
        "-A ufw-user-input -p esp -s 192.0.2.0/24 -j ACCEPT",
    )
    [rule] = parse_user_rules(user, False)
    assert rule.proto == "esp" and "esp" in rule.describe()
    assert row("smartserver", "in-502-tcp", ufw_kernel(user)).outcome == "passed"


def test_a_rate_limited_allow_passes_with_a_note_and_a_rate_limited_block_fails() -> None:
    limit = rules(
        "-A ufw-user-input -p tcp --dport 443 -m conntrack --ctstate NEW -m recent --set --name DEFAULT "
        "--rsource",
        "-A ufw-user-input -p tcp --dport 443 -m conntrack --ctstate NEW -m recent --update --seconds 30 "
        "--hitcount 6 --name DEFAULT --rsource -j ufw-user-limit",
        "-A ufw-user-input -p tcp --dport 443 -j ufw-user-limit-accept",
        "-A ufw-user-limit -j REJECT --reject-with icmp-port-unreachable",  # ufw writes these chains too
        "-A ufw-user-limit-accept -j ACCEPT",
    )
    allowed = row("smartserver", "in-443-tcp-https-nginx", ufw_kernel(limit, addresses=("198.18.1.2",)))
    assert allowed.outcome == "passed" and any("under load" in n for n in allowed.notes), allowed
    drop_unless_busy = rules(
        "-A ufw-user-input -p tcp --dport 502 -m limit --limit 1/s -j DROP",
        "-A ufw-user-input -p tcp --dport 502 -j ACCEPT",
    )
    assert row("smartserver", "in-502-tcp", ufw_kernel(drop_unless_busy)).outcome == "failed"


def test_a_match_the_model_cannot_read_is_an_error_quoting_the_rule() -> None:
    kernel = ufw_kernel(
        rules("-A ufw-user-input -p tcp --dport 502 -m string --string x --algo bm -j ACCEPT")
    )
    verdict = row("smartserver", "in-502-tcp", kernel)
    assert (
        verdict.outcome == "error"
        and "-m string" in verdict.observed
        and "ufw-user-input rule 1" in verdict.observed
    )


def test_an_unreadable_match_that_cannot_change_the_verdict_decides_nothing() -> None:
    kernel = ufw_kernel(rules("-A ufw-user-input -p tcp --dport 502 -m string --string x --algo bm -j DROP"))
    assert row("smartserver", "in-502-tcp", kernel).outcome == "passed"


def native_nft_kernel() -> KernelModel:
    """ufw's iptables-nft tables plus native nftables tables (tests/data/kernel/nft/native-over-ufw)."""
    nft = (Path(__file__).parent / "data" / "kernel" / "nft" / "native-over-ufw.json").read_text()
    user = rules("-A ufw-user-input -p tcp --dport 443 -j ACCEPT")
    return KernelModel.build(
        KernelSources(
            iptables=ufw_save(user),
            ip6tables=ufw_save("", v6=True),
            nft=nft,
            addresses=("198.18.1.2",),
            interfaces=("lo", "eth0"),
        )
    )


def test_a_native_nftables_forward_opens_a_blocked_port_ufw_never_shows() -> None:
    verdict = row("smartserver", "in-502-tcp", native_nft_kernel())
    assert verdict.outcome == "failed" and verdict.failure_class == "permitted-by-kernel", verdict.observed
    assert "forward via ip docker-bridges prerouting rule 1" in verdict.observed


def test_a_native_nftables_drop_ahead_of_ufw_blocks_an_allowed_port() -> None:
    verdict = row("smartserver", "in-443-tcp-https-nginx", native_nft_kernel())
    assert verdict.outcome == "failed" and "inet guard input rule 1" in verdict.observed, verdict.observed


def test_without_the_kernels_ruleset_a_row_is_an_error_naming_why() -> None:
    policy = effective_policy(find_spec("smartserver"))
    [e] = [e for e in policy.rows if e.key == "in-502-tcp"]
    facts = Facts(
        ufw=UFW, sockets=(), kernel_error="iptables-save gave no ruleset (sudo: iptables-save: not found)"
    )
    verdict = check_row(e, facts, Declarations())
    assert verdict.outcome == "error" and "iptables-save: not found" in verdict.observed
