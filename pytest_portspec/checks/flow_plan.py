"""Node-to-node flows of a site: which pairs of inventory devices must talk on which ports (pure).

    plan_pairs(site, nodes) -> [Pair]

A flow comes from a `between` row (each direction it names), an outbound row of a role whose
destination is another role, or an inbound row of a role whose source is another role. For
every ordered pair of distinct nodes with those roles there is one Pair per port and
protocol; the rows of both sides that document it are kept with it for its citations.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pytest_portspec.checks.ports import fixed_ports
from pytest_portspec.spec.model import Proto
from pytest_portspec.spec.policy import EffectivePolicy, Expectation


@dataclass(frozen=True)
class Node:
    name: str  # the inventory's device name
    device: str  # the label of the device's own items
    address: str  # where its peers reach it (the inventory's address, else its host)
    policy: EffectivePolicy

    @property
    def role(self) -> str | None:
        return self.policy.role


@dataclass(frozen=True)
class Pair:
    site: str
    source: Node
    peer: Node
    proto: Proto
    port: int
    source_rows: tuple[Expectation, ...]  # the source's outbound side of the documented flow
    peer_rows: tuple[Expectation, ...]  # the peer's inbound side

    @property
    def group(self) -> str:
        """The items' collector: spec and site, e.g. voss@site-a."""
        return f"{self.source.policy.spec.name}@{self.site}"

    @property
    def key(self) -> str:
        return f"{self.source.name}->{self.peer.name}::{self.port}-{self.proto}"

    @property
    def probe_id(self) -> str:
        return f"pair|{self.peer.name}|{self.proto}|{self.port}"

    @property
    def rows(self) -> tuple[Expectation, ...]:
        return (*self.source_rows, *self.peer_rows)

    @property
    def applies(self) -> bool:
        return any(e.applies for e in self.rows)

    @property
    def listener_required(self) -> bool:
        return any(e.applies and e.listener == "required" for e in self.peer_rows)

    @property
    def services(self) -> str:
        return "; ".join(dict.fromkeys(e.row.service for e in self.rows))


def _side_rows(node: Node, direction: str, other_role: str | None) -> list[Expectation]:
    """A node's allow rows in one direction whose other end is the given role."""
    field = "destinations" if direction == "out" else "sources"
    return [
        e
        for e in node.policy.rows
        if e.side.direction == direction
        and e.side.role == node.role
        and e.action == "allow"
        and not e.row.manual
        and any(d.kind == "role" and d.value == other_role for d in getattr(e.side, field))
    ]


def _flow_rows(source: Node, peer: Node) -> tuple[list[Expectation], list[Expectation]]:
    """The source's outbound rows towards the peer's role, and the peer's inbound rows from the source's."""
    return _side_rows(source, "out", peer.role), _side_rows(peer, "in", source.role)


def same_cluster(clusters: Mapping[str, tuple[str, ...]]) -> Callable[[str, str], bool]:
    """Whether two nodes belong together: they share a cluster of the inventory, or neither is in
    any (an inventory without clusters is one cluster per spec)."""
    member = {
        name: {c for c, names in clusters.items() if name in names}
        for names in clusters.values()
        for name in names
    }

    def together(a: str, b: str) -> bool:
        return bool(member.get(a, set()) & member.get(b, set())) or (a not in member and b not in member)

    return together


def plan_pairs(
    site: str, nodes: list[Node], clusters: Mapping[str, tuple[str, ...]] | None = None
) -> list[Pair]:
    together = same_cluster(clusters or {})
    pairs: list[Pair] = []
    for source in nodes:
        for peer in nodes:
            if peer is source or peer.policy.spec.name != source.policy.spec.name or not peer.role:
                continue
            if not together(source.name, peer.name):
                continue
            out, inbound = _flow_rows(source, peer)
            by_port: dict[tuple[Proto, int], tuple[list[Expectation], list[Expectation]]] = {}
            for rows, side in ((out, 0), (inbound, 1)):
                for e in rows:
                    for port in fixed_ports(e.row.ports) if not e.row.configurable else []:
                        by_port.setdefault((e.side.proto, port), ([], []))[side].append(e)
            pairs += [
                Pair(site, source, peer, proto, port, tuple(src), tuple(dst))
                for (proto, port), (src, dst) in sorted(by_port.items(), key=lambda kv: (kv[0][1], kv[0][0]))
            ]
    return pairs
