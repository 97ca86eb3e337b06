"""The outside-in scan's part of the exposure audit: three views of every port it saw open (pure).

For each port the scan saw answer from outside, the audit holds together
    the document   does an applicable row (or the management port, or --site-allow) allow it?
    the kernel     did the model of the device's ruleset predict it (a new flow gets in there)?
    the sockets    which of the device's sockets serves it?
An open port the document does not allow fails the audit whatever the other two say: with the
model predicting it blocked and no socket serving it, something the device's own report cannot
show answers (a hidden forward, another namespace, a second device on the address). The other
way round, a port the model lets the tester in to, that a socket serves, but the scan found
filtered is a note: something between the tester and the device filters it. A scan proves
nothing closed (the model does that), so it can fail the audit or leave notes, never pass it;
a scan that was asked for and did not run makes the audit an error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pytest_portspec.checks.context import Facts
from pytest_portspec.firewall.intervals import Intervals
from pytest_portspec.firewall.questions import Answer, closed, open_to
from pytest_portspec.firewall.ruleset import Family
from pytest_portspec.firewall.space import L4
from pytest_portspec.firewall.values import address_span
from pytest_portspec.parse.sockets import Socket
from pytest_portspec.scan.model import AddressScan, PortFinding
from pytest_portspec.text import clip

Allowance = Callable[[str, int], str | None]  # (proto, port) -> what allows it, or None
Reported = Callable[[str, int], bool]  # (proto, port) -> whether the audit fails it already
HIDDEN = "a path the device's own report does not show (a hidden forward, another namespace, a second device)"


@dataclass
class ScanAudit:
    findings: list[str] = field(default_factory=list)  # open from outside, not allowed by the document
    evidence: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # the three views of allowed ports; disagreements
    unsure: list[str] = field(default_factory=list)  # a scan asked for that did not run
    summary: str = ""  # one clause for the observed line


def audit_scan(facts: Facts, allowed: Allowance, reported: Reported, tester: str | None) -> ScanAudit:
    """The scan's findings against the document; `reported`: whether the model's audit already fails a
    port (its scan line is then evidence, not a second finding); `tester`: the tester's address as
    the device sees it."""
    audit = ScanAudit()
    scan = facts.scan
    if scan is None:
        return audit
    if scan.not_run is not None:
        audit.unsure.append(f"the scan that was asked for did not run: {scan.not_run}")
        return audit
    audit.unsure += [f"the scan of {a} failed: {why}" for a, why in scan.errors.items()]
    audit.notes += [f"not scanned: {a}: {why}" for a, why in scan.skipped.items()]
    for found in scan.scans:
        for finding in found.open_ports():
            _open_port(facts, found, finding, allowed, reported, audit)
        audit.notes += _quiet_where_open(facts, found, tester)
    seen = sum(len(s.open_ports()) for s in scan.scans)
    if scan.scans:
        how = ", ".join(dict.fromkeys(f"{s.scanner} at {s.rate:g}/s" for s in scan.scans))
        audit.summary = f"the scan ({how}) of {len(scan.scans)} address(es) saw {seen} open port(s)"
    return audit


def _open_port(
    facts: Facts,
    found: AddressScan,
    finding: PortFinding,
    allowed: Allowance,
    reported: Reported,
    audit: ScanAudit,
) -> None:
    proto, port, address = finding.proto, finding.port, found.address
    line = scan_line(found, finding)
    model, sockets = _model_view(facts, proto, port, address), _sockets_view(facts, proto, port, address)
    allowance = allowed(proto, port)
    where = f"{port}/{proto} on {address}"
    if allowance is not None:
        audit.notes.append(
            f"{where}: open from outside; document: {allowance}; kernel: {model}; socket: {sockets}"
        )
        return
    if reported(proto, port):
        audit.evidence.append(line)
        return
    if facts.not_own(address):
        audit.notes.append(
            f"{where} answers, but {address} is not one of the device's own addresses (NAT in between): "
            f"it may be the NAT device's own service; kernel: {model}; socket: {sockets}"
        )
        return
    hidden = model.startswith("predicts it blocked") and sockets.startswith("none")
    audit.findings.append(
        f"{where} answers from outside ({finding.reason}) but the document does not allow it; "
        f"kernel: {model}; socket: {sockets}" + (f": {HIDDEN}" if hidden else "")
    )
    audit.evidence.append(line)


def scan_line(found: AddressScan, finding: PortFinding) -> str:
    detail = f": {clip(finding.detail)}" if finding.detail else ""
    how = f"{found.scanner} at {found.rate:g}/s"
    where = f"{found.address} {finding.port}/{finding.proto}"
    return f"scan ({how}): {where} {finding.state} ({finding.reason}){detail}"


def _model_view(facts: Facts, proto: str, port: int, address: str) -> str:
    if facts.kernel is None:
        return "not modelled (the kernel ruleset was not read)"
    answer = _closed_at(facts, proto, port, address)
    if answer.status == "no":
        return "lets it in"
    if answer.status == "yes":
        return "predicts it blocked"
    return f"cannot tell ({answer.why})"


def _closed_at(facts: Facts, proto: str, port: int, address: str) -> Answer:
    assert facts.kernel is not None
    l4: L4 = "tcp" if proto == "tcp" else "udp"
    try:
        return closed(facts.kernel, "in", l4, Intervals.of((port, port)), local=address)
    except ValueError:  # an address the model cannot place (not the device's): asked of every address
        return closed(facts.kernel, "in", l4, Intervals.of((port, port)))


def _serving(facts: Facts, proto: str, port: int, address: str) -> list[Socket]:
    family = 6 if ":" in address else 4
    return [
        s
        for s in facts.sockets
        if s.proto == proto and s.port == port and not s.loopback and family in s.families
        if s.local is None or s.local == address
    ]


def _sockets_view(facts: Facts, proto: str, port: int, address: str) -> str:
    serving = _serving(facts, proto, port, address)
    return (
        "; ".join(s.describe() for s in serving[:3])
        if serving
        else "none of the device's sockets listens there"
    )


def _quiet_where_open(facts: Facts, found: AddressScan, tester_address: str | None) -> list[str]:
    """TCP ports the model lets the tester in to and a socket serves, that the scan found filtered or
    closed."""
    if facts.kernel is None or found.address != facts.address:
        return []
    if not tester_address:
        return []
    tester = _remotes(tester_address)
    notes = []
    for port in sorted({s.port for s in facts.sockets if s.proto == "tcp" and not s.loopback}):
        state = found.state("tcp", port)
        if state not in ("filtered", "closed") or not _serving(facts, "tcp", port, found.address):
            continue
        if open_to(facts.kernel, "in", "tcp", Intervals.of((port, port)), tester).status == "yes":
            notes.append(
                f"{port}/tcp on {found.address}: the kernel lets the tester in and a socket listens, but the "
                f"scan found it {state}: something between the tester and the device "
                + ("filters it" if state == "filtered" else "refuses it")
            )
    return notes


def _remotes(address: str) -> dict[Family, Intervals]:
    """One address as a question's remotes."""
    family: Family = 6 if ":" in address else 4
    return {family: Intervals.of(address_span(address, family))}
