"""Effective policy: what a spec requires of one device, given profile, conditions and role.

    effective_policy(spec, profile=..., enable=..., firmware=..., role=...) -> EffectivePolicy

Rows are expanded into one `Expectation` per (role, direction, protocol); each says
whether it applies and why, so the report can show every row of the document, including
those switched off by a condition or absent from the chosen profile.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Protocol

from pytest_portspec.spec.choices import ALL, check_role, choose_conditions, choose_profile
from pytest_portspec.spec.expectations import ConditionChoice, EffectivePolicy, Expectation, Side
from pytest_portspec.spec.model import (
    Destination,
    Direction,
    PortRange,
    Profile,
    Row,
    Spec,
    ports_label,
    subtract,
)

# The data types and the choices live beside this module; importers keep using this one.
__all__ = [
    "ALL",
    "ConditionChoice",
    "EffectivePolicy",
    "Expectation",
    "Side",
    "check_role",
    "choose_conditions",
    "choose_profile",
    "effective_policy",
    "expand",
    "side_keys",
]


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
    check_role(spec, role)
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
    """Work out, for each applicable block, which of its ports other rows allow; for each inbound
    allow of a cluster-only row, which of its ports no other row opens to everyone."""
    allows = [e for e in expectations if e.applies and e.action == "allow"]
    result = []
    for e in expectations:
        if e.row.cluster_only and e.side.direction == "in" and e.action == "allow":
            to_all = [a for a in allows if not a.row.cluster_only and not a.side.sources]
            opened = tuple(p for a in to_all if _same_traffic(a, e) for p in a.row.ports)
            e = replace(e, cluster_ports=subtract(e.row.ports, opened))
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


class Selection(Protocol):
    """What names a policy of a spec (an inventory device does)."""

    @property
    def profile(self) -> str | None: ...
    @property
    def enable(self) -> Sequence[str]: ...
    @property
    def disable(self) -> Sequence[str]: ...
    @property
    def firmware(self) -> str | None: ...
    @property
    def role(self) -> str | None: ...


def policy_named(spec: Spec, options: argparse.Namespace | Selection) -> EffectivePolicy:
    """The policy a `portspec` command (`show`, `capture-script`: its --profile, --enable, --disable,
    --firmware and --role) or an inventory device names."""
    return effective_policy(
        spec,
        profile=options.profile,
        enable=options.enable,
        disable=options.disable,
        firmware=options.firmware,
        role=options.role,
    )
