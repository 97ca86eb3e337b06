"""The exposure audit ("all other ports blocked"): every service the outside can reach, by the kernel
model over the device's sockets and port forwards, and by the outside-in scan when one was made,
is documented by an applicable row (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from pytest_portspec.checks.cluster_rows import cluster_exposure
from pytest_portspec.checks.context import Declarations, Facts
from pytest_portspec.checks.firewall import kernel_unread
from pytest_portspec.checks.kinds import DeviceCheck
from pytest_portspec.checks.scan_views import Allowance, Reported, audit_scan
from pytest_portspec.checks.sockets import documents, on_row_ports, reach
from pytest_portspec.checks.verdict import Verdict
from pytest_portspec.firewall.forwards import port_forwards
from pytest_portspec.firewall.intervals import Intervals
from pytest_portspec.spec.policy import EffectivePolicy, Expectation


def _undocumented_forwards(
    facts: Facts, documented: list[Expectation], declared: Declarations
) -> tuple[list[str], list[str], list[str]]:
    """(findings, evidence, undecided) for the kernel's port forwards (DNAT, REDIRECT: a container's
    published port) onto ports no applicable inbound allow row documents: reachable from outside
    whatever ufw's rules say. Judged on whole port sets (a DNAT without a port forwards all)."""
    if facts.kernel is None:
        return [], [], [f"port forwards: {kernel_unread(facts)}"]
    asked = port_forwards(facts.kernel)
    findings: list[str] = []
    evidence: list[str] = []
    for forward in asked.sure:
        left = forward.ports - _documented_ports(forward.proto, documented, declared)
        if left:
            what = forward.describe(left)
            findings.append(f"undocumented port forward {what}, which ufw's rules do not see")
            evidence += [line for line in forward.evidence if line not in evidence]
    unsure = [f"port forwards: {asked.unavailable}"] if asked.unavailable else []
    for maybe in asked.unsure:
        left = maybe.ports - _documented_ports(maybe.proto, documented, declared)
        unsure += [maybe.describe(left)] if left else []
    return findings, evidence, unsure


def _documented_ports(proto: str, documented: list[Expectation], declared: Declarations) -> Intervals:
    """The ports `_documents` accepts for `proto`, and the declared site additions, as one set."""
    spans = [(port, port) for p, port in declared.site_allow if p == proto]
    for e in (e for e in documented if e.side.proto == proto):
        if e.row.configurable and e.row.id in declared.ports:
            spans.append((declared.ports[e.row.id], declared.ports[e.row.id]))
        else:
            spans += [(r.lo, r.hi) for r in e.row.ports]
    return Intervals.merged(spans)


def check_exposure(policy: EffectivePolicy, facts: Facts, declared: Declarations) -> Verdict:
    """The audit where the document blocks all other inbound ports; where it is silent on them (Digi's is
    about the site's outbound firewall) or allows them, it requires nothing: the item is skipped, and
    what is reachable beyond the rows is shown all the same, for the reviewer."""
    audit = _audit_exposure(policy, facts, declared)
    if policy.default_in == "block":
        return audit
    says = "says nothing about" if policy.default_in == "unspecified" else "allows"
    observed = f"not required: the document {says} inbound ports beyond its rows"
    if audit.outcome == "failed":
        observed += f"; reachable beyond them: {audit.observed}"
    return replace(audit, outcome="skipped", observed=observed, failure_class=None)


def _audit_exposure(policy: EffectivePolicy, facts: Facts, declared: Declarations) -> Verdict:
    """Every socket the kernel lets the outside reach must be documented by an applicable row; one whose
    reach the model cannot decide is an error, unless the audit fails anyway."""
    documented = [
        e
        for e in policy.rows
        if e.applies and e.action == "allow" and e.side.direction == "in" and e.row.scope == "external"
    ]
    found = _audit_sockets(facts, documented, declared)
    forwarded, shown, undecided = _undocumented_forwards(facts, documented, declared)
    scan = audit_scan(
        facts, _allowance(documented, declared), _reported(facts, found), declared.tester_address
    )
    findings = found.findings + forwarded + scan.findings
    evidence, unsure = found.evidence + shown + scan.evidence, found.unsure + undecided + scan.unsure
    notes, seen = found.notes + scan.notes, found.reachable
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
    observed = f"{len(seen)} reachable socket(s), every one documented" + (
        f"; {scan.summary}" if scan.summary else ""
    )
    return Verdict("exposure", "exposure", "passed", expected, observed, citation=cite, notes=tuple(notes))


def _allowance(documented: list[Expectation], declared: Declarations) -> Allowance:
    """What allows a port the scan saw open: the management access, --site-allow, or a row."""

    def allowed(proto: str, port: int) -> str | None:
        if (proto, port) == ("tcp", declared.management_port):
            return "the management access this test uses"
        if (proto, port) in declared.site_allow:
            return "a declared site addition (--site-allow)"
        rows = [e for e in documented if e.side.proto == proto and documents(e, port, declared)]
        return f"row {rows[0].row.id} (line {rows[0].row.line})" if rows else None

    return allowed


def _reported(facts: Facts, found: _SocketAudit) -> Reported:
    """Whether the model's audit already judges a port: a socket it reaches, a port forward's port."""
    forwards = port_forwards(facts.kernel).sure if facts.kernel is not None else []

    def reported(proto: str, port: int) -> bool:
        return (proto, port) in found.reachable or any(f.proto == proto and port in f.ports for f in forwards)

    return reported


@dataclass
class _SocketAudit:
    findings: list[str] = field(default_factory=list)  # undocumented exposed services
    notes: list[str] = field(default_factory=list)  # reachable, but declared (management, --site-allow)
    evidence: list[str] = field(default_factory=list)
    unsure: list[str] = field(default_factory=list)  # reach undecided, on no documented row's ports
    reachable: set[tuple[str, int]] = field(default_factory=set)  # (proto, port) the outside reaches


def _audit_sockets(facts: Facts, documented: list[Expectation], declared: Declarations) -> _SocketAudit:
    """Each (proto, port) the kernel lets the outside reach, once, against the documented rows."""
    audit = _SocketAudit()
    for s in facts.sockets:
        if s.loopback or (s.proto, s.port) in audit.reachable:
            continue
        answer = reach(facts, s)
        if answer.status == "yes":
            continue
        if answer.status != "no":
            if not any(on_row_ports(s, e, declared) for e in documented):
                audit.unsure.append(f"{s.describe()}: {answer.why}")
            continue
        audit.reachable.add((s.proto, s.port))
        if (s.proto, s.port) == ("tcp", declared.management_port):
            audit.notes.append(f"{s.describe()}: management access used by this test")
            continue
        if (s.proto, s.port) in declared.site_allow:
            audit.notes.append(f"{s.describe()}: declared site addition (--site-allow)")
            continue
        rows = [e for e in documented if on_row_ports(s, e, declared)]
        wide = cluster_exposure(facts, s, rows, declared) if rows else ""  # open beyond the cluster
        if rows and not wide:
            continue
        audit.findings.append(wide or f"undocumented exposed service {s.describe()}")
        audit.evidence += [s.text, *answer.evidence[:2]]
    return audit


def _exposure_item(policy: EffectivePolicy, facts: Facts, declared: Declarations, key: str) -> Verdict:
    return check_exposure(policy, facts, declared)


# the kind of this module, registered in kinds.py
EXPOSURE = DeviceCheck(keys=("exposure",), evaluate=_exposure_item)
