"""The ufw check of a row, and the default-policy check: does the device's own ufw do what the
document requires, port by port, for IPv4 and (where ufw manages it) IPv6 (pure)."""

from __future__ import annotations

from dataclasses import dataclass

from pytest_portspec.checks.context import Declarations, Facts
from pytest_portspec.checks.ports import configured_port, unknown_port_reason
from pytest_portspec.parse.ufw import UfwState
from pytest_portspec.policy import EffectivePolicy, Expectation
from pytest_portspec.spec.model import PortRange, ports_label
from pytest_portspec.ufwmodel import Packet, UfwVerdict, decide
from pytest_portspec.verdict import Outcome, Verdict, for_row, row_skip

MAX_LISTED = 6


@dataclass(frozen=True)
class PortDecision:
    port: int
    v6: bool
    verdict: UfwVerdict

    def line(self, proto: str) -> str:
        family = " (v6)" if self.v6 else ""
        return f"{self.port}/{proto}{family}: {self.verdict.reason}"


def sample_ports(ports: tuple[PortRange, ...], state: UfwState) -> list[int]:
    """Ports at which ufw's decision can change inside the ranges: every range edge and every rule
    boundary inside them. Checking these decides the whole range exactly, without 16k lookups."""
    found: set[int] = set()
    for r in ports:
        found |= {r.lo, r.hi}
        for rule in state.rules:
            for d in rule.dports:
                for edge in (d.lo - 1, d.lo, d.hi, d.hi + 1):
                    if r.lo <= edge <= r.hi:
                        found.add(edge)
    return sorted(found)


def decisions(state: UfwState, e: Expectation, ports: list[int]) -> list[PortDecision]:
    families = [False, True] if state.ipv6 else [False]
    return [
        PortDecision(port, v6, decide(state, Packet(e.side.direction, e.side.proto, port, v6=v6)))
        for port in ports
        for v6 in families
    ]


def check_row(e: Expectation, facts: Facts, declared: Declarations) -> Verdict:
    state = facts.ufw
    if not state.active:
        return for_row(
            e,
            "ufw",
            "failed",
            _expected(e),
            "ufw is inactive: the device filters nothing",
            failure_class="ufw-inactive",
        )
    if e.action == "allow":
        return _check_allow(e, facts, declared)
    return _check_block(e, facts, declared)


def _expected(e: Expectation, ports: str | None = None) -> str:
    what = "permit" if e.action == "allow" else "block"
    where = ports or ports_label(e.row.ports)
    return f"ufw must {what} {e.side.direction}bound {where}/{e.side.proto} ({e.row.service})"


def _check_allow(e: Expectation, facts: Facts, declared: Declarations) -> Verdict:
    state, notes = facts.ufw, []
    ranges = e.row.ports
    if e.row.configurable:
        port, how = configured_port(e, facts, declared)
        if port is None:
            return row_skip(e, "ufw", unknown_port_reason(e))
        ranges, notes = (PortRange(port, port),), [f"port {port} from {how}"]
    found = decisions(state, e, sample_ports(ranges, state))
    refused = [d for d in found if not d.verdict.permitted]
    expected = _expected(e, ports_label(ranges))
    if refused and e.side.sources and all(d.verdict.partial for d in refused):
        some = ", ".join(dict.fromkeys(r.describe() for d in refused for r in d.verdict.partial))
        sources = ", ".join(str(s) for s in e.side.sources)
        return row_skip(
            e,
            "ufw",
            f"ufw allows this only from some sources ({some}); the document limits it to "
            f"{sources}: whether those match needs the site's addresses (an inventory)",
        )
    if refused:
        partial = [r.describe() for d in refused for r in d.verdict.partial]
        klass = "restricted" if partial else "blocked-by-ufw"
        observed = f"ufw does not permit {_list(refused, e)}"
        if partial:
            observed += f"; only partly allowed by: {', '.join(dict.fromkeys(partial))}"
        return for_row(
            e,
            "ufw",
            "failed",
            expected,
            observed,
            failure_class=klass,
            evidence=[d.line(e.side.proto) for d in refused[:MAX_LISTED]],
            notes=notes,
        )
    if e.row.configurable:
        extra = _unused_range_ports(e, facts, ranges[0].lo)
        if extra:
            return for_row(
                e,
                "ufw",
                "failed",
                expected,
                f"ufw also permits inbound {extra} of the configurable range, where nothing listens",
                failure_class="unused-range-open",
                notes=notes,
            )
    limited = [d for d in found if d.verdict.limited]
    if limited:
        notes.append("rate-limited by a ufw LIMIT rule")
    return for_row(
        e,
        "ufw",
        "passed",
        expected,
        f"ufw permits {_list(found, e)}",
        evidence=_unique(d.line(e.side.proto) for d in found),
        notes=notes,
    )


def _unused_range_ports(e: Expectation, facts: Facts, used: int) -> str:
    """Inbound ports of a configurable range that a ufw rule opens while nothing listens there."""
    if e.side.direction != "in":
        return ""
    listening = {s.port for s in facts.sockets if s.proto == e.side.proto}
    open_ports = [
        d.port
        for d in decisions(facts.ufw, e, sample_ports(e.row.ports, facts.ufw))
        if d.verdict.permitted
        and d.verdict.decided_by == "rule"
        and d.port != used
        and d.port not in listening
    ]
    return ", ".join(str(p) for p in sorted(set(open_ports))[:MAX_LISTED])


def _check_block(e: Expectation, facts: Facts, declared: Declarations) -> Verdict:
    if e.overridden:
        return row_skip(
            e,
            "ufw",
            f"this row's block is overridden: {', '.join(e.superseded_by)} allow(s) the "
            f"same traffic in this profile",
        )
    blocked = e.blocked_ports or e.row.ports
    expected = _expected(e, ports_label(blocked))
    site = declared.site_allow if e.side.direction == "in" else frozenset()  # --site-allow: inbound ports
    declared_here = [p for p in _ports_in(blocked) if (e.side.proto, p) in site]
    found = [
        d
        for d in decisions(facts.ufw, e, sample_ports(blocked, facts.ufw))
        if (e.side.proto, d.port) not in site
    ]
    permitted = [d for d in found if d.verdict.permitted]
    notes = [f"{p}/{e.side.proto} declared as a site addition (--site-allow)" for p in declared_here]
    partial = _unique(r.describe() for d in found for r in d.verdict.partial)
    if partial:
        notes.append(f"allowed only for some sources or interfaces: {', '.join(partial)}")
    if permitted:
        return for_row(
            e,
            "ufw",
            "failed",
            expected,
            f"ufw permits {_list(permitted, e)}",
            failure_class="permitted-by-ufw",
            evidence=[d.line(e.side.proto) for d in permitted[:MAX_LISTED]],
            notes=notes,
        )
    return for_row(
        e,
        "ufw",
        "passed",
        expected,
        f"ufw blocks {_list(found, e)}",
        evidence=_unique(d.line(e.side.proto) for d in found)[:MAX_LISTED],
        notes=notes,
    )


def _ports_in(ranges: tuple[PortRange, ...]) -> list[int]:
    return [p for r in ranges if r.hi - r.lo < 64 for p in range(r.lo, r.hi + 1)]


def _list(found: list[PortDecision], e: Expectation) -> str:
    ports = sorted({d.port for d in found})
    shown = ", ".join(str(p) for p in ports[:MAX_LISTED]) + (" …" if len(ports) > MAX_LISTED else "")
    families = " (IPv4 and IPv6)" if any(d.v6 for d in found) and any(not d.v6 for d in found) else ""
    return f"{e.side.direction}bound {shown}/{e.side.proto}{families}"


def _unique(lines: object) -> list[str]:
    return list(dict.fromkeys(lines))  # type: ignore[call-overload]


def check_default(policy: EffectivePolicy, facts: Facts, direction: str) -> Verdict:
    required = policy.default_in if direction == "in" else policy.default_out
    state = facts.ufw
    word = {"in": "incoming", "out": "outgoing"}[direction]
    expected = f"all other {direction}bound traffic {'blocked' if required == 'block' else required}"

    def verdict(outcome: Outcome, observed: str, failure: str | None = None) -> Verdict:
        return Verdict(
            key=f"default-{direction}",
            check="default",
            outcome=outcome,
            expected=expected,
            observed=observed,
            evidence=(observed,) if outcome != "skipped" else (),
            failure_class=failure,
            direction=direction,
            citation=policy.spec.default.citation,
        )

    if required == "unspecified":
        return verdict("skipped", "the document says nothing about other ports in this direction")
    if not state.active:
        return verdict("failed", "ufw is inactive: nothing is blocked", "ufw-inactive")
    actual = state.default_in if direction == "in" else state.default_out
    ok = actual in ("deny", "reject") if required == "block" else actual == "allow"
    observed = f"ufw's default {word} policy is {actual}"
    if not ok:
        return verdict("failed", observed, "default-policy")
    opened = _undocumented_permitted(policy, state, direction) if required == "block" else []
    if opened:  # an allow-all rule undoes the default: "all other ports" are not blocked
        return verdict(
            "failed",
            f"{observed}, but ports no row documents are open ({opened[0].reason})",
            "rule-opens-all",
        )
    return verdict("passed", observed)


UNDOCUMENTED_CANDIDATES = (9, 31337, 40999, 61999)  # ports no vendor row of ours uses, nor before.rules


def _undocumented_permitted(policy: EffectivePolicy, state: UfwState, direction: str) -> list[UfwVerdict]:
    """ufw's decisions that let a port no applicable row documents through by a user rule (for
    instance `ufw allow from any` or `allow 1:65535/tcp`): the default policy then decides nothing."""
    found: list[UfwVerdict] = []
    for proto in ("tcp", "udp"):
        documented = [
            r
            for e in policy.rows
            if e.applies and e.side.direction == direction and e.side.proto == proto
            for r in e.row.ports
        ]
        for port in UNDOCUMENTED_CANDIDATES:
            if any(r.lo <= port <= r.hi for r in documented):
                continue
            decided = decide(state, Packet(direction, proto, port))  # type: ignore[arg-type]
            if decided.permitted and decided.decided_by == "rule":
                found.append(decided)
    return found
