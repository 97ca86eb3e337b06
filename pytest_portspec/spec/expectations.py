"""The effective policy's data: what one spec row asks of one device, and the whole set.

`Side` is a row seen from one role, direction and protocol; `Expectation` adds what the chosen
profile and conditions make of it; `EffectivePolicy` is every expectation of one device. They
are built by `spec/policy.py` (`effective_policy`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pytest_portspec.spec.model import (
    Action,
    DefaultAction,
    Destination,
    Direction,
    Listener,
    PortRange,
    Profile,
    Proto,
    Row,
    Spec,
)


@dataclass(frozen=True)
class Side:
    """One row seen from one role, in one direction, for one protocol (profile independent)."""

    row: Row
    role: str | None
    direction: Direction
    proto: Proto
    destinations: tuple[Destination, ...]
    sources: tuple[Destination, ...]


@dataclass(frozen=True)
class Expectation:
    key: str
    side: Side
    action: Action | None
    applies: bool
    decision: str
    superseded_by: tuple[str, ...] = ()
    # for a block: the ports no applicable allow row opens, where the block must hold
    blocked_ports: tuple[PortRange, ...] | None = None
    # for an inbound allow of a cluster-only row: the ports no applicable row opens to everyone,
    # which only the cluster's nodes may reach; None: not a cluster-only row
    cluster_ports: tuple[PortRange, ...] | None = None

    @property
    def row(self) -> Row:
        return self.side.row

    @property
    def overridden(self) -> bool:
        """A block whose every port another applicable row allows."""
        return bool(self.superseded_by) and not self.blocked_ports

    @property
    def listener(self) -> Listener | None:
        return None if self.side.direction == "out" else self.row.listener

    def as_dict(self) -> dict[str, object]:
        row, side = self.row, self.side
        return {
            "id": row.id,
            "key": self.key,
            "direction": side.direction,
            "proto": side.proto,
            "ports": [[p.lo, p.hi] for p in row.ports],
            "configurable": row.configurable,
            "action": self.action,
            "scope": row.scope,
            "service": row.service,
            "process": list(row.process),
            "listener": self.listener,
            "destinations": [d.as_dict() for d in side.destinations],
            "reach": row.reach if side.direction == "out" else None,
            "sources": [d.as_dict() for d in side.sources],
            "condition": row.condition,
            "role": side.role,
            "manual": row.manual,
            "applies": self.applies,
            "decision": self.decision,
            "superseded_by": list(self.superseded_by),
            "blocked_ports": None
            if self.blocked_ports is None
            else [[p.lo, p.hi] for p in self.blocked_ports],
            "note": row.note,
            "citation": row.citation.as_dict(),
        }


@dataclass(frozen=True)
class ConditionChoice:
    name: str
    enabled: bool
    decided_by: str


@dataclass(frozen=True)
class EffectivePolicy:
    spec: Spec
    profile: Profile
    firmware: str | None
    role: str | None
    conditions: tuple[ConditionChoice, ...]
    default_in: DefaultAction
    default_out: DefaultAction
    rows: tuple[Expectation, ...] = field(repr=False)

    @property
    def enabled(self) -> list[str]:
        return [c.name for c in self.conditions if c.enabled]

    def as_dict(self) -> dict[str, object]:
        spec = self.spec
        return {
            "spec": spec.name,
            "product": spec.product,
            "revision": spec.revision,
            "source": {"doc": spec.source_doc, "title": spec.source_title},
            "profile": self.profile.name,
            "firmware": self.firmware,
            "role": self.role,
            "enabled": self.enabled,
            "conditions": {
                c.name: {"enabled": c.enabled, "decided_by": c.decided_by} for c in self.conditions
            },
            "default": {
                "in": self.default_in,
                "out": self.default_out,
                "citation": spec.default.citation.as_dict(),
                "dynamic": spec.default.dynamic.as_dict() if spec.default.dynamic else None,
            },
            "rows": [e.as_dict() for e in self.rows],
            "notes": [n.as_dict() for n in spec.notes],
        }
