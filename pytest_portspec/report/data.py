"""The sign-off report's data, built from a results file's records (pure): rendering lives in html.py.

The same object feeds the HTML inside pytest-html's page and `portspec report RESULTS.json`,
so a report re-rendered later says exactly what the run said.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pytest_portspec.checks import kinds
from pytest_portspec.outcome.device_records import Capture
from pytest_portspec.outcome.records import (
    Condition,
    Device,
    Fingerprint,
    FirewallFinding,
    Node,
    Outcome,
    Result,
    Row,
    RunInfo,
    Site,
    UfwRule,
)

TITLE = "Port and firewall acceptance report"
BLOCKING = ("failed", "error")
NOT_RUN = "not run"  # an item collected and never run: the run stopped short
NOT_TAKEN = Fingerprint(start=None, end=None)


@dataclass(frozen=True)
class MatrixRow:
    """One requirement row of the document on one device, with the verdict of each check."""

    key: str
    row: str
    direction: str
    proto: str
    ports: str
    action: str | None
    service: str
    quote: str
    doc: str
    status: str  # "applies", or why it does not ("condition bacnet is off ...", "manual: ...")
    checks: dict[str, str]  # check -> outcome


@dataclass(frozen=True)
class Failure:
    nodeid: str
    outcome: str
    expected: str
    observed: str
    evidence: tuple[str, ...]
    failure_class: str | None
    quote: str | None


@dataclass
class DeviceReport:
    label: str
    spec: str
    source_doc: str
    profile: str
    role: str | None
    host: str
    host_key: str | None
    conditions: Mapping[str, Condition]
    error: str | None
    read_only: bool | None
    remote_commands: int
    read_only_problem: str | None = None  # why the proof could not be made
    matrix: list[MatrixRow] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    exposure: str | None = None
    management: list[str] = field(default_factory=list)
    rules: tuple[UfwRule, ...] = ()
    findings: tuple[FirewallFinding, ...] = ()  # ufw's view vs the kernel
    kernel_notes: tuple[str, ...] = ()
    snapshot: Mapping[str, str] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    accepted: list[tuple[str, str]] = field(default_factory=list)
    not_checked: list[tuple[str, str]] = field(default_factory=list)  # skipped checks of applying rows: why
    revision: int | None = None
    fingerprint: Fingerprint = NOT_TAKEN  # the read-only proof (a site takes none)
    kind: str = "device"  # or "site": a site's node-to-node flows (its nodes are devices of their own)
    nodes: tuple[Node, ...] = ()
    host_key_policy: str | None = None  # --host-key-policy it was reached with; None: not recorded
    host_key_verified: bool | None = None  # checked against known_hosts; None: not recorded
    host_key_note: str | None = None  # why it was not verified, in the transport's words
    sudo_mode: str | None = None  # how the root reads ran: commands, shell, none; None: not recorded
    capture: Capture | None = None  # judged from offline evidence (a bundle), not the live device
    checked_from: str | None = None  # the xdist worker that read and probed it (None: one process)
    reached_through: str | None = None  # "jump host X" when not reached directly
    scanned: str | None = None  # what the outside-in scan looked at and saw (--scan)
    items: int = 0  # the results file's items of this device (a device with none was not checked)

    @property
    def columns(self) -> tuple[str, ...]:
        """The matrix columns, read from the registry when used (a kind a conftest registers too)."""
        return kinds.columns("site" if self.kind == "site" else "row")


@dataclass
class ReportData:
    title: str
    operator: str
    created: str
    tool_version: str
    devices: list[DeviceReport]
    partial: str | None = None  # checks the run left out (-k, -m, --deselect): no sign-off then
    unused_waivers: list[tuple[str, str]] = field(default_factory=list)  # (FILE:LINE, why)
    strays: int = 0  # items naming a device the file does not describe: counted nowhere else

    @property
    def counts(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for device in self.devices:
            total.update(device.counts)
        return total

    @property
    def accepted(self) -> bool:
        """ACCEPTED only when no check failed, errored or was left out (deselected, not run), every
        device was checked (has items, no error) and proven unchanged: see `refusals`."""
        return not self.refusals

    @property
    def refusals(self) -> list[str]:
        """Why the run is not a sign-off, one phrase each; empty for ACCEPTED. Nothing is presumed:
        a results file that says nothing of a device, or nothing at all, is no acceptance."""
        counts = self.counts
        found = [f"{counts[o]} {o}" for o in (*BLOCKING, NOT_RUN) if counts[o]]
        found += ["no device"] if not self.devices else []
        found += [f"partial run: {self.partial}"] if self.partial else []
        found += [f"{self.strays} item(s) of devices the results file does not describe"] * bool(self.strays)
        return found + [why for device in self.devices for why in _device_refusals(device)]


def _device_refusals(device: DeviceReport) -> list[str]:
    label = device.label
    if device.error is not None:
        return [f"{label}: {device.error}"]
    found = [f"{label}: no check ran"] if not device.items else []
    if device.kind == "site":  # no snapshot of its own: its nodes carry the proof
        return found
    start, end = device.fingerprint.start, device.fingerprint.end
    if device.read_only is False:
        found.append(f"{label}: read-only proof failed (its firewall state changed during the run)")
    elif device.read_only is None:
        found.append(f"{label}: read-only proof missing ({device.read_only_problem or 'not taken'})")
    elif start is None or start != end:  # a file saying "read only" must carry the proof
        found.append(f"{label}: the read-only proof does not match its fingerprints")
    if device.host_key_policy == "ignore" and device.host_key_verified is not True:
        # accept-new's first use is the operator's trust on first use; ignore trusted nothing
        found.append(
            f"{label}: host key NOT verified (--host-key-policy ignore): it may not be the device named"
        )
    return found


def _status(row: Row) -> str:
    if row.manual:
        return f"manual: {row.manual}"
    return "applies" if row.applies else row.decision


def device_report(device: Device | Site, mine: tuple[Result, ...]) -> DeviceReport:
    """The report of one device or site, from its own items (`Outcome.by_device`)."""
    report = DeviceReport(
        label=device.device,
        spec=device.spec,
        source_doc=device.source_doc,
        profile=device.profile,
        role=device.role,
        host=device.host,
        host_key=device.host_key,
        conditions=device.conditions,
        error=device.error,
        read_only=device.read_only,
        remote_commands=device.remote_commands,
        counts=Counter(r.outcome for r in mine),
        revision=device.spec_revision,
        kind=device.kind,
        items=len(mine),
    )
    if isinstance(device, Site):
        report.nodes = device.nodes
    else:
        _read_from(report, device)
    report.matrix = _matrix(device.rows, mine)
    applying = {row.key for row in device.rows if row.applies and not row.manual}
    for r in mine:
        _add_result(report, r, applying)
    return report


def _read_from(report: DeviceReport, device: Device) -> None:
    """What the run read of a device and how: the parts a site has none of."""
    report.read_only_problem = device.read_only_problem
    report.rules = device.ufw_rules
    report.findings = device.firewall_findings
    report.kernel_notes = device.kernel_notes
    report.snapshot = device.snapshot
    report.fingerprint = device.fingerprint
    report.host_key_policy = device.host_key_policy
    report.host_key_verified = device.host_key_verified
    report.host_key_note = device.host_key_note
    report.sudo_mode = device.sudo_mode
    report.capture = device.capture
    report.checked_from = device.checked_from
    report.reached_through = device.reached_through
    report.scanned = device.scanned


def _matrix(rows: tuple[Row, ...], mine: Sequence[Result]) -> list[MatrixRow]:
    by_key: dict[str, dict[str, str]] = {}
    for r in mine:
        by_key.setdefault(r.key, {})[r.check] = r.outcome
    return [
        MatrixRow(
            key=row.key,
            row=row.id,
            direction=row.direction,
            proto=row.proto,
            ports=row.ports,
            action=row.action,
            service=row.service,
            quote=row.citation.quote,
            doc=row.citation.doc,
            status=_status(row),
            checks=by_key.get(row.key, {}),
        )
        for row in rows
    ]


def _add_result(report: DeviceReport, r: Result, applying: set[str]) -> None:
    """One item's part of its device's report: why it was not checked, the exposure it found,
    the waiver that accepted it, or the failure with its evidence."""
    if r.outcome == "skipped" and (r.key in applying or r.check in kinds.names("device")):
        notes = "".join(f" ({n})" for n in r.notes)
        report.not_checked.append((r.nodeid, (r.observed or "") + notes))
    if r.check == "exposure":
        report.exposure = r.observed
        report.management = [n for n in r.notes if "management access" in n]
    if r.outcome == "accepted":
        note = next((n for n in r.notes if n.startswith("accepted deviation")), "accepted deviation")
        report.accepted.append((r.nodeid, note))
    if r.outcome in BLOCKING:
        report.failures.append(
            Failure(
                nodeid=r.nodeid,
                outcome=r.outcome,
                expected=r.expected,
                observed=r.observed or "",
                evidence=r.evidence,
                failure_class=r.failure_class,
                quote=r.citation.quote if r.citation else None,
            )
        )


def build(outcome: Outcome, *, title: str, operator: str, created: str, tool_version: str) -> ReportData:
    """The report of a results file's records."""
    grouped = outcome.by_device()
    known = {d.device for d in outcome.devices}
    return ReportData(
        title=title,
        operator=operator,
        created=created,
        tool_version=tool_version,
        devices=[device_report(d, grouped.get(d.device, ())) for d in outcome.devices],
        partial=partial_run(outcome.run),
        unused_waivers=[(w.where, w.why) for w in outcome.unused_waivers],
        strays=sum(r.device not in known for r in outcome.results),
    )


def partial_run(run: RunInfo) -> str | None:
    """What a run left out of the document's checks, or None for a whole run."""
    if not run.deselected:
        return None
    return f"{run.deselected} check(s) not selected" + (f" ({run.selection})" if run.selection else "")
