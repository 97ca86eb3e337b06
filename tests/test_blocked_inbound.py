"""A Blocked row's inbound probe is judged honestly: only silence, or a reset the kernel model
explains by a REJECT rule for the tester's own flow, passes.

Any answer (a connection, a reply that is not the protocol's) is `reachable`. A reset through a
ruleset that lets the flow in, or drops it, came from something that answers: `reachable`. What
the tool cannot explain (the tester's own failure, no route, no kernel model, a rule the model
cannot read) is an error naming why. The kernels are built the way ufw builds them (kernelfixture).
"""

from __future__ import annotations

import dataclasses

import pytest
from kernelfixture import ufw_kernel

from pytest_portspec.checks.context import Declarations, Facts
from pytest_portspec.checks.reach import check_inbound, check_outbound, inbound_probes, outbound_probes
from pytest_portspec.checks.verdict import Verdict
from pytest_portspec.firewall.model import KernelModel
from pytest_portspec.parse.sockets import Socket
from pytest_portspec.parse.ufw_rules import UfwState
from pytest_portspec.probe.outbound import ProbeResult
from pytest_portspec.spec.catalog import find_spec
from pytest_portspec.spec.model import PortRange
from pytest_portspec.spec.policy import effective_policy

UFW = UfwState(True, "deny", "allow", "disabled", (), True, "user.rules")
DEVICE = "198.18.1.2"
TESTER = "198.18.0.10"
SEEN = Declarations(tester_address=TESTER)
REJECT_502 = "-A ufw-user-input -p tcp --dport 502 -j REJECT --reject-with tcp-reset"
REJECT_123 = "-A ufw-user-input -p udp --dport 123 -j REJECT"


def rules(*lines: str) -> str:
    return "\n".join(lines) + "\n"


def blocked(key: str, outcome: str, kernel: KernelModel | None, declared: Declarations = SEEN) -> Verdict:
    """The SmartServer's Blocked row `key` (in-502-tcp, in-123-udp) after its one probe's `outcome`."""
    policy = effective_policy(find_spec("smartserver"))
    [e] = [e for e in policy.rows if e.key == key]
    [probe] = [p for p in inbound_probes(policy, None, declared) if f"|{key}|" in p.id]
    detail = f"{outcome}: what the probe saw"
    result = ProbeResult(probe.id, DEVICE, probe.proto, probe.port, outcome, DEVICE, (DEVICE,), 0.01, detail)  # type: ignore[arg-type]
    facts = Facts(
        ufw=UFW,
        sockets=(),
        inbound={probe.id: result},
        address=DEVICE,
        kernel=kernel,
        kernel_error=None if kernel else "iptables-save: permission denied",
    )
    return check_inbound(e, facts, declared)


def test_silence_passes() -> None:
    verdict = blocked("in-502-tcp", "timeout", ufw_kernel())
    assert verdict.outcome == "passed", verdict.observed


@pytest.mark.parametrize(("key", "outcome"), [("in-502-tcp", "ok"), ("in-123-udp", "answered")])
def test_any_answer_is_reachable(key: str, outcome: str) -> None:
    verdict = blocked(key, outcome, ufw_kernel())
    assert (verdict.outcome, verdict.failure_class) == ("failed", "reachable"), verdict.observed


def test_a_udp_reply_that_is_not_the_protocol_s_is_reachable_even_without_a_kernel_model() -> None:
    verdict = blocked("in-123-udp", "answered", None)
    assert (verdict.outcome, verdict.failure_class) == ("failed", "reachable")
    assert "answered" in verdict.observed


@pytest.mark.parametrize("outcome", ["error", "dns-failure"])
def test_the_tester_s_own_failure_is_an_error_not_a_pass(outcome: str) -> None:
    verdict = blocked("in-502-tcp", outcome, ufw_kernel())
    assert verdict.outcome == "error", verdict.observed
    assert "what the probe saw" in verdict.observed


@pytest.mark.parametrize(
    ("key", "reject"),
    [("in-502-tcp", REJECT_502), ("in-123-udp", REJECT_123)],
)
def test_a_reset_the_firewall_s_reject_explains_passes_quoting_the_rule(key: str, reject: str) -> None:
    verdict = blocked(key, "refused", ufw_kernel(rules(reject)))
    assert verdict.outcome == "passed", verdict.observed
    assert any("the firewall's REJECT answered" in n and reject in n for n in verdict.notes), verdict.notes


def test_a_reset_through_a_ruleset_that_lets_the_flow_in_is_reachable() -> None:
    kernel = ufw_kernel(rules("-A ufw-user-input -p tcp --dport 502 -j ACCEPT"))
    verdict = blocked("in-502-tcp", "refused", kernel)
    assert (verdict.outcome, verdict.failure_class) == ("failed", "reachable"), verdict.observed
    assert "the device's stack answered" in verdict.observed
    assert "-A ufw-user-input -p tcp --dport 502 -j ACCEPT" in " ".join(verdict.evidence)


def test_a_reset_through_a_ruleset_that_drops_the_flow_is_reachable() -> None:
    verdict = blocked("in-502-tcp", "refused", ufw_kernel())  # ufw's default deny: DROP
    assert (verdict.outcome, verdict.failure_class) == ("failed", "reachable"), verdict.observed
    assert "although the kernel drops" in verdict.observed


def test_a_reject_for_other_sources_does_not_explain_the_tester_s_reset() -> None:
    other = "-A ufw-user-input -s 10.0.0.0/8 -p tcp --dport 502 -j REJECT --reject-with tcp-reset"
    verdict = blocked("in-502-tcp", "refused", ufw_kernel(rules(other)))
    assert (verdict.outcome, verdict.failure_class) == ("failed", "reachable"), verdict.observed


def test_a_reset_without_a_kernel_model_is_an_error() -> None:
    verdict = blocked("in-502-tcp", "refused", None)
    assert verdict.outcome == "error", verdict.observed
    assert "iptables-save: permission denied" in verdict.observed


BPF = "-m bpf --bytecode 4,48 0 0 9"  # a match the model cannot read: it may or may not match


def test_a_reset_the_model_cannot_decide_is_an_error_quoting_the_rule() -> None:
    """Let in if the unreadable match matches, rejected if not: who answered is not known."""
    user = rules(f"-A ufw-user-input -p tcp --dport 502 {BPF} -j ACCEPT", REJECT_502)
    verdict = blocked("in-502-tcp", "refused", ufw_kernel(user))
    assert verdict.outcome == "error", verdict.observed
    assert "cannot decide" in verdict.observed and "-m bpf" in verdict.observed


def test_an_unreadable_reject_ahead_of_a_drop_is_the_only_thing_that_can_answer() -> None:
    """Rejected if the match matches, dropped (silence) if not: a reset can only be the REJECT's."""
    user = rules(f"-A ufw-user-input -p tcp --dport 502 {BPF} -j REJECT --reject-with tcp-reset")
    verdict = blocked("in-502-tcp", "refused", ufw_kernel(user))
    assert verdict.outcome == "passed", verdict.observed


def test_a_reset_rejected_for_the_tester_but_let_in_for_others_is_not_proven() -> None:
    """Seen from the device behind NAT, the tester would have another address: the reset might
    then be the stack's. Not a pass (the firewall item fails the open part anyway)."""
    user = rules(
        "-A ufw-user-input -s 10.0.0.0/8 -p tcp --dport 502 -j ACCEPT",
        REJECT_502,
    )
    verdict = blocked("in-502-tcp", "refused", ufw_kernel(user))
    assert verdict.outcome == "error", verdict.observed
    assert "10.0.0.0/8" in verdict.observed


def test_without_the_tester_s_address_a_reject_for_every_source_still_explains_a_reset() -> None:
    verdict = blocked("in-502-tcp", "refused", ufw_kernel(rules(REJECT_502)), Declarations())
    assert verdict.outcome == "passed", verdict.observed


def test_without_the_tester_s_address_a_reject_for_some_sources_explains_nothing() -> None:
    user = rules(
        "-A ufw-user-input -s 10.0.0.0/8 -p tcp --dport 502 -j ACCEPT",
        REJECT_502,
    )
    verdict = blocked("in-502-tcp", "refused", ufw_kernel(user), Declarations())
    assert verdict.outcome == "error", verdict.observed


def test_no_route_is_an_error_unless_a_reject_rule_answers_with_an_icmp_error() -> None:
    assert blocked("in-502-tcp", "no-route", ufw_kernel()).outcome == "error"
    prohibited = "-A ufw-user-input -p tcp --dport 502 -j REJECT --reject-with icmp-host-prohibited"
    verdict = blocked("in-502-tcp", "no-route", ufw_kernel(rules(prohibited)))
    assert verdict.outcome == "passed", verdict.observed
    assert any(prohibited in n for n in verdict.notes), verdict.notes


def test_an_ipv6_device_is_judged_in_its_own_family() -> None:
    kernel = ufw_kernel(
        "",
        rules("-A ufw6-user-input -p tcp --dport 502 -j REJECT --reject-with tcp-reset"),
        addresses=("2001:2::2",),
    )
    policy = effective_policy(find_spec("smartserver"))
    [e] = [e for e in policy.rows if e.key == "in-502-tcp"]
    [probe] = [p for p in inbound_probes(policy, None, SEEN) if "|in-502-tcp|" in p.id]
    result = ProbeResult(
        probe.id, "2001:2::2", "tcp", 502, "refused", "2001:2::2", ("2001:2::2",), 0.0, "RST"
    )
    facts = Facts(ufw=UFW, sockets=(), inbound={probe.id: result}, address="2001:2::2", kernel=kernel)
    verdict = check_inbound(e, facts, Declarations(tester_address="2001:2::10"))
    assert verdict.outcome == "passed", verdict.observed


def sops(key: str, outcome: str, direction: str) -> Verdict:
    """A SyncSign SOPS allow row (in-8443,8883-tcp or out-443,8433-tcp): every probe `outcome`."""
    policy = effective_policy(find_spec("syncsign-sops"), profile="internet", role="sops")
    [e] = [e for e in policy.rows if e.key == key]
    base = Facts(ufw=UFW, sockets=(), address=DEVICE)
    probes = (
        inbound_probes(policy, None, Declarations())
        if direction == "in"
        else outbound_probes(policy, base, Declarations())
    )
    results = {
        p.id: ProbeResult(p.id, DEVICE, "tcp", p.port, outcome, DEVICE, (DEVICE,), 0.0, "junk")  # type: ignore[arg-type]
        for p in probes
        if f"|{key}|" in p.id
    }
    sockets = tuple(
        Socket("tcp", "0.0.0.0", port, (("sops", 1),), None, f"tcp LISTEN 0.0.0.0:{port}")
        for port in (8443, 8883)
    )
    if direction == "in":
        return check_inbound(e, Facts(ufw=UFW, sockets=sockets, inbound=results, address=DEVICE), SEEN)
    return check_outbound(e, Facts(ufw=UFW, sockets=(), outbound=results, kernel=ufw_kernel()), SEEN)


@pytest.mark.parametrize(("key", "direction"), [("in-8443,8883-tcp", "in"), ("out-443,8433-tcp", "out")])
def test_an_allowed_service_that_answers_wrongly_fails_as_a_wrong_reply(key: str, direction: str) -> None:
    verdict = sops(key, "answered", direction)
    assert (verdict.outcome, verdict.failure_class) == ("failed", "wrong-reply"), verdict.observed


def test_a_blocked_row_partly_unverifiable_is_not_a_pass() -> None:
    """A UDP port without a known protocol was sent nothing: its silence proves nothing, so a row
    whose other port stayed silent is skipped, not passed (SmartServer's 123/udp, with 161 added)."""
    policy = effective_policy(find_spec("smartserver"))
    [e] = [e for e in policy.rows if e.key == "in-123-udp"]
    ports = (PortRange(123, 123), PortRange(161, 161))
    e = dataclasses.replace(e, blocked_ports=ports)
    results = {}
    for port, outcome in ((123, "timeout"), (161, "unverifiable")):
        pid = f"{e.side.role or ''}|{e.key}|tester|{port}"
        results[pid] = ProbeResult(pid, DEVICE, "udp", port, outcome, DEVICE, (DEVICE,), 0.0, "x")  # type: ignore[arg-type]
    verdict = check_inbound(e, Facts(ufw=UFW, sockets=(), inbound=results, address=DEVICE), SEEN)
    assert verdict.outcome == "skipped", verdict.observed
    assert "cannot verify" in verdict.observed and "161/udp" in verdict.observed
