"""The sign-off report's data, built from a results file (pure): rendering lives in html.py.

The same object feeds the HTML inside pytest-html's page and `portspec report RESULTS.json`,
so a report re-rendered later says exactly what the run said.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

CHECK_COLUMNS = ("ufw", "listening", "outbound", "inbound")
BLOCKING = ("failed", "error")


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
    conditions: dict[str, dict[str, Any]]
    error: str | None
    read_only: bool | None
    remote_commands: int
    read_only_problem: str | None = None  # why the proof could not be made
    matrix: list[MatrixRow] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    exposure: str | None = None
    management: list[str] = field(default_factory=list)
    rules: list[dict[str, Any]] = field(default_factory=list)
    findings: list[dict[str, str]] = field(default_factory=list)  # ufw's view vs the kernel
    kernel_notes: list[str] = field(default_factory=list)
    snapshot: dict[str, str] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    accepted: list[tuple[str, str]] = field(default_factory=list)
    not_checked: list[tuple[str, str]] = field(default_factory=list)  # skipped checks of applying rows: why
    revision: int | None = None
    fingerprint: dict[str, str | None] = field(default_factory=dict)  # the read-only proof: start and end
    kind: str = "device"  # or "site": a site's node-to-node flows (its nodes are devices of their own)
    nodes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def columns(self) -> tuple[str, ...]:
        return ("pair",) if self.kind == "site" else CHECK_COLUMNS


@dataclass
class ReportData:
    title: str
    operator: str
    created: str
    tool_version: str
    devices: list[DeviceReport]
    partial: str | None = None  # checks the run left out (-k, -m, --deselect): no sign-off then

    @property
    def counts(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for device in self.devices:
            total.update(device.counts)
        return total

    @property
    def accepted(self) -> bool:
        """ACCEPTED only when no check failed or errored, none was left out, every device was checked
        and left unchanged."""
        return (
            not any(self.counts[o] for o in BLOCKING)
            and self.partial is None
            and bool(self.devices)
            and all(d.error is None and (d.read_only is True or d.kind == "site") for d in self.devices)
        )


def _status(row: dict[str, Any]) -> str:
    if row.get("manual"):
        return f"manual: {row['manual']}"
    return "applies" if row["applies"] else str(row["decision"])


def device_report(device: dict[str, Any], results: list[dict[str, Any]]) -> DeviceReport:
    mine = [r for r in results if r["device"] == device["device"]]
    by_key: dict[str, dict[str, str]] = {}
    for r in mine:
        by_key.setdefault(r["key"], {})[r["check"]] = r["outcome"]
    report = DeviceReport(
        label=device["device"],
        spec=device["spec"],
        source_doc=device.get("source_doc", ""),
        profile=device["profile"],
        role=device.get("role"),
        host=device["host"],
        host_key=device.get("host_key"),
        conditions=device.get("conditions", {}),
        error=device.get("error"),
        read_only=device.get("read_only"),
        read_only_problem=device.get("read_only_problem"),
        remote_commands=int(device.get("remote_commands", 0)),
        rules=device.get("ufw_rules", []),
        findings=device.get("firewall_findings", []),
        kernel_notes=device.get("kernel_notes", []),
        snapshot=device.get("snapshot", {}),
        counts=Counter(r["outcome"] for r in mine),
        revision=device.get("spec_revision"),
        fingerprint=device.get("fingerprint") or {},
        kind=device.get("kind", "device"),
        nodes=device.get("nodes", []),
    )
    for row in device.get("rows", []):
        cite = row.get("citation") or {}
        report.matrix.append(
            MatrixRow(
                key=row["key"],
                row=row["id"],
                direction=row["direction"],
                proto=row["proto"],
                ports=row["ports"],
                action=row["action"],
                service=row["service"],
                quote=cite.get("quote", ""),
                doc=cite.get("doc", ""),
                status=_status(row),
                checks=by_key.get(row["key"], {}),
            )
        )
    applying = {row["key"] for row in device.get("rows", []) if row.get("applies") and not row.get("manual")}
    for r in mine:
        if r["outcome"] == "skipped" and (r["key"] in applying or r["check"] in ("default", "exposure")):
            notes = "".join(f" ({n})" for n in r.get("notes", []))
            report.not_checked.append((r["nodeid"], (r.get("observed") or "") + notes))
        if r["check"] == "exposure":
            report.exposure = r.get("observed")
            report.management = [n for n in r.get("notes", []) if "management access" in n]
        if r["outcome"] == "accepted":
            note = next(
                (n for n in r.get("notes", []) if n.startswith("accepted deviation")), "accepted deviation"
            )
            report.accepted.append((r["nodeid"], note))
        if r["outcome"] in BLOCKING:
            cite = r.get("citation") or {}
            report.failures.append(
                Failure(
                    nodeid=r["nodeid"],
                    outcome=r["outcome"],
                    expected=r.get("expected") or "",
                    observed=r.get("observed") or "",
                    evidence=tuple(r.get("evidence") or ()),
                    failure_class=r.get("failure_class"),
                    quote=cite.get("quote"),
                )
            )
    return report


def build(
    results: dict[str, Any], *, title: str, operator: str, created: str, tool_version: str
) -> ReportData:
    items = results.get("results", [])
    return ReportData(
        title=title,
        operator=operator,
        created=created,
        tool_version=tool_version,
        devices=[device_report(d, items) for d in results.get("devices", [])],
        partial=partial_run(results.get("run", {})),
    )


def partial_run(run: dict[str, Any]) -> str | None:
    """What a run left out of the document's checks, or None for a whole run."""
    deselected, selection = run.get("deselected", 0), run.get("selection", "")
    if not deselected:
        return None
    return f"{deselected} check(s) not selected" + (f" ({selection})" if selection else "")
