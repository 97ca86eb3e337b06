"""The questions the checks ask the kernel model, answered over whole sets of flows (pure).

    closed(model, "in", "tcp", ports)                 can any remote open these ports?
    open_to(model, "in", "tcp", ports, {4: sources})  can every required remote open every one?
    opened(model, "in", "tcp", outside=documented)    which flows does the kernel let in at all?

An answer is "yes", "no", "undecided" (it depends on a rule the model cannot read: the answer
quotes it) or "unavailable" (a family's ruleset was not captured). Evidence names the flows
and the rules that decided them: "502/tcp from 10.0.0.0/8 via filter ufw-user-input rule 7 `...`".

Which flows a question covers:
- closed: every remote address, every source port, every interface, both families the device
  has (link-local included). Any accept or forward of a new flow, even only under load, is a
  way in. Rules that do not carry TCP/UDP (esp, icmp) never match these flows.
- open_to: the required remotes over the interface the device routes each of them through
  (a reply must leave that way), source ports 1024-65535 (what clients use), to each of the
  device's own addresses of that family (IPv6: its global ones). Judged on the branch a quiet
  source meets; a rate limit that rejects under load is a note.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from pytest_portspec.firewall.evaluate import Decided, clip
from pytest_portspec.firewall.intervals import Intervals
from pytest_portspec.firewall.model import KernelModel
from pytest_portspec.firewall.ruleset import Family
from pytest_portspec.firewall.space import DPORT, IFACE, L4, SPORT, Box, Direction, Space, with_dim
from pytest_portspec.firewall.values import address_span, format_addresses, format_ports

Status = Literal["yes", "no", "undecided", "unavailable"]
CLIENT_PORTS = Intervals.of((1024, 65535))
LINK_LOCAL = {4: "169.254.0.0/16", 6: "fe80::/10"}
OPEN = ("accept", "forward")
MAX_EVIDENCE = 6
FAMILIES: tuple[Family, ...] = (4, 6)


@dataclass(frozen=True)
class Answer:
    status: Status
    why: str  # one sentence for the observed line
    evidence: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    parts: tuple[tuple[Family, Decided], ...] = field(default=(), repr=False)  # the flows behind it


def families(model: KernelModel) -> list[Family]:
    return [f for f in FAMILIES if model.has_family(f)]


def closed(
    model: KernelModel,
    direction: Direction,
    proto: L4,
    ports: Intervals,
    *,
    local: str | None = None,
    family_only: Family | None = None,
) -> Answer:
    """Whether no remote can open a new flow on `ports` (the destination port, either direction);
    `local`: only flows to (from) that one address of the device (a socket bound to it)."""
    open_parts: list[tuple[Family, Decided]] = []
    unsure: list[tuple[Family, Decided]] = []
    for family in families(model):
        if family_only is not None and family != family_only:
            continue
        decided = model.decided(family, direction, proto)
        if isinstance(decided, str):
            return Answer("unavailable", decided)
        space = model.space(family, direction, proto)
        query = with_dim(space.all(), DPORT, ports)
        if local is not None:
            query = with_dim(query, space.local_dim(), Intervals.of(address_span(local, family)))
        for part in clip(decided, query):
            if part.outcome in OPEN and part.definite:
                open_parts.append((family, part))
            elif part.outcome in OPEN or part.outcome == "undecided":
                unsure.append((family, part))
    if open_parts:
        lines = describe(model, direction, proto, open_parts)
        return Answer(
            "no", f"the kernel lets in {lines[0]}", tuple(lines[:MAX_EVIDENCE]), parts=tuple(open_parts)
        )
    if unsure:
        return _undecided(model, direction, proto, unsure)
    judged = " and ".join(f"IPv{f}" for f in families(model) if family_only in (None, f))
    where = "from any address" if direction == "in" else "to any address"
    return Answer(
        "yes",
        f"no new {direction}bound flow gets through on {format_ports(ports)}/{proto} ({where}, any source "
        f"port or interface, {judged})",
    )


def open_to(
    model: KernelModel,
    direction: Direction,
    proto: L4,
    ports: Intervals,
    remotes: Mapping[Family, Intervals] | None = None,
) -> Answer:
    """Whether every remote of `remotes` (per family; None: every address) can open every port."""
    refused: list[tuple[Family, Decided]] = []
    unsure: list[tuple[Family, Decided]] = []
    accepted: list[tuple[Family, Decided]] = []
    load: list[tuple[Family, Decided]] = []
    for family in _required_families(model, remotes):
        decided = model.decided(family, direction, proto)
        if isinstance(decided, str):
            return Answer("unavailable", decided)
        space = model.space(family, direction, proto)
        wanted = remotes[family] if remotes is not None else space.remote
        for query in required_boxes(model, space, ports, wanted):
            for part in clip(decided, query):
                if not part.nominal:
                    load += [(family, part)] if part.outcome not in OPEN and part.definite else []
                elif (not part.definite and part.outcome != "accept") or part.outcome == "undecided":
                    unsure.append((family, part))
                elif part.outcome != "accept":
                    refused.append((family, part))
                else:
                    accepted.append((family, part))
    notes = tuple(f"under load: {line}" for line in describe(model, direction, proto, load)[:2])
    if refused:
        lines = describe(model, direction, proto, refused)
        return Answer(
            "no", f"the kernel refuses {lines[0]}", tuple(lines[:MAX_EVIDENCE]), notes, tuple(refused)
        )
    if unsure:
        return _undecided(model, direction, proto, unsure)
    if not accepted:
        return Answer("undecided", "the device has no route to any of the remotes asked about")
    lines = describe(model, direction, proto, accepted)
    return Answer(
        "yes",
        f"the kernel lets in {lines[0]}" if direction == "in" else f"the kernel lets out {lines[0]}",
        tuple(lines[:MAX_EVIDENCE]),
        notes,
        tuple(accepted),
    )


def opened(
    model: KernelModel, direction: Direction, proto: L4, outside: Intervals | None = None
) -> tuple[list[tuple[Family, Decided]], list[tuple[Family, Decided]], str | None]:
    """(flows the kernel lets through for sure, flows it may let through, why unavailable) on the
    ports not in `outside`, from every remote, in every family the device has."""
    sure: list[tuple[Family, Decided]] = []
    unsure: list[tuple[Family, Decided]] = []
    for family in families(model):
        decided = model.decided(family, direction, proto)
        if isinstance(decided, str):
            return [], [], decided
        space = model.space(family, direction, proto)
        ports = space.dim_universe(DPORT) - (outside or Intervals())
        for part in clip(decided, with_dim(space.all(), DPORT, ports)):
            if part.outcome in OPEN and part.definite:
                sure.append((family, part))
            elif part.outcome in OPEN or part.outcome == "undecided":
                unsure.append((family, part))
    return sure, unsure, None


def required_boxes(model: KernelModel, space: Space, ports: Intervals, remotes: Intervals) -> list[Box]:
    """The flows a required remote makes: over the interface the device routes it through."""
    local = space.local
    if space.family == 6 and space.local_known:  # link-local addresses are not how a site reaches it
        local = local - Intervals.of(address_span(LINK_LOCAL[6], 6))
    base = with_dim(with_dim(space.all(), DPORT, ports), SPORT, CLIENT_PORTS)
    base = with_dim(base, space.local_dim(), local) if local else base
    boxes = []
    for addresses, device in model.route_region(space.family, remotes & space.remote):
        box = with_dim(base, space.remote_dim(), addresses)
        if device is not None and space.interfaces_known:
            chosen = space.iface_indexes([device])
            if not chosen:
                continue
            box = with_dim(box, IFACE, chosen)
        boxes.append(box)
    return boxes


def _required_families(model: KernelModel, remotes: Mapping[Family, Intervals] | None) -> list[Family]:
    if remotes is not None:
        return [f for f in families(model) if remotes.get(f)]
    found: list[Family] = [4] if model.has_family(4) else []
    addresses = model.sources.addresses
    if model.has_family(6) and (addresses is None or any(_global6(a) for a in addresses)):
        found.append(6)  # a device reached over IPv6 only where it has an address beyond link-local
    return found


def _global6(address: str) -> bool:
    return ":" in address and not address.lower().startswith("fe80") and address != "::1"


def undecided(
    model: KernelModel, direction: Direction, proto: L4, unsure: list[tuple[Family, Decided]]
) -> Answer:
    """The answer where `unsure` flows decide it: the rules the model cannot read, quoted."""
    return _undecided(model, direction, proto, unsure)


def _undecided(
    model: KernelModel, direction: Direction, proto: L4, unsure: list[tuple[Family, Decided]]
) -> Answer:
    reasons: list[str] = []
    for _, part in unsure:
        reasons += [a.describe() for a in part.assumptions if a.kind == "unknown"]
        if part.outcome == "undecided":
            reasons.append(f"cannot decide: {part.decider()} (the kernel's verdict is made elsewhere)")
    reasons = list(dict.fromkeys(reasons))
    lines = describe(model, direction, proto, unsure)
    return Answer(
        "undecided",
        reasons[0] if reasons else "cannot decide",
        tuple((reasons + lines)[:MAX_EVIDENCE]),
        parts=tuple(unsure),
    )


def describe(
    model: KernelModel, direction: Direction, proto: L4, parts: list[tuple[Family, Decided]]
) -> list[str]:
    """One line per deciding rule: '502/tcp from 10.0.0.0/8 via filter ufw-user-input rule 7 `...`'."""
    groups: dict[tuple[Family, str, str], list[Box]] = {}
    for family, part in parts:
        extra = "; ".join(a.describe() for a in part.assumptions)
        key = (family, f"{part.outcome}: {part.decider()}", extra)
        groups.setdefault(key, []).append(part.box)
    lines = []
    for (family, decider, extra), boxes in groups.items():
        space = model.space(family, direction, proto)
        lines.append(
            _flows(space, boxes)
            + f" ({decider.split(': ', 1)[0]} via {decider.split(': ', 1)[1]})"
            + (f" [{extra}]" if extra else "")
        )
    return lines


def _flows(space: Space, boxes: list[Box]) -> str:
    def union(dim: int) -> Intervals:
        found = Intervals()
        for box in boxes:
            found = found | box[dim]
        return found

    remote = union(space.remote_dim())
    text = f"{format_ports(union(DPORT))}/{space.proto}"
    word = "from" if space.direction == "in" else "to"
    text += f" {word} {describe_addresses(space, remote)}"
    sports = union(SPORT)
    if sports != space.dim_universe(SPORT):
        text += f" (source ports {format_ports(sports)})"
    ifaces = union(IFACE)
    if ifaces != space.dim_universe(IFACE):
        names = [n for i, n in enumerate(space.interfaces) if i in ifaces]
        text += f" on {', '.join(names)}"
    return text + ("" if space.family == 4 else " (IPv6)")


def describe_addresses(space: Space, addresses: Intervals) -> str:
    universe = space.remote
    if addresses == universe:
        return "any address"
    left = universe - addresses
    if left.size() < addresses.size() and len(left.spans) <= 3:
        return f"any address except {format_addresses(left, space.family)}"
    return format_addresses(addresses, space.family)
