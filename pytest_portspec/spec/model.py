"""The validated spec model: plain, immutable, typed data.

A `Spec` is what a spec file says once it has passed validation; nothing here
knows about YAML, pytest or SSH. See docs/spec-format.md for what each field means.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Direction = Literal["in", "out"]
RowDirection = Literal["in", "out", "both"]
Proto = Literal["tcp", "udp"]
Action = Literal["allow", "block"]
DefaultAction = Literal["allow", "block", "unspecified"]
Listener = Literal["required", "permitted", "forbidden", "loopback-only"]
Scope = Literal["external", "loopback"]
DestinationKind = Literal["host", "ip", "cidr", "configured", "role"]
Reach = Literal["all", "any"]

DIRECTIONS: tuple[RowDirection, ...] = ("in", "out", "both")
PROTOS: tuple[str, ...] = ("tcp", "udp", "both")
ACTIONS: tuple[Action, ...] = ("allow", "block")
DEFAULT_ACTIONS: tuple[DefaultAction, ...] = ("allow", "block", "unspecified")
LISTENERS: tuple[Listener, ...] = ("required", "permitted", "forbidden", "loopback-only")
SCOPES: tuple[Scope, ...] = ("external", "loopback")
REACH: tuple[Reach, ...] = ("all", "any")


@dataclass(frozen=True)
class PortRange:
    lo: int
    hi: int

    def __str__(self) -> str:
        return str(self.lo) if self.lo == self.hi else f"{self.lo}-{self.hi}"

    def overlaps(self, other: PortRange) -> bool:
        return self.lo <= other.hi and other.lo <= self.hi


def subtract(ports: tuple[PortRange, ...], minus: tuple[PortRange, ...]) -> tuple[PortRange, ...]:
    """The ports of `ports` that are in none of the ranges of `minus`."""
    left = list(ports)
    for cut in minus:
        kept: list[PortRange] = []
        for part in left:
            if not part.overlaps(cut):
                kept.append(part)
                continue
            if part.lo < cut.lo:
                kept.append(PortRange(part.lo, cut.lo - 1))
            if part.hi > cut.hi:
                kept.append(PortRange(cut.hi + 1, part.hi))
        left = kept
    return tuple(left)


def ports_label(ports: tuple[PortRange, ...]) -> str:
    return ",".join(str(p) for p in ports) if ports else "dynamic"


@dataclass(frozen=True)
class Citation:
    doc: str
    quote: str
    reading: str | None
    line: int

    def as_dict(self) -> dict[str, str | None]:
        return {"doc": self.doc, "quote": self.quote, "reading": self.reading}


@dataclass(frozen=True)
class Destination:
    """Where traffic goes (or comes from): a host, address, network, configured or role peer."""

    kind: DestinationKind
    value: str
    ips: tuple[str, ...] = ()
    description: str | None = None
    note: str | None = None

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {self.kind: self.value}
        if self.kind == "host":
            out["ip"] = list(self.ips)
        if self.description is not None:
            out["description"] = self.description
        if self.note is not None:
            out["note"] = self.note
        return out

    def __str__(self) -> str:
        if self.kind == "host" and self.ips:
            return f"{self.value} ({', '.join(self.ips)})"
        if self.kind in ("configured", "role"):
            return f"<{self.kind} {self.value}>"
        return self.value


Version = tuple[int, ...]


def parse_version(text: str) -> Version | None:
    parts = text.strip().split(".")
    if not all(p.isdigit() for p in parts):
        return None
    return tuple(int(p) for p in parts)


@dataclass(frozen=True)
class FirmwareRange:
    min: str | None
    below: str | None

    def contains(self, version: Version) -> bool:
        low = parse_version(self.min) if self.min else None
        high = parse_version(self.below) if self.below else None
        return (low is None or version >= low) and (high is None or version < high)

    def __str__(self) -> str:
        parts = []
        if self.min:
            parts.append(f">= {self.min}")
        if self.below:
            parts.append(f"< {self.below}")
        return ", ".join(parts)


@dataclass(frozen=True)
class Profile:
    name: str
    title: str
    default: bool
    firmware: FirmwareRange | None
    description: str | None


@dataclass(frozen=True)
class Condition:
    name: str
    title: str
    default: bool
    hint: str | None
    description: str | None
    citation: Citation | None


@dataclass(frozen=True)
class Role:
    name: str
    title: str
    description: str | None


@dataclass(frozen=True)
class RowAction:
    """The document's verdict for one row in one profile: per direction, or None."""

    inbound: Action | None
    outbound: Action | None

    def for_direction(self, direction: Direction) -> Action | None:
        return self.inbound if direction == "in" else self.outbound


@dataclass(frozen=True)
class Between:
    sources: tuple[str, ...]
    targets: tuple[str, ...]
    bidirectional: bool


@dataclass(frozen=True, eq=False)  # identity: rows hold mappings and key sides
class Row:
    id: str
    service: str
    process: tuple[str, ...]
    direction: RowDirection | None
    between: Between | None
    protos: tuple[Proto, ...]
    ports: tuple[PortRange, ...]
    configurable: bool
    actions: Mapping[str, RowAction]
    scope: Scope
    listener: Listener
    condition: str | None
    roles: tuple[str, ...]
    destinations: tuple[Destination, ...]
    reach: Reach
    sources: tuple[Destination, ...]
    manual: str | None
    note: str | None
    citation: Citation
    line: int
    cluster_only: bool = False  # a port for the cluster's nodes only: open to others it is an exposure

    @property
    def dynamic_ports(self) -> bool:
        return not self.ports


@dataclass(frozen=True)
class DefaultPolicy:
    inbound: Mapping[str, DefaultAction]
    outbound: Mapping[str, DefaultAction]
    citation: Citation
    # where the document says a port closes when its service stops (a dynamic firewall), if it does
    dynamic: Citation | None = None


@dataclass(frozen=True)
class RowOverride:
    """What another reading of the document changes in one row; None: as the row is written."""

    protos: tuple[Proto, ...] | None = None
    ports: tuple[PortRange, ...] | None = None
    direction: RowDirection | None = None
    actions: Mapping[str, RowAction] | None = None
    listener: Listener | None = None


@dataclass(frozen=True)
class Reading:
    """Another reading of a self-contradicting document: the decision's rows as it gives them."""

    id: str
    title: str
    citation: Citation
    rows: Mapping[str, RowOverride]
    line: int


@dataclass(frozen=True)
class Decision:
    id: str
    rows: tuple[str, ...]
    issue: str
    decision: str
    citation: Citation | None
    line: int
    # where the document contradicts itself: the rows as written are the primary reading, named
    # by `reading`; a device that satisfies any of `alternatives` instead passes too
    reading: str | None = None
    alternatives: tuple[Reading, ...] = ()


@dataclass(frozen=True)
class Note:
    id: str
    text: str
    citation: Citation | None

    def as_dict(self) -> dict[str, object]:
        cite = self.citation.as_dict() if self.citation else None
        return {"id": self.id, "text": self.text, "citation": cite}


@dataclass(frozen=True)
class Spec:
    path: Path
    name: str
    product: str
    vendor: str
    revision: int
    description: str | None
    source_doc: str
    source_title: str
    profiles: Mapping[str, Profile]
    conditions: Mapping[str, Condition]
    roles: Mapping[str, Role]
    default: DefaultPolicy
    rows: tuple[Row, ...]
    decisions: tuple[Decision, ...]
    notes: tuple[Note, ...]

    @property
    def default_profile(self) -> Profile:
        return next(p for p in self.profiles.values() if p.default)

    def citations(self) -> list[tuple[str, Citation]]:
        """Every citation in the spec with a label saying where it is used."""
        found: list[tuple[str, Citation]] = [("default", self.default.citation)]
        found += [("default.dynamic", self.default.dynamic)] if self.default.dynamic else []
        found += [(f"conditions.{c.name}", c.citation) for c in self.conditions.values() if c.citation]
        found += [(f"rows[{r.id}]", r.citation) for r in self.rows]
        found += [(f"decisions[{d.id}]", d.citation) for d in self.decisions if d.citation]
        found += [
            (f"decisions[{d.id}].alternatives[{a.id}]", a.citation)
            for d in self.decisions
            for a in d.alternatives
        ]
        found += [(f"notes[{n.id}]", n.citation) for n in self.notes if n.citation]
        return found
