"""The sign-off report's data, built from a results file (pure): rendering lives in html.py.

The same object feeds the HTML inside pytest-html's page and `portspec report RESULTS.json`,
so a report re-rendered later says exactly what the run said.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

TITLE = "Port and firewall acceptance report"
CHECK_COLUMNS = ("ufw", "listening", "outbound", "inbound")
BLOCKING = ("failed", "error")
NOT_RUN = "not run"  # an item collected and never run: the run stopped short


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
    host_key_policy: str | None = None  # --host-key-policy it was reached with; None: not recorded
    host_key_verified: bool | None = None  # checked against known_hosts; None: not recorded
    host_key_note: str | None = None  # why it was not verified, in the transport's words
    sudo_mode: str | None = None  # how the root reads ran: commands, shell, none; None: not recorded
    items: int = 0  # the results file's items of this device (a device with none was not checked)

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
    start, end = device.fingerprint.get("start"), device.fingerprint.get("end")
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
        host_key_policy=device.get("host_key_policy"),
        host_key_verified=device.get("host_key_verified"),
        host_key_note=device.get("host_key_note"),
        sudo_mode=device.get("sudo_mode"),
        items=len(mine),
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
    devices = results.get("devices", [])
    known = {d["device"] for d in devices}
    return ReportData(
        title=title,
        operator=operator,
        created=created,
        tool_version=tool_version,
        devices=[device_report(d, items) for d in devices],
        partial=partial_run(results.get("run", {})),
        unused_waivers=[(w["where"], w["why"]) for w in results.get("unused_waivers", [])],
        strays=sum(r["device"] not in known for r in items),
    )


def partial_run(run: dict[str, Any]) -> str | None:
    """What a run left out of the document's checks, or None for a whole run."""
    deselected, selection = run.get("deselected", 0), run.get("selection", "")
    if not deselected:
        return None
    return f"{deselected} check(s) not selected" + (f" ({selection})" if selection else "")
