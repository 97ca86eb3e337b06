"""Listening checks (required services up, internal services on loopback only) (pure); the exposure
audit that reads the same sockets is exposure.py."""

from __future__ import annotations

from pytest_portspec.checks.context import Declarations, Facts
from pytest_portspec.checks.firewall import kernel_unread
from pytest_portspec.checks.kinds import RowCheck
from pytest_portspec.checks.verdict import Verdict, for_row
from pytest_portspec.firewall.intervals import Intervals
from pytest_portspec.firewall.questions import Answer, closed
from pytest_portspec.parse.sockets import Socket
from pytest_portspec.spec.model import ports_label
from pytest_portspec.spec.policy import Expectation


def on_row_ports(s: Socket, e: Expectation, declared: Declarations) -> bool:
    return s.proto == e.side.proto and documents(e, s.port, declared)


def documents(e: Expectation, port: int, declared: Declarations) -> bool:
    """Whether a row names the port: a configurable row, the port declared for it (else its range)."""
    if e.row.configurable and e.row.id in declared.ports:
        return port == declared.ports[e.row.id]
    return any(r.lo <= port <= r.hi for r in e.row.ports)


def _process_matches(s: Socket, e: Expectation) -> bool:
    return not e.row.process or bool(set(e.row.process) & set(s.names))


def check_listening(e: Expectation, facts: Facts, declared: Declarations) -> Verdict:
    if e.listener == "loopback-only":
        return _check_internal(e, facts, declared)
    on_port = [s for s in facts.sockets if on_row_ports(s, e, declared)]
    where = f"{ports_label(e.row.ports)}/{e.side.proto}"
    wanted = "/".join(e.row.process) or "a service"
    if e.listener == "forbidden":
        expected = f"nothing may listen on {where}"
    else:
        expected = f"{wanted} must listen on {where} on a non-loopback address ({e.row.service})"

    def failed(observed: str, sockets: list[Socket], klass: str) -> Verdict:
        evidence = [s.text for s in sockets]
        return for_row(e, "listening", "failed", expected, observed, evidence=evidence, failure_class=klass)

    if e.listener == "forbidden":
        if on_port:
            return failed(f"{on_port[0].describe()} listens", on_port, "forbidden-listener")
        return for_row(e, "listening", "passed", expected, f"nothing listens on {where}")
    if not on_port:
        return failed(f"nothing listens on {where}", [], "not-listening")
    reachable = [s for s in on_port if not s.loopback]
    if not reachable:
        return failed(f"only on loopback: {on_port[0].describe()}", on_port, "loopback-only")
    right = [s for s in reachable if _process_matches(s, e)]
    # each port (or range) the row lists is a service of its own; a configurable row uses one
    missing = [r for r in e.row.ports if not any(r.lo <= s.port <= r.hi for s in right)]
    if not right or (missing and not e.row.configurable):
        # a socket whose owner is unknown may be the row's service: nobody to blame, nothing proven
        ranges = missing if right else e.row.ports
        unknown = [s for s in reachable if s.unclear and any(r.lo <= s.port <= r.hi for r in ranges)]
        if unknown:
            observed = f"the owner of {unknown[0].endpoint} is unknown: {unknown[0].unclear}"
            return for_row(e, "listening", "error", expected, observed, evidence=_shown(unknown))
    if not right:
        return failed(f"{reachable[0].describe()} holds the port, not {wanted}", reachable, "wrong-process")
    if missing and not e.row.configurable:
        found = f"nothing listens on {ports_label(tuple(missing))}/{e.side.proto}; {right[0].describe()} does"
        return failed(found, right, "not-listening")
    listens = "; ".join(dict.fromkeys(f"{s.describe()} listens" for s in right))
    return for_row(e, "listening", "passed", expected, listens, evidence=_shown(right))


def _shown(sockets: list[Socket]) -> list[str]:
    """The sockets' lines and what the kernel said of their owners' pids."""
    return [s.text for s in sockets] + list(dict.fromkeys(line for s in sockets for line in s.owner_evidence))


def _check_internal(e: Expectation, facts: Facts, declared: Declarations) -> Verdict:
    maybe: list[Socket] = []  # sockets whose owner is unknown: on dynamic ports, perhaps the row's
    if e.row.ports:
        sockets = [s for s in facts.sockets if on_row_ports(s, e, declared)]
        where = f"{ports_label(e.row.ports)}/{e.side.proto}"
    else:  # dynamic ports: every socket of the row's process
        ours = [s for s in facts.sockets if s.proto == e.side.proto and e.row.process]
        sockets = [s for s in ours if _process_matches(s, e) or s.unclear]
        maybe = [s for s in sockets if not _process_matches(s, e)]
        where = f"the {e.side.proto} ports of {'/'.join(e.row.process)}"
    expected = f"{e.row.service} may listen on {where} on loopback only, never reachable from outside"
    exposed = [s for s in sockets if not s.loopback]
    if not exposed:
        known = [s for s in sockets if s not in maybe]
        observed = f"{known[0].describe()} on loopback" if known else f"nothing listens on {where}"
        return for_row(e, "listening", "passed", expected, observed, evidence=[s.text for s in known])
    answers = [(s, reach(facts, s)) for s in exposed]
    open_ones = [(s, a) for s, a in answers if a.status == "no" and s not in maybe]
    if open_ones:
        first, answer = open_ones[0]
        return for_row(
            e,
            "listening",
            "failed",
            expected,
            f"{first.describe()} listens beyond loopback and {answer.why}",
            evidence=[s.text for s, _ in open_ones] + list(answer.evidence),
            failure_class="exposed-internal",
        )
    unsure = [(s, a) for s, a in answers if a.status != "yes"]
    if unsure:
        first, answer = unsure[0]
        if first in maybe and answer.status == "no":
            observed = f"{first.describe()} is reachable from outside and may be {where}: {first.unclear}"
        else:
            observed = f"{first.describe()} listens beyond loopback; whether it is reachable: {answer.why}"
        return for_row(e, "listening", "error", expected, observed, evidence=[first.text, *answer.evidence])
    return for_row(
        e,
        "listening",
        "passed",
        expected,
        f"{exposed[0].describe()} listens beyond loopback, but the firewall blocks it",
        evidence=[s.text for s in exposed] + list(answers[0][1].evidence),
        notes=["blocked by the firewall, not bound to loopback"],
    )


def reach(facts: Facts, s: Socket) -> Answer:
    """Whether the kernel lets a new flow from outside reach the socket ("no": it does), in each
    family it takes (reachable in either is reachable), to the one address it is bound to if any."""
    if facts.kernel is None:
        return Answer("unavailable", kernel_unread(facts))
    only = s.families[0] if len(s.families) == 1 else None
    ports = Intervals.of((s.port, s.port))
    try:
        return closed(facts.kernel, "in", s.proto, ports, local=s.local, family_only=only)
    except ValueError:  # an address the model cannot place: netstat cuts long ones short
        wide = closed(facts.kernel, "in", s.proto, ports, family_only=only)
        if wide.status != "no":
            return wide  # closed to every address is closed to this one
        # it is one of the device's own addresses that begin as it does: decided if they agree
        may_be = [
            a for a in facts.own_addresses if a.startswith(s.address) and (6 if ":" in a else 4) in s.families
        ]
        answers = [closed(facts.kernel, "in", s.proto, ports, local=a, family_only=only) for a in may_be]
        if answers and len({a.status for a in answers}) == 1:
            return answers[0]
        why = f"its address {s.address!r} is not one the kernel model can place, and {wide.why}"
        return Answer("undecided", why, wide.evidence)


def has_listening_check(e: Expectation) -> bool:
    listens = e.listener in ("required", "loopback-only", "forbidden")
    return e.side.direction == "in" and listens and not e.row.manual


# the kinds of this module, registered in kinds.py
LISTENING = RowCheck(applies=has_listening_check, evaluate=check_listening)
