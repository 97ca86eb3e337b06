"""What the kernel enforces on one device, from the rulesets the snapshot captured (pure).

    model = KernelModel.build(KernelSources(iptables=..., ip6tables=..., nft=..., ...))
    model.decided(4, "in", "tcp")    -> [Decided]   every new inbound TCP flow over IPv4, decided

Sources: `iptables-save` and `ip6tables-save` (every table the kernel has), `nft -j list
ruleset` where nft exists (tables iptables-nft made are read once, from iptables-save), and
`ipset save` for the members of sets rules match against. The device's interfaces, own
addresses and routes (from `ip`) make the space of flows the questions are about.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from pytest_portspec.firewall.evaluate import Decided, TooComplex, evaluate
from pytest_portspec.firewall.intervals import Intervals
from pytest_portspec.firewall.iptables import is_nf_tables, parse_save
from pytest_portspec.firewall.ruleset import Family, Ruleset
from pytest_portspec.firewall.space import L4, Direction, Space, make_space
from pytest_portspec.firewall.values import address_span

XTABLES = ("filter", "nat", "mangle", "raw", "security")
_V4: Family = 4
_V6: Family = 6


@dataclass(frozen=True)
class Route:
    network: str  # "0.0.0.0/0", "198.18.1.0/24", "fe80::/64"
    device: str | None  # None: unreachable/blackhole/prohibit (no reply leaves)


@dataclass(frozen=True)
class KernelSources:
    """The raw texts, as captured; None where a source was not captured or not available."""

    iptables: str | None = None
    ip6tables: str | None = None
    iptables_legacy: str | None = None  # iptables-legacy's tables beside iptables-nft's
    ip6tables_legacy: str | None = None
    nft: str | None = None
    ipset: str | None = None
    interfaces: tuple[str, ...] | None = None
    addresses: tuple[str, ...] | None = None
    routes: tuple[Route, ...] | None = None
    missing: tuple[str, ...] = ()  # why a source is absent: "ip6tables-save: command not found"


@dataclass
class KernelModel:
    rulesets: dict[Family, Ruleset]
    sources: KernelSources
    unavailable: dict[Family, str] = field(default_factory=dict)  # family -> why it cannot be judged
    notes: list[str] = field(default_factory=list)
    _cache: dict[tuple[Family, str, str, bool], list[Decided] | str] = field(default_factory=dict)
    _spaces: dict[tuple[Family, str, str, bool], Space] = field(default_factory=dict)

    @classmethod
    def build(cls, sources: KernelSources) -> KernelModel:
        """Raises RulesetError for a ruleset text with a line the readers cannot read."""
        rulesets: dict[Family, Ruleset] = {}
        unavailable: dict[Family, str] = {}
        notes: list[str] = []
        saves: tuple[tuple[Family, str | None, str | None, str], ...] = (
            (_V4, sources.iptables, sources.iptables_legacy, "iptables"),
            (_V6, sources.ip6tables, sources.ip6tables_legacy, "ip6tables"),
        )
        for family, text, legacy, tool in saves:
            if text is None:
                why = next(
                    (m for m in sources.missing if m.startswith(tool)), f"{tool}-save was not captured"
                )
                unavailable[family] = why
                continue
            rulesets[family] = parse_save(text, family, f"{tool}-save")
            if legacy:
                extra = parse_save(legacy, family, f"{tool}-legacy-save", prefix="legacy ")
                rulesets[family] = rulesets[family].merged(extra)
        if sources.nft is not None:
            _add_nft(rulesets, sources)
        elif any(t is not None and is_nf_tables(t) for t in (sources.iptables, sources.ip6tables)):
            notes.append(
                "nft is not installed on the device: tables made natively in nftables (not through "
                "iptables) could not be listed"
            )
        if sources.ipset is not None:
            _add_ipsets(rulesets, sources.ipset)
        return cls(rulesets, sources, unavailable, notes)

    def has_family(self, family: Family) -> bool:
        """Whether a remote can reach the device in this family: it has an address of it beyond
        loopback (link-local counts: a neighbour reaches it). Unknown addresses: yes."""
        if self.sources.addresses is None:
            return True
        return any(
            (":" in a) == (family == 6) and a not in ("::1",) and not a.startswith("127.")
            for a in self.sources.addresses
        )

    def space(self, family: Family, direction: Direction, proto: L4, loopback: bool = False) -> Space:
        key = (family, direction, proto, loopback)
        if key not in self._spaces:
            self._spaces[key] = self._space(family, direction, proto, loopback)
        return self._spaces[key]

    def _space(self, family: Family, direction: Direction, proto: L4, loopback: bool) -> Space:
        space = make_space(
            family,
            direction,
            proto,
            self.sources.interfaces or (),
            self.sources.addresses,
            loopback=loopback,
        )
        return space if loopback else with_routes(space, self.sources.routes)

    def decided(
        self, family: Family, direction: Direction, proto: L4, loopback: bool = False
    ) -> list[Decided] | str:
        """Every flow of the space decided, or why the family cannot be judged (a sentence)."""
        key = (family, direction, proto, loopback)
        if key not in self._cache:
            self._cache[key] = self._evaluate(family, direction, proto, loopback)
        return self._cache[key]

    def _evaluate(
        self, family: Family, direction: Direction, proto: L4, loopback: bool
    ) -> list[Decided] | str:
        if family in self.unavailable:
            return self.unavailable[family]
        try:
            return evaluate(self.rulesets[family], self.space(family, direction, proto, loopback))
        except TooComplex as exc:
            return f"the IPv{family} ruleset cannot be evaluated: {exc}"

    def route_region(self, family: Family, addresses: Intervals) -> list[tuple[Intervals, str | None]]:
        """`addresses` split by the interface the device routes them through (see route_region)."""
        return route_region(self.sources.routes, family, addresses)


def route_region(
    routes: tuple[Route, ...] | None, family: Family, addresses: Intervals
) -> list[tuple[Intervals, str | None]]:
    """`addresses` split by the interface the device routes them through (most specific route
    first; addresses no route covers, or only an unreachable one, are left out). Routes not
    known: all of them, interface None (every interface)."""
    if routes is None:
        return [(addresses, None)]
    left, found = addresses, []
    mine = [r for r in routes if (":" in r.network) == (family == 6)]
    for route in sorted(mine, key=lambda r: -int(r.network.rpartition("/")[2] or 0)):
        covered = left & Intervals.of(address_span(route.network, family))
        if covered:
            found.append((covered, route.device))
            left = left - covered
    return [(values, device) for values, device in found if device is not None]


def with_routes(space: Space, routes: tuple[Route, ...] | None) -> Space:
    """The space with its remote addresses' routes (for reverse-path filters)."""
    if routes is None:
        return space
    found = tuple(
        (addresses, space.interfaces.index(device) if device in space.interfaces else None)
        for addresses, device in route_region(routes, space.family, space.remote)
    )
    return replace(space, routes=found)


def parse_routes(text: str, family: Family) -> tuple[Route, ...]:
    """`ip -o route show` (or `ip -6 -o route show`) lines -> the main table's routes."""
    found: list[Route] = []
    for line in text.splitlines():
        words = line.split()
        if not words:
            continue
        kind = words[0] if words[0] in _NO_DEVICE else None
        target = words[1] if kind and len(words) > 1 else words[0]
        if target == "default":
            target = "0.0.0.0/0" if family == 4 else "::/0"
        elif "/" not in target:
            target += "/32" if family == 4 else "/128"
        try:
            address_span(target, family)
        except ValueError:
            continue  # a route type this reader does not know ('local', 'broadcast' lines of other tables)
        device = words[words.index("dev") + 1] if "dev" in words[:-1] and kind is None else None
        found.append(Route(target, device))
    return tuple(found)


_NO_DEVICE = ("unreachable", "blackhole", "prohibit", "throw")


def _add_nft(rulesets: dict[Family, Ruleset], sources: KernelSources) -> None:
    from pytest_portspec.firewall.nftables import parse_json

    assert sources.nft is not None
    skip: set[tuple[str, str]] = set()
    for family, text, nft_family in ((4, sources.iptables, "ip"), (6, sources.ip6tables, "ip6")):
        if text is not None and is_nf_tables(text):
            own = rulesets[family]  # type: ignore[index]
            skip |= {(nft_family, table) for table, _ in own.chains if table in XTABLES}
    for family, ruleset in parse_json(sources.nft, skip).items():
        rulesets[family] = rulesets[family].merged(ruleset) if family in rulesets else ruleset


def _add_ipsets(rulesets: dict[Family, Ruleset], text: str) -> None:
    from pytest_portspec.firewall.ipset import parse_ipset_save

    for family, sets in parse_ipset_save(text).items():
        if family in rulesets:
            old = rulesets[family]
            rulesets[family] = Ruleset(
                old.family, old.chains, {**sets, **old.sets}, old.sources, old.problems
            )


def sources_from_texts(texts: dict[str, str | None]) -> KernelSources:
    """KernelSources from the snapshot's kernel sections (`snapshot.kernel_texts`); a section that
    could not be read is None, with its reason under 'NAME!'."""
    missing = tuple(
        f"{k[:-1]}-save: {v}" if "tables" in k else f"{k[:-1]}: {v}"
        for k, v in texts.items()
        if k.endswith("!") and v
    )
    links, addresses = texts.get("links"), texts.get("addresses")
    routes = [
        parse_routes(text, family)
        for text, family in ((texts.get("routes"), _V4), (texts.get("routes6"), _V6))
        if text is not None
    ]
    return KernelSources(
        iptables=texts.get("iptables"),
        ip6tables=texts.get("ip6tables"),
        iptables_legacy=texts.get("iptables-legacy") or None,
        ip6tables_legacy=texts.get("ip6tables-legacy") or None,
        nft=texts.get("nft") or None,
        ipset=texts.get("ipset") or None,
        interfaces=parse_links(links) if links else None,
        addresses=parse_addresses(addresses) if addresses else None,
        routes=tuple(r for found in routes for r in found) if routes else None,
        missing=missing,
    )


def parse_links(text: str) -> tuple[str, ...]:
    """`ip -o link show` -> interface names ('2: eth0@if5: <...>' -> 'eth0')."""
    names = []
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) >= 2 and parts[0].strip().isdigit():
            names.append(parts[1].strip().split("@", 1)[0])
    return tuple(names)


def parse_addresses(text: str) -> tuple[str, ...]:
    """`ip -o addr show` -> the device's own addresses (loopback included)."""
    found = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) > 3 and fields[2] in ("inet", "inet6"):
            found.append(fields[3].split("/", 1)[0])
    return tuple(found)
