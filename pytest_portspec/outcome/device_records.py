"""The results file's devices and sites as typed records (see `outcome.records`, which re-exports
them): a device as it was read, its requirement rows, and a site's node-to-node flows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Literal


def _json(value: object) -> object:
    """A record's value as the file writes it: records as objects, tuples as arrays."""
    if isinstance(value, Record):
        return value.to_json()
    if isinstance(value, tuple):
        return [_json(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _json(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class Record:
    """A part of the results file whose fields are its keys, in the file's order."""

    def to_json(self) -> dict[str, Any]:
        return {f.name: _json(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True, kw_only=True)
class Citation(Record):
    """Where the vendor's document says it: the document, its words, the reading taken."""

    doc: str
    quote: str
    reading: str | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Citation:
        return cls(doc=data["doc"], quote=data["quote"], reading=data["reading"])


@dataclass(frozen=True, kw_only=True)
class Row(Record):
    """One requirement row of the document as the device's policy reads it (the report's matrix)."""

    id: str
    key: str  # DIRECTION-PORTS-PROTO, the middle of the items' node ids
    direction: str  # in, out, node-to-node
    proto: str
    ports: str
    action: str | None  # allow, block; None: the document does not say
    service: str
    applies: bool
    decision: str  # why it applies or not ("condition bacnet is off ...")
    manual: str | None  # what a person must check by hand; None: the tool checks it
    citation: Citation

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Row:
        names = [f.name for f in fields(cls) if f.name != "citation"]
        return cls(**{n: data[n] for n in names}, citation=Citation.from_json(data["citation"]))


@dataclass(frozen=True, kw_only=True)
class Condition(Record):
    enabled: bool
    decided_by: str  # default, --condition, the spec's profile ...


@dataclass(frozen=True, kw_only=True)
class UfwRule(Record):
    rule: str
    line: str
    kind: str  # documented, undocumented, ...
    explanation: str


@dataclass(frozen=True, kw_only=True)
class FirewallFinding(Record):
    """Where ufw's view and the kernel's rules disagree."""

    finding: str
    ufw: str
    kernel: str


@dataclass(frozen=True, kw_only=True)
class Reading(Record):
    """Which reading of a contradictory document a decision took."""

    decision: str
    reading: str
    reading_id: str | None
    held: bool
    quote: str
    tried: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Fingerprint(Record):
    """The read-only proof: the firewall state's hashes at the start and the end of the run."""

    start: str | None
    end: str | None


@dataclass(frozen=True, kw_only=True)
class Capture(Record):
    """Offline evidence (device/bundle.py): when, where and by whom the capture was made, and its hash."""

    captured_at: str
    captured_on: str
    captured_by: str
    bundle_sha256: str


@dataclass(frozen=True, kw_only=True)
class Node(Record):
    """A node of a site: its name in the site file, its role and device, the address peers use."""

    name: str
    role: str | None
    device: str
    address: str


@dataclass(frozen=True, kw_only=True)
class Device(Record):
    """A device of the run: what was read from it, how, and what its policy says."""

    device: str  # the label of its items: SPEC[PROFILE]@HOST
    spec: str
    spec_revision: int
    source_doc: str
    profile: str
    role: str | None
    host: str
    enabled: tuple[str, ...]  # the conditions turned on
    conditions: Mapping[str, Condition]
    remote_commands: int
    snapshot_s: float
    read_only: bool | None  # True: proven unchanged; False: it changed; None: no proof
    read_only_problem: str | None
    host_key: str | None
    host_key_policy: str | None  # strict, accept-new, ignore; None: unknown or not reached
    host_key_verified: bool | None  # None: unknown or not reached
    host_key_note: str | None = None  # why the key was not verified
    sudo_mode: str | None = None  # commands, shell, none; None: not recorded (not written then)
    error: str | None  # why the device could not be checked
    ufw_rules: tuple[UfwRule, ...]
    firewall_findings: tuple[FirewallFinding, ...]
    kernel_notes: tuple[str, ...]
    readings: tuple[Reading, ...]
    snapshot: Mapping[str, str]  # raw sections by name, each capped at 1 MiB
    kernel: Mapping[str, str | None]  # the kernel sections whole (None: unreadable, why under NAME!)
    rows: tuple[Row, ...]
    fingerprint: Fingerprint
    capture: Capture | None = None  # judged from a capture, not the live device (written only then)
    checked_from: str | None = None  # the xdist worker that read it and probed it (written only then)
    reached_through: str | None = None  # "jump host X" (device/reached.py; written only then)
    scanned: str | None = None  # what the outside-in scan (--scan) looked at and saw (written only then)
    kind: Literal["device"] = field(default="device", repr=False)  # not written: a site's differs

    @property
    def read(self) -> bool:
        """Whether the run read it (its snapshot, or the error that stopped it)."""
        return self.error is not None or self.fingerprint.start is not None

    def to_json(self) -> dict[str, Any]:
        data = super().to_json()
        del data["kind"]
        if self.sudo_mode is None:  # the schema has no null for it: a format-1 file lacks it
            del data["sudo_mode"]
        if self.capture is None:  # a live device's record is as before offline evidence existed
            del data["capture"]
        if self.checked_from is None:  # a run in one process: the machine running pytest
            del data["checked_from"]
        if self.reached_through is None:  # reached directly
            del data["reached_through"]
        if self.scanned is None:  # no --scan
            del data["scanned"]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Device:
        nested: dict[str, Any] = {
            "enabled": tuple(data["enabled"]),
            "conditions": {k: Condition(**v) for k, v in data["conditions"].items()},
            "host_key_note": data.get("host_key_note"),
            "sudo_mode": data.get("sudo_mode"),
            "ufw_rules": tuple(UfwRule(**r) for r in data["ufw_rules"]),
            "firewall_findings": tuple(FirewallFinding(**f) for f in data["firewall_findings"]),
            "kernel_notes": tuple(data["kernel_notes"]),
            "readings": tuple(Reading(**(r | {"tried": tuple(r["tried"])})) for r in data["readings"]),
            "snapshot": dict(data["snapshot"]),
            "kernel": dict(data["kernel"]),
            "rows": tuple(Row.from_json(r) for r in data["rows"]),
            "fingerprint": Fingerprint(**data["fingerprint"]),
            "capture": Capture(**data["capture"]) if "capture" in data else None,
            "checked_from": data.get("checked_from"),
            "reached_through": data.get("reached_through"),
            "scanned": data.get("scanned"),
        }
        plain = {f.name: data[f.name] for f in fields(cls) if f.name not in nested and f.name != "kind"}
        return cls(**plain, **nested)


@dataclass(frozen=True, kw_only=True)
class Site(Record):
    """A site's node-to-node flows, shown like a device whose rows are the flows. A site takes no
    snapshot of its own (its nodes are devices of the file and carry the proof)."""

    device: str  # the site's label
    kind: Literal["site"] = "site"
    spec: str
    spec_revision: int
    source_doc: str
    profile: str  # its nodes' profiles, joined
    role: None = None
    host: str  # the site's name
    enabled: tuple[str, ...] = ()
    conditions: Mapping[str, Condition] = field(default_factory=dict)
    remote_commands: int = 0
    read_only: None = None
    host_key: None = None
    error: str | None = None
    nodes: tuple[Node, ...]
    rows: tuple[Row, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Site:
        return cls(
            device=data["device"],
            spec=data["spec"],
            spec_revision=data["spec_revision"],
            source_doc=data["source_doc"],
            profile=data["profile"],
            host=data["host"],
            enabled=tuple(data["enabled"]),
            remote_commands=data["remote_commands"],
            error=data["error"],
            nodes=tuple(Node(**n) for n in data["nodes"]),
            rows=tuple(Row.from_json(r) for r in data["rows"]),
        )


def device_from_json(data: Mapping[str, Any]) -> Device | Site:
    """A device entry, or a site entry (the schema tells them apart by `kind`)."""
    return Site.from_json(data) if "kind" in data else Device.from_json(data)
