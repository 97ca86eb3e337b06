"""Outbound and inbound reachability: which probes a row needs, and what their outcomes mean (pure).

Outbound probes run on the device, all at once in one remote command; inbound probes run from
the tester to the device. A destination the document does not name comes from the device's own
configuration (resolver, time servers) or from --dest; one that stays unknown is a skip with
that reason, never a pass on the strength of a ufw rule.
"""

from __future__ import annotations

from dataclasses import dataclass

from pytest_portspec.addresses import is_ip
from pytest_portspec.checks.context import Declarations, Facts
from pytest_portspec.checks.kinds import RowCheck
from pytest_portspec.checks.ports import inbound_ports, unknown_port_reason, used_ports
from pytest_portspec.checks.refusal import check_blocked
from pytest_portspec.checks.verdict import Check, Verdict, for_row, row_skip
from pytest_portspec.firewall.intervals import Intervals
from pytest_portspec.firewall.questions import Answer, open_to
from pytest_portspec.firewall.ruleset import Family
from pytest_portspec.firewall.values import address_span
from pytest_portspec.probe.inbound import InboundProbe
from pytest_portspec.probe.outbound import OutboundProbe, ProbeResult
from pytest_portspec.spec.policy import EffectivePolicy, Expectation

MAX_BLOCKED_PROBES = 4
CLUSTER_ONLY = "a cluster-only port: the tester is no node of the cluster (node-to-node items probe it)"


@dataclass(frozen=True)
class Target:
    host: str
    origin: str  # why this host: "document", "/etc/resolv.conf", "--dest ntp=..."


def targets(e: Expectation, facts: Facts, declared: Declarations) -> tuple[list[Target], str | None]:
    """The hosts to probe for an outbound row, or why there are none."""
    found: list[Target] = []
    for d in e.side.destinations:
        if d.kind in ("host", "ip"):
            found.append(Target(d.value, "document"))
        elif d.kind == "configured":
            given = declared.destinations.get(d.value)
            if given:
                origin = declared.origins.get(d.value)
                found += [Target(h, origin or f"--dest {d.value}={h}") for h in given]
            elif d.value == "dns" and facts.resolvers:
                found += [Target(h, "/etc/resolv.conf") for h in facts.resolvers]
            elif d.value == "ntp" and facts.time_servers:
                found += [Target(h, "the device's time configuration") for h in facts.time_servers]
            else:
                return [], (
                    f"destination {d.value} ({d.description or 'not named by the document'}) is unknown: "
                    f"pass --dest {d.value}=HOST"
                )
        elif d.kind == "cidr":
            return [], f"the document gives a network ({d.value}), not a host to probe"
        else:
            return [], (
                f"the destination is the cluster role {d.value}: each node of that role is checked by a "
                f"node-to-node item (SPEC@SITE::SOURCE->PEER::PORT-PROTO) of a site's --inventory"
            )
    if not found:
        return [], "the document names no destination for this row: pass --dest to probe one"
    return found, None


def _probe_id(e: Expectation, host: str, port: int) -> str:
    return f"{e.side.role or ''}|{e.key}|{host}|{port}"


def outbound_wanted(e: Expectation) -> bool:
    return (
        e.applies
        and not e.row.manual
        and e.side.direction == "out"
        and e.action == "allow"
        and bool(e.row.ports)
    )


def inbound_wanted(e: Expectation) -> bool:
    if (
        not e.applies
        or e.row.manual
        or e.side.direction != "in"
        or e.row.scope != "external"
        or not e.row.ports
        or e.cluster_ports  # the tester is no node of the cluster: check_inbound says so
    ):
        return False
    return (e.action == "allow" and e.listener == "required") or (e.action == "block" and not e.overridden)


def outbound_probes(policy: EffectivePolicy, facts: Facts, declared: Declarations) -> list[OutboundProbe]:
    probes: dict[str, OutboundProbe] = {}
    for e in policy.rows:
        if not outbound_wanted(e):
            continue
        hosts, _ = targets(e, facts, declared)
        for target in hosts:
            for port in used_ports(e, facts, declared):
                pid = _probe_id(e, target.host, port)
                probes[pid] = OutboundProbe(pid, target.host, e.side.proto, port)
    return list(probes.values())


def _inbound_ports(e: Expectation, facts: Facts | None, declared: Declarations) -> list[int]:
    """The ports the tester probes for a row: not the management port, not declared site additions."""
    if e.action == "allow":
        ports = inbound_ports(e, facts, declared)
    else:
        ports = [r.lo for r in (e.blocked_ports or e.row.ports)][:MAX_BLOCKED_PROBES]
        ports = [p for p in ports if p != declared.management_port or e.side.proto != "tcp"]
    return [p for p in ports if (e.side.proto, p) not in declared.site_allow]


def inbound_probes(
    policy: EffectivePolicy, facts: Facts | None, declared: Declarations
) -> list[InboundProbe]:
    """The tester's probes of the device. With `facts` None (before the snapshot is read), those
    whose ports the snapshot cannot change: all but the configurable rows found by their listener."""
    probes: dict[str, InboundProbe] = {}
    for e in policy.rows:
        if inbound_wanted(e):
            for port in _inbound_ports(e, facts, declared):
                pid = _probe_id(e, "tester", port)
                probes[pid] = InboundProbe(pid, e.side.proto, port)
    return list(probes.values())


def _not_the_device(facts: Facts) -> str:
    """Why the tester's probes would not test the device itself, or "": the address SSH reached is
    not one of the device's own (NAT, a port forward, a jump host), so a blocked port's silence
    there would say nothing about the device."""
    if not facts.not_own(facts.address):
        return ""
    own = ", ".join(facts.own_addresses[:6])
    return (
        f"the tester reaches this device at {facts.address}, which is not one of its own addresses "
        f"({own}): NAT or port forwarding is in between, so probing it would test that, not the device"
    )


def _partly_unverifiable(
    e: Expectation, check: Check, expected: str, done: list[ProbeResult], evidence: list[str]
) -> Verdict:
    """Some probes answered and the others could not be verified: the row is not proven, so no pass."""
    unverified = [r for r in done if r.outcome == "unverifiable"]
    first = unverified[0]
    observed = (
        f"{len(done) - len(unverified)} of {len(done)} probe(s) answered; cannot verify "
        f"{first.host}:{first.port}/{first.proto}: {first.detail}"
    )
    return for_row(e, check, "skipped", expected, observed, evidence=evidence)


def _line(r: ProbeResult) -> str:
    return f"{r.proto} {r.host}:{r.port} -> {r.outcome} in {r.seconds * 1000:.0f} ms: {r.detail}"


def check_outbound(e: Expectation, facts: Facts, declared: Declarations) -> Verdict:
    hosts, reason = targets(e, facts, declared)
    if reason:
        return row_skip(e, "outbound", reason)
    ports = used_ports(e, facts, declared)
    if not ports:
        return row_skip(e, "outbound", unknown_port_reason(e))
    reach = e.row.reach if len(hosts) > 1 else "all"
    expected = (
        f"the device reaches {'every one' if reach == 'all' else 'at least one'} of "
        f"{', '.join(t.host for t in hosts)} on {', '.join(map(str, ports))}/{e.side.proto}"
    )
    if facts.outbound_error:
        return for_row(e, "outbound", "error", expected, facts.outbound_error)
    results = [facts.outbound.get(_probe_id(e, t.host, p)) for t in hosts for p in ports]
    if None in results:
        return for_row(e, "outbound", "error", expected, "a probe of this row has no result")
    done = [r for r in results if r is not None]
    evidence = [_line(r) for r in done] + [
        f"{t.host}: from {t.origin}" for t in hosts if t.origin != "document"
    ]
    if all(r.outcome == "unverifiable" for r in done):
        return row_skip(
            e,
            "outbound",
            f"cannot verify {e.side.proto} port(s) {', '.join(map(str, ports))}: {done[0].detail}",
        )
    good = [r for r in done if r.outcome == "ok"]
    bad = [
        r for r in done if r.outcome not in ("ok", "unverifiable")
    ]  # unverifiable proves nothing either way
    if reach == "all" and not bad and len(good) < len(done):
        return _partly_unverifiable(e, "outbound", expected, done, evidence)
    if (reach == "all" and not bad) or (reach == "any" and good):
        return for_row(
            e,
            "outbound",
            "passed",
            expected,
            f"{len(good)} of {len(done)} probe(s) answered",
            evidence=evidence,
        )
    return _outbound_failed(e, facts, expected, bad[0], evidence)


def _outbound_failed(
    e: Expectation, facts: Facts, expected: str, first: ProbeResult, evidence: list[str]
) -> Verdict:
    """The first failed probe decides; "blocked-locally" when the device's own kernel keeps it in."""
    klass = failure_class(first)
    local = _kernel_lets_out(facts, first)
    if (
        local is not None
        and local.status == "no"
        and first.outcome in ("timeout", "refused", "error", "no-route")
    ):
        klass = "blocked-locally"
        evidence.append(f"the device's own firewall: {local.why}")
    observed = f"{first.host}:{first.port}/{first.proto}: {first.outcome} ({first.detail})"
    return for_row(e, "outbound", "failed", expected, observed, evidence=evidence, failure_class=klass)


def failure_class(result: ProbeResult) -> str:
    """A failed probe's class: its outcome, but "wrong-reply" for a reply that is not the service's."""
    return "wrong-reply" if result.outcome == "answered" else result.outcome


def _kernel_lets_out(facts: Facts, result: ProbeResult) -> Answer | None:
    """Whether the device's own kernel lets the probe's flow out (None: not known)."""
    if facts.kernel is None or result.address is None or not is_ip(result.address):
        return None
    family: Family = 6 if ":" in result.address else 4
    remote = Intervals.of(address_span(result.address, family))
    ports = Intervals.of((result.port, result.port))
    return open_to(facts.kernel, "out", result.proto, ports, {family: remote})


def check_inbound(e: Expectation, facts: Facts, declared: Declarations) -> Verdict:
    if e.cluster_ports:
        return row_skip(e, "inbound", CLUSTER_ONLY)
    ports = _inbound_ports(e, facts, declared)
    if not ports:
        if e.row.configurable and e.action == "allow" and not used_ports(e, facts, declared):
            return row_skip(e, "inbound", unknown_port_reason(e))
        why = (
            [f"{declared.management_port}/tcp is the management access used by this test"]
            if (e.side.proto == "tcp" and any(r.lo <= declared.management_port <= r.hi for r in e.row.ports))
            else []
        )
        return row_skip(
            e, "inbound", "; ".join(why) or "its ports are declared site additions (--site-allow)"
        )
    elsewhere = _not_the_device(facts)
    if elsewhere:
        return row_skip(e, "inbound", elsewhere)
    results = [facts.inbound.get(_probe_id(e, "tester", p)) for p in ports]
    if None in results:
        return for_row(e, "inbound", "error", "inbound probe", "a probe of this row has no result")
    done = [r for r in results if r is not None]
    evidence = [_line(r) for r in done]
    where = f"{facts.address} {', '.join(map(str, ports))}/{e.side.proto}"
    if e.action == "allow":
        expected = f"{e.row.service} answers on {where} from the tester"
        if all(r.outcome == "unverifiable" for r in done):
            return row_skip(e, "inbound", f"cannot verify: {done[0].detail}")
        failed = [r for r in done if r.outcome not in ("ok", "unverifiable")]
        if not failed and any(r.outcome == "unverifiable" for r in done):
            return _partly_unverifiable(e, "inbound", expected, done, evidence)
        if failed:
            return for_row(
                e,
                "inbound",
                "failed",
                expected,
                f"{failed[0].port}: {failed[0].outcome} ({failed[0].detail})",
                evidence=evidence,
                failure_class=failure_class(failed[0]),
            )
        return for_row(e, "inbound", "passed", expected, "the service answered", evidence=evidence)
    return check_blocked(e, facts, declared, where, done, evidence)


def has_outbound_check(e: Expectation) -> bool:
    return e.side.direction == "out" and e.action == "allow" and bool(e.row.ports) and not e.row.manual


def has_inbound_check(e: Expectation) -> bool:
    if e.side.direction != "in" or e.row.scope != "external" or not e.row.ports or e.row.manual:
        return False
    return (e.action == "allow" and e.listener == "required") or (e.action == "block" and not e.overridden)


# the kinds of this module, registered in kinds.py
OUTBOUND = RowCheck(applies=has_outbound_check, evaluate=check_outbound)
INBOUND = RowCheck(applies=has_inbound_check, evaluate=check_inbound)
