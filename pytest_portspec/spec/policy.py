"""Effective policy: what a spec requires of one device, given profile, conditions and role.

    effective_policy(spec, profile=..., enable=..., firmware=..., role=...) -> EffectivePolicy

Rows are expanded into one `Expectation` per (role, direction, protocol); each says
whether it applies and why, so the report can show every row of the document, including
those switched off by a condition or absent from the chosen profile.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from pytest_portspec.errors import SelectionError
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
    Version,
    parse_version,
    ports_label,
    subtract,
)
from pytest_portspec.spec.yamlsrc import suggest
from pytest_portspec.text import quoted

ALL = "all"


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


def effective_policy(
    spec: Spec,
    *,
    profile: str | None = None,
    enable: Iterable[str] = (),
    disable: Iterable[str] = (),
    firmware: str | None = None,
    role: str | None = None,
    decided_by: Mapping[str, str] | None = None,
) -> EffectivePolicy:
    """What `spec` requires of one device; SelectionError for choices the spec does not offer.

    `decided_by` names who enabled or disabled a condition when it was not the user's own
    option (an emulated appliance's configuration, an inventory), for the report.
    """
    chosen = choose_profile(spec, profile, firmware)
    conditions = [
        ConditionChoice(c.name, c.enabled, (decided_by or {}).get(c.name, c.decided_by))
        for c in choose_conditions(spec, list(enable), list(disable))
    ]
    if role is not None and role not in spec.roles:
        offered = ", ".join(spec.roles) or "none (it describes a single node)"
        raise SelectionError(
            f"spec {spec.name!r} has no role {quoted(role)}{suggest(role, list(spec.roles))}; "
            f"roles: {offered}"
        )
    on = {c.name: c for c in conditions}
    keys = side_keys(spec)
    sides = [s for s in expand(spec) if role is None or s.role == role]
    expectations = [_expect(keys[s], s, chosen, on) for s in sides]
    return EffectivePolicy(
        spec=spec,
        profile=chosen,
        firmware=firmware,
        role=role,
        conditions=tuple(conditions),
        default_in=spec.default.inbound[chosen.name],
        default_out=spec.default.outbound[chosen.name],
        rows=tuple(_supersede(expectations)),
    )


def choose_profile(spec: Spec, name: str | None, firmware: str | None) -> Profile:
    version = _version(firmware) if firmware is not None else None
    if name is not None:
        if name not in spec.profiles:
            raise SelectionError(
                f"spec {spec.name!r} has no profile {quoted(name)}{suggest(name, list(spec.profiles))}; "
                f"profiles: {', '.join(spec.profiles)}"
            )
        chosen = spec.profiles[name]
        if version is not None and chosen.firmware and not chosen.firmware.contains(version):
            raise SelectionError(
                f"profile {name!r} of {spec.name!r} is for firmware {chosen.firmware}, not {firmware}"
            )
        return chosen
    if version is None:
        return spec.default_profile
    fitting = [p for p in spec.profiles.values() if p.firmware is None or p.firmware.contains(version)]
    if spec.default_profile in fitting:
        return spec.default_profile
    if len(fitting) == 1:
        return fitting[0]
    names = ", ".join(p.name for p in fitting) or "none"
    raise SelectionError(
        f"firmware {firmware} of {spec.name!r} fits profiles: {names}; choose one with --profile"
    )


def _version(text: str) -> Version:
    version = parse_version(text)
    if version is None:
        raise SelectionError(f"firmware version {quoted(text)} is not a dotted number such as 1.6")
    return version


def choose_conditions(spec: Spec, enable: Sequence[str], disable: Sequence[str]) -> list[ConditionChoice]:
    known = list(spec.conditions)
    for name in [*enable, *disable]:
        if name != ALL and name not in spec.conditions:
            offered = ", ".join(known) or "none"
            raise SelectionError(
                f"spec {spec.name!r} has no condition {quoted(name)}{suggest(name, known)}; "
                f"conditions: {offered}"
            )
    both = sorted(set(enable) & set(disable))
    if both:
        raise SelectionError(f"condition {quoted(both[0])} is both enabled and disabled")
    choices = []
    for condition in spec.conditions.values():
        name = condition.name
        if name in disable:
            choices.append(ConditionChoice(name, False, f"--disable {name}"))
        elif name in enable:
            choices.append(ConditionChoice(name, True, f"--enable {name}"))
        elif ALL in enable:
            choices.append(ConditionChoice(name, True, "--enable all"))
        elif ALL in disable:
            choices.append(ConditionChoice(name, False, "--disable all"))
        else:
            choices.append(ConditionChoice(name, condition.default, "default"))
    return choices


def expand(spec: Spec) -> list[Side]:
    """Every side of every row, for every role; independent of profile and conditions."""
    sides: list[Side] = []
    for row in spec.rows:
        sides += _row_sides(row, spec)
    return sides


def _row_sides(row: Row, spec: Spec) -> list[Side]:
    if row.between is None:
        roles: Sequence[str | None] = row.roles if spec.roles else [None]
        directions: list[Direction] = ["in", "out"] if row.direction == "both" else [row.direction or "in"]
        return [
            Side(
                row, role, d, proto, row.destinations if d == "out" else (), row.sources if d == "in" else ()
            )
            for role in roles
            for d in directions
            for proto in row.protos
        ]
    flows = [(row.between.sources, row.between.targets)]
    if row.between.bidirectional:
        flows.append((row.between.targets, row.between.sources))
    peers: dict[tuple[str, Direction], list[str]] = {}
    for senders, receivers in flows:
        for sender in senders:
            _add(peers.setdefault((sender, "out"), []), receivers)
        for receiver in receivers:
            _add(peers.setdefault((receiver, "in"), []), senders)
    return [
        Side(
            row,
            role,
            d,
            proto,
            tuple(Destination("role", p) for p in names) if d == "out" else (),
            tuple(Destination("role", p) for p in names) if d == "in" else (),
        )
        for (role, d), names in peers.items()
        for proto in row.protos
    ]


def _add(into: list[str], names: Iterable[str]) -> None:
    into += [n for n in names if n not in into]


def side_keys(spec: Spec) -> dict[Side, str]:
    """Stable, readable keys: [lo-]DIRECTION-PORTS-PROTO, plus -ROWID where two rows would share one."""
    sides = expand(spec)

    def base(side: Side) -> str:
        scope = "lo-" if side.row.scope == "loopback" else ""
        return f"{scope}{side.direction}-{ports_label(side.row.ports)}-{side.proto}"

    rows_per_key = Counter(
        (s.role, base(s)) for s in {(s.role, base(s), s.row.id): s for s in sides}.values()
    )
    return {s: base(s) if rows_per_key[(s.role, base(s))] == 1 else f"{base(s)}-{s.row.id}" for s in sides}


def _expect(key: str, side: Side, profile: Profile, on: dict[str, ConditionChoice]) -> Expectation:
    row = side.row
    row_action = row.actions.get(profile.name)
    if row_action is None:
        only = ", ".join(row.actions) or "none"
        return Expectation(
            key, side, None, False, f"does not apply in profile {profile.name} (only in: {only})"
        )
    action = row_action.for_direction(side.direction)
    if row.condition is not None:
        choice = on[row.condition]
        state = "on" if choice.enabled else "off"
        how = f"{state} ({choice.decided_by})"
        if not choice.enabled:
            return Expectation(
                key, side, action, False, f"condition {row.condition} is {how}: pass --enable {row.condition}"
            )
        return Expectation(key, side, action, True, f"condition {row.condition} is {how}")
    return Expectation(key, side, action, True, "always applies")


def _supersede(expectations: list[Expectation]) -> list[Expectation]:
    """Work out, for each applicable block, which of its ports other rows allow."""
    allows = [e for e in expectations if e.applies and e.action == "allow"]
    result = []
    for e in expectations:
        if e.applies and e.action == "block":
            by = [a for a in allows if _same_traffic(a, e)]
            opened = tuple(p for a in by for p in a.row.ports)
            e = replace(
                e, superseded_by=tuple(a.key for a in by), blocked_ports=subtract(e.row.ports, opened)
            )
        result.append(e)
    return result


def _same_traffic(a: Expectation, b: Expectation) -> bool:
    sa, sb = a.side, b.side
    return (sa.role, sa.direction, sa.proto, a.row.scope) == (
        sb.role,
        sb.direction,
        sb.proto,
        b.row.scope,
    ) and _overlap(a.row.ports, b.row.ports)


def _overlap(a: tuple[PortRange, ...], b: tuple[PortRange, ...]) -> bool:
    return any(x.overlaps(y) for x in a for y in b)
