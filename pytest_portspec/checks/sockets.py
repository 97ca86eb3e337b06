"""Listening checks (required services up, internal services on loopback only) and the exposure audit
("all other ports blocked": nothing undocumented is listening and permitted by ufw) (pure)."""

from __future__ import annotations

from pytest_portspec.checks.context import Declarations, Facts
from pytest_portspec.checks.firewall import kernel_unread
from pytest_portspec.firewall.intervals import Intervals
from pytest_portspec.firewall.questions import Answer, closed
from pytest_portspec.parse.nat import PortForward
from pytest_portspec.parse.sockets import Socket
from pytest_portspec.policy import EffectivePolicy, Expectation
from pytest_portspec.spec.model import ports_label
from pytest_portspec.verdict import Verdict, for_row


def _on_row_ports(s: Socket, e: Expectation, declared: Declarations) -> bool:
    return s.proto == e.side.proto and _documents(e, s.port, declared)


def _documents(e: Expectation, port: int, declared: Declarations) -> bool:
    """Whether a row names the port: a configurable row, the port declared for it (else its range)."""
    if e.row.configurable and e.row.id in declared.ports:
        return port == declared.ports[e.row.id]
    return any(r.lo <= port <= r.hi for r in e.row.ports)


def _process_matches(s: Socket, e: Expectation) -> bool:
    return not e.row.process or bool(set(e.row.process) & set(s.names))


def check_listening(e: Expectation, facts: Facts, declared: Declarations) -> Verdict:
    if e.listener == "loopback-only":
        return _check_internal(e, facts, declared)
    on_port = [s for s in facts.sockets if _on_row_ports(s, e, declared)]
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
    if not right:
        return failed(f"{reachable[0].describe()} holds the port, not {wanted}", reachable, "wrong-process")
    # each port (or range) the row lists is a service of its own; a configurable row uses one
    missing = [r for r in e.row.ports if not any(r.lo <= s.port <= r.hi for s in right)]
    if missing and not e.row.configurable:
        found = f"nothing listens on {ports_label(tuple(missing))}/{e.side.proto}; {right[0].describe()} does"
        return failed(found, right, "not-listening")
    listens = "; ".join(dict.fromkeys(f"{s.describe()} listens" for s in right))
    return for_row(e, "listening", "passed", expected, listens, evidence=[s.text for s in right])


def _check_internal(e: Expectation, facts: Facts, declared: Declarations) -> Verdict:
    if e.row.ports:
        sockets = [s for s in facts.sockets if _on_row_ports(s, e, declared)]
        where = f"{ports_label(e.row.ports)}/{e.side.proto}"
    else:  # dynamic ports: every socket of the row's process
        sockets = [
            s for s in facts.sockets if s.proto == e.side.proto and _process_matches(s, e) and e.row.process
        ]
        where = f"the {e.side.proto} ports of {'/'.join(e.row.process)}"
    expected = f"{e.row.service} may listen on {where} on loopback only, never reachable from outside"
    exposed = [s for s in sockets if not s.loopback]
    if not exposed:
        observed = f"{sockets[0].describe()} on loopback" if sockets else f"nothing listens on {where}"
        return for_row(e, "listening", "passed", expected, observed, evidence=[s.text for s in sockets])
    answers = [(s, _reach(facts, s)) for s in exposed]
    open_ones = [(s, a) for s, a in answers if a.status == "no"]
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
        observed = f"{first.describe()} listens beyond loopback; whether it is reachable: {answer.why}"
        return for_row(e, "listening", "error", expected, observed, evidence=answer.evidence)
    return for_row(
        e,
        "listening",
        "passed",
        expected,
        f"{exposed[0].describe()} listens beyond loopback, but the firewall blocks it",
        evidence=[s.text for s in exposed] + list(answers[0][1].evidence),
        notes=["blocked by the firewall, not bound to loopback"],
    )


def _reach(facts: Facts, s: Socket) -> Answer:
    """Whether the kernel lets a new flow from outside reach the socket ("no": it does)."""
    if facts.kernel is None:
        return Answer("unavailable", kernel_unread(facts))
    local = None if s.wildcard else s.address  # a socket bound to one address only gets traffic to it
    try:
        return closed(
            facts.kernel,
            "in",
            s.proto,
            Intervals.of((s.port, s.port)),
            local=local,
            family_only=6 if s.v6 else 4,
        )
    except ValueError:  # an address the model cannot place (a scope id, a mapped address): be safe
        return closed(
            facts.kernel, "in", s.proto, Intervals.of((s.port, s.port)), family_only=6 if s.v6 else 4
        )


def _undocumented_forwards(
    facts: Facts, documented: list[Expectation], declared: Declarations
) -> list[PortForward]:
    """The nat table's port forwards (a container's published port) onto ports no applicable
    inbound allow row documents: reachable from outside whatever ufw's rules say."""
    found = []
    for forward in facts.forwards:
        ports = range(forward.ports.lo, min(forward.ports.hi, forward.ports.lo + 64) + 1)
        covered = all(
            (forward.proto, port) in declared.site_allow
            or any(e.side.proto == forward.proto and _documents(e, port, declared) for e in documented)
            for port in ports
        )
        if not covered:
            found.append(forward)
    return found


def check_exposure(policy: EffectivePolicy, facts: Facts, declared: Declarations) -> Verdict:
    """Every socket the kernel lets the outside reach must be documented by an applicable row; one whose
    reach the model cannot decide is an error, unless the audit fails anyway."""
    documented = [
        e
        for e in policy.rows
        if e.applies and e.action == "allow" and e.side.direction == "in" and e.row.scope == "external"
    ]
    findings, notes, evidence, unsure = [], [], [], []
    seen: set[tuple[str, int]] = set()
    for s in facts.sockets:
        if s.loopback or (s.proto, s.port) in seen:
            continue
        answer = _reach(facts, s)
        if answer.status == "yes":
            continue
        if answer.status != "no":
            if not any(_on_row_ports(s, e, declared) for e in documented):
                unsure.append(f"{s.describe()}: {answer.why}")
            continue
        seen.add((s.proto, s.port))
        if (s.proto, s.port) == ("tcp", declared.management_port):
            notes.append(f"{s.describe()}: management access used by this test")
            continue
        if (s.proto, s.port) in declared.site_allow:
            notes.append(f"{s.describe()}: declared site addition (--site-allow)")
            continue
        if any(_on_row_ports(s, e, declared) for e in documented):
            continue
        findings.append(f"undocumented exposed service {s.describe()}")
        evidence += [s.text, *answer.evidence[:2]]
    for forward in _undocumented_forwards(facts, documented, declared):
        findings.append(f"undocumented port forward {forward.describe()}, which ufw's rules do not see")
        evidence.append(forward.text)
    expected = "no service reachable from outside beyond the document's rows (all other ports blocked)"
    cite = policy.spec.default.citation
    if findings:
        return Verdict(
            "exposure",
            "exposure",
            "failed",
            expected,
            "; ".join(findings),
            tuple(evidence),
            "exposed",
            citation=cite,
            notes=tuple(notes + unsure),
        )
    if unsure:
        return Verdict(
            "exposure",
            "exposure",
            "error",
            expected,
            f"cannot decide: {unsure[0]}",
            tuple(unsure),
            citation=cite,
            notes=tuple(notes),
        )
    observed = f"{len(seen)} reachable socket(s), every one documented"
    return Verdict("exposure", "exposure", "passed", expected, observed, citation=cite, notes=tuple(notes))
