"""The verdict of one node-to-node flow, from the snapshots of both nodes (pure).

A flow passes when all three hold: the peer's ufw permits the port from the source's address,
something listens there when the document requires a listener, and the source's probe of the
peer connected. A failure names the first that does not hold, in that order, with the evidence
of all three; a dynamic firewall's closed port is explained as a stopped application.
"""

from __future__ import annotations

from dataclasses import dataclass

from pytest_portspec.addresses import is_ip
from pytest_portspec.checks.context import Facts
from pytest_portspec.checks.flow_plan import Pair
from pytest_portspec.checks.kinds import SiteCheck
from pytest_portspec.checks.verdict import Outcome, Verdict
from pytest_portspec.firewall.intervals import Intervals
from pytest_portspec.firewall.questions import open_to
from pytest_portspec.firewall.ruleset import Family
from pytest_portspec.firewall.ufw_view import Packet, decide
from pytest_portspec.firewall.values import address_span
from pytest_portspec.parse.sockets import Socket
from pytest_portspec.probe.outbound import ProbeResult
from pytest_portspec.spec.model import Citation


@dataclass(frozen=True)
class Said:
    """What a node's firewall does with the flow: permitted (None: the model cannot decide) and why."""

    permitted: bool | None
    reason: str


@dataclass(frozen=True)
class Observed:
    probe: ProbeResult
    peer_ufw: Said  # the peer's firewall, inbound from the source
    own_ufw: Said  # the source's firewall, outbound to the peer
    listening: tuple[Socket, ...]


def _firewall(facts: Facts, packet: Packet, remote: str | None) -> Said:
    """The kernel's verdict on the flow (ufw's view when the kernel's ruleset could not be read)."""
    if facts.kernel is None:
        if not facts.ufw.active:
            return Said(True, "ufw is inactive (the kernel's ruleset could not be read)")
        found = decide(facts.ufw, packet)
        return Said(found.permitted, f"ufw's view (the kernel's ruleset could not be read): {found.reason}")
    ports = Intervals.of((packet.port, packet.port))
    if remote is None:
        answer = open_to(facts.kernel, packet.direction, packet.proto, ports)
    else:
        family: Family = 6 if ":" in remote else 4
        answer = open_to(
            facts.kernel,
            packet.direction,
            packet.proto,
            ports,
            {family: Intervals.of(address_span(remote, family))},
        )
    permitted = {"yes": True, "no": False}.get(answer.status)
    return Said(permitted, answer.why)


def _verdict(
    pair: Pair,
    outcome: Outcome,
    observed: str,
    *,
    evidence: list[str] | None = None,
    failure_class: str | None = None,
    notes: tuple[str, ...] = (),
) -> Verdict:
    e = (pair.peer_rows or pair.source_rows)[0]
    return Verdict(
        key=pair.key,
        check="pair",
        outcome=outcome,
        expected=expected(pair),
        observed=observed,
        row=",".join(dict.fromkeys(r.row.id for r in pair.rows)),
        direction="in",
        proto=pair.proto,
        ports=str(pair.port),
        citation=e.row.citation,
        evidence=tuple(evidence or ()),
        failure_class=failure_class if outcome == "failed" else None,
        notes=notes,
    )


def expected(pair: Pair) -> str:
    listener = " and a service listens there" if pair.listener_required else ""
    return (
        f"{pair.source.name} reaches {pair.peer.name} ({pair.peer.address}) on {pair.port}/{pair.proto}: "
        f"{pair.peer.name}'s ufw permits it from {pair.source.address}{listener} ({pair.services})"
    )


def check_pair(
    pair: Pair, source: Facts | None, peer: Facts | None, dynamic: Citation | None = None
) -> Verdict:
    if not pair.applies:
        return _verdict(pair, "skipped", "; ".join(dict.fromkeys(e.decision for e in pair.rows)))
    if source is None or peer is None:
        which = pair.source.name if source is None else pair.peer.name
        return _verdict(pair, "error", f"{which} could not be checked (see its device error)")
    foreign = _foreign_address(pair.peer.name, pair.peer.address, peer) or _foreign_address(
        pair.source.name, pair.source.address, source
    )
    if foreign:
        return _verdict(pair, "skipped", f"cannot attribute the flow: {foreign}")
    if source.outbound_error:
        return _verdict(pair, "error", f"{pair.source.name}: {source.outbound_error}")
    probe = source.outbound.get(pair.probe_id)
    if probe is None:
        return _verdict(pair, "error", f"the probe from {pair.source.name} has no result")
    seen = _observe(pair, probe, source, peer)
    evidence = _evidence(pair, seen)
    return _judge(pair, seen, evidence, dynamic)


def _foreign_address(name: str, address: str, facts: Facts) -> str:
    """Why a node's inventory address is not its own (`ip addr` on it), or "": NAT between the
    nodes would make the probe reach, and ufw's `from` match, some other address."""
    if not facts.not_own(address):
        return ""
    return f"{name}'s address {address} is not one of its own ({', '.join(facts.own_addresses[:6])})"


def _observe(pair: Pair, probe: ProbeResult, source: Facts, peer: Facts) -> Observed:
    remote = pair.source.address if is_ip(pair.source.address) else None
    local = pair.peer.address if is_ip(pair.peer.address) else None
    inbound = Packet("in", pair.proto, pair.port, remote=remote, local=local)
    outbound = Packet("out", pair.proto, pair.port, remote=local)
    return Observed(
        probe=probe,
        peer_ufw=_firewall(peer, inbound, remote),
        own_ufw=_firewall(source, outbound, local),
        listening=tuple(
            s for s in peer.sockets if s.proto == pair.proto and s.port == pair.port and not s.loopback
        ),
    )


def _evidence(pair: Pair, seen: Observed) -> list[str]:
    p = seen.probe
    lines = [
        f"probe from {pair.source.name}: {p.proto} {p.host}:{p.port} -> {p.outcome} "
        f"in {p.seconds * 1000:.0f} ms: {p.detail}",
        f"{pair.peer.name}'s firewall: {seen.peer_ufw.reason}",
        f"{pair.source.name}'s firewall (outbound): {seen.own_ufw.reason}",
    ]
    lines += [f"{pair.peer.name} listens: {s.text}" for s in seen.listening] or [
        f"{pair.peer.name}: nothing listens on {pair.port}/{pair.proto}"
    ]
    if not is_ip(pair.source.address):
        lines.append(
            f"{pair.source.address} is a host name: the firewall was read for traffic from any address"
        )
    return lines


def _judge(pair: Pair, seen: Observed, evidence: list[str], dynamic: Citation | None) -> Verdict:
    if seen.peer_ufw.permitted is False:
        return _peer_blocked(pair, seen, evidence, dynamic)
    if pair.listener_required and not seen.listening:
        return _failed(pair, evidence, f"nothing listens on {pair.peer.name} {_where(pair)}", "not-listening")
    verdict = _probe_verdict(pair, seen, evidence)
    return verdict if verdict is not None else _probe_failure(pair, seen, evidence)


def _where(pair: Pair) -> str:
    return f"{pair.port}/{pair.proto}"


def _failed(
    pair: Pair, evidence: list[str], observed: str, klass: str, notes: tuple[str, ...] = ()
) -> Verdict:
    return _verdict(pair, "failed", observed, evidence=evidence, failure_class=klass, notes=notes)


def _peer_blocked(pair: Pair, seen: Observed, evidence: list[str], dynamic: Citation | None) -> Verdict:
    """The peer's firewall refuses the flow; with a dynamic firewall, that is a stopped application."""
    peer, where = pair.peer.name, _where(pair)
    if not seen.listening and dynamic is not None:
        return _failed(
            pair,
            evidence,
            f"{where} is closed on {peer}: no ufw rule permits it and nothing listens. The vendor's "
            f"firewall is dynamic (ports close when their application stops), so the application "
            f"using {where} on {peer} appears stopped; the cluster needs it running",
            "service-stopped",
            (f'{dynamic.doc}: "{dynamic.quote}"',),
        )
    return _failed(
        pair,
        evidence,
        f"{peer}'s firewall does not permit {where} from {pair.source.address}: {seen.peer_ufw.reason}",
        "blocked-by-peer-ufw",
    )


def _probe_verdict(pair: Pair, seen: Observed, evidence: list[str]) -> Verdict | None:
    """The probe's outcomes that are not a failure: passed, or what cannot be proved; None for the rest."""
    peer, where, outcome = pair.peer.name, _where(pair), seen.probe.outcome
    if outcome == "ok":
        return _verdict(
            pair, "passed", f"{pair.source.name} connected to {peer} on {where}", evidence=evidence
        )
    if outcome == "refused" and not seen.listening and not pair.listener_required:
        # a site firewall that rejects with resets looks the same as the peer's closed port
        return _verdict(
            pair,
            "skipped",
            f"cannot prove the flow: {peer}'s ufw permits {where} from {pair.source.address}, but nothing "
            f"listens there (the document permits that) and the reset {pair.source.name} got may come "
            f"from {peer} or from a firewall between the nodes; start the service on {peer} to prove it",
            evidence=evidence,
        )
    if outcome == "unverifiable":
        return _verdict(pair, "skipped", f"cannot verify {where}: {seen.probe.detail}", evidence=evidence)
    if outcome == "error":
        return _verdict(pair, "error", f"the probe failed: {seen.probe.detail}", evidence=evidence)
    return None


def _probe_failure(pair: Pair, seen: Observed, evidence: list[str]) -> Verdict:
    """The probe did not get through although the peer's firewall permits it: say where it stopped."""
    peer, where, outcome = pair.peer.name, _where(pair), seen.probe.outcome
    if outcome == "answered":  # the flow got there, but what answered is not the service
        return _failed(
            pair,
            evidence,
            f"{peer} answered on {where}, but not with a valid reply: {seen.probe.detail}",
            "wrong-reply",
        )
    if seen.own_ufw.permitted is False:
        return _failed(
            pair,
            evidence,
            f"{pair.source.name}'s own firewall does not let {where} out to {peer}: {seen.own_ufw.reason}",
            "blocked-locally",
        )
    if outcome in ("timeout", "no-route"):
        return _failed(
            pair,
            evidence,
            f"no answer from {peer} on {where} ({outcome}) although its ufw permits it and the source's ufw "
            f"lets it out: something between the nodes drops it (a site firewall?)",
            "blocked-in-path",
        )
    return _failed(pair, evidence, f"{outcome}: {seen.probe.detail}", outcome)


# kinds.py registers it; its items are the site's flows (plugin/items.py)
PAIR = SiteCheck(evaluate=check_pair)
