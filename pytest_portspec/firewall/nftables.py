"""`nft -j list ruleset` (JSON schema version 1) -> a Ruleset per family (pure).

    parse_json(text, skip) -> {4: Ruleset, 6: Ruleset}

ip tables go to IPv4, ip6 to IPv6, inet and netdev to both (an inet table is read once per family).
Chains and rules are labelled "FAMILY TABLE" ("inet firewalld"), apart from iptables' "filter".
Matches become conditions (`nft_exprs.py`), statements a target; a verdict map becomes one rule
per element, in order. What the model cannot read is Unknown (a match) or an undecided target (a
statement); a document unlike what nft prints raises RulesetError naming table, chain and handle.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace

from pytest_portspec.errors import RulesetError
from pytest_portspec.firewall import nft_exprs as nx
from pytest_portspec.firewall import ruleset as ir
from pytest_portspec.firewall.nft_render import render
from pytest_portspec.firewall.nft_sets import named_set
from pytest_portspec.firewall.nft_statements import Statements
from pytest_portspec.firewall.values import ValueProblem

Json = nx.Json
SOURCE = "nft -j list ruleset"
_FAMILIES: dict[str, tuple[ir.Family, ...]] = {"ip": (4,), "ip6": (6,), "inet": (4, 6), "netdev": (4, 6)}
# bridge tables filter frames crossing a bridge, arp tables ARP: neither is on the path of the IP
# flows to and from the device that the model follows, so they are left out on purpose
_NOT_IP = ("bridge", "arp")
_PRIORITIES = {"raw": -300, "mangle": -150, "dstnat": -100, "filter": 0, "security": 50, "srcnat": 100}
_HOOKS = ("ingress", "prerouting", "input", "forward", "output", "postrouting", "egress")
_OBJECTS = ("table", "chain", "rule", "set", "map", "limit")  # others (counters, quotas, ...) decide nothing


def parse_json(text: str, skip: set[tuple[str, str]]) -> dict[ir.Family, ir.Ruleset]:
    """`skip`: (nft family, table) pairs to leave out (tables iptables-nft made: iptables-save has them)."""
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise RulesetError(SOURCE, "", f"not JSON ({exc})") from None
    items = document.get("nftables") if isinstance(document, dict) else None
    if not isinstance(items, list):
        raise RulesetError(SOURCE, "", 'expected {"nftables": [...]} at the top')
    reader = _Reader(skip)
    for index, item in enumerate(items):
        reader.add(index, item)
    return {f: reader.ruleset(f) for f in (4, 6) if any(f in _FAMILIES[t[0]] for t in reader.tables)}


def _fail(where: str, message: str) -> RulesetError:
    return RulesetError(SOURCE, where, message)


class _Reader:
    def __init__(self, skip: set[tuple[str, str]]) -> None:
        self.skip, self.left_out, self.doubtful = skip, set[tuple[str, str]](), set[str]()
        self.tables: dict[tuple[str, str], dict[str, dict[str, Json]]] = {}  # sets, maps, limits by name
        self.chains: dict[tuple[str, str], dict[str, Json]] = {}  # (table label, name) -> chain
        self.rules: dict[tuple[str, str], list[dict[str, Json]]] = {}

    def add(self, index: int, item: Json) -> None:
        try:
            kind, obj = nx.single(item)
            family, table = (
                (obj["family"], obj["name" if kind == "table" else "table"]) if kind in _OBJECTS else ("", "")
            )
        except (ValueProblem, TypeError, KeyError):
            raise _fail(f"item {index}", f"not an object as nft prints them: {nx.short(item)}") from None
        version = obj.get("json_schema_version", 1) if isinstance(obj, dict) else None
        if kind == "metainfo" and version != 1:
            raise _fail("metainfo", f"JSON schema version {version}; this reader knows 1")
        if kind == "table":
            self._table(str(family), str(table), obj)
        elif family and (family, table) not in self.left_out:
            if (family, table) not in self.tables:
                raise _fail(f"item {index}", f"a {kind} of table {family} {table}, not listed before it")
            self._object(kind, f"{family} {table}", obj)

    def _table(self, family: str, name: str, obj: dict[str, Json]) -> None:
        if family not in _FAMILIES and family not in _NOT_IP:
            raise _fail(f"table {family} {name}", f"unknown family {family!r}")
        flags = obj.get("flags", [])
        flags = [flags] if isinstance(flags, str) else flags
        # a dormant table hooks nothing; bridge/arp tables are not on the IP path (see _NOT_IP)
        if family in _NOT_IP or (family, name) in self.skip or "dormant" in flags:
            self.left_out.add((family, name))
        else:
            self.tables[(family, name)] = {"set": {}, "map": {}, "limit": {}}
        if not set(flags) <= {"owner", "persist"}:  # nft 1.0.6 prints a single flag from freed memory
            self.doubtful.add(f"{family} {name}")

    def _object(self, kind: str, label: str, obj: dict[str, Json]) -> None:
        name = obj.get("chain" if kind == "rule" else "name")
        if not isinstance(name, str):
            raise _fail(f"table {label}", f"a {kind} without a name: {nx.short(obj)}")
        if kind == "chain":
            self.chains[(label, name)], self.rules[(label, name)] = obj, []
        elif kind == "rule" and (label, name) in self.rules:
            self.rules[(label, name)].append(obj)
        elif kind == "rule":
            where = f"table {label}, chain {name}, handle {obj.get('handle')}"
            raise _fail(where, "a rule of a chain that is not listed before it")
        else:
            family, _, table = label.partition(" ")
            self.tables[(family, table)][kind][name] = obj

    def ruleset(self, family: ir.Family) -> ir.Ruleset:
        chains: dict[tuple[str, str], ir.Chain] = {}
        sets: dict[str, ir.SetDef] = {}
        for (fam, table), objects in self.tables.items():
            label = f"{fam} {table}"
            if family not in _FAMILIES[fam]:
                continue
            named = self._named(label, objects)
            for (chain_table, name), obj in self.chains.items():
                if chain_table == label:
                    scope = nx.Scope(family, label, named)
                    chains[(label, name)] = self._chain(obj, scope, objects["limit"])
                    sets.update(scope.anonymous)
            held = [
                f.definition for f in named.values() if f.family in (None, family)
            ]  # IPv4 sets: not in IPv6
            sets.update({d.name: d for d in held if d is not None})
        return ir.Ruleset(family, chains, sets, sources=(SOURCE,))

    def _named(self, label: str, objects: dict[str, dict[str, Json]]) -> dict[str, nx.NamedSet]:
        updated = _updated_sets([r for (t, _), found in self.rules.items() if t == label for r in found])
        named = {}
        for name, obj in {**objects["set"], **objects["map"]}.items():
            try:
                named[name] = named_set(obj, f"{label} @{name}", name in updated)
            except ValueProblem as exc:
                raise _fail(f"table {label}, set {name}", str(exc)) from None
        return named

    def _chain(self, obj: dict[str, Json], scope: nx.Scope, limits: dict[str, Json]) -> ir.Chain:
        name, where = str(obj["name"]), f"table {scope.table}, chain {obj['name']}"
        rules = self.rules[(scope.table, name)]
        read = [r for n, rule in enumerate(rules, 1) for r in self._rule(rule, n, scope, limits, where)]
        hook, policy = obj.get("hook"), obj.get("policy", "accept")
        place = f"nft chain handle {obj.get('handle')}"
        if hook is None:
            return ir.Chain(scope.table, name, tuple(read), where=place)
        if hook not in _HOOKS or policy not in ("accept", "drop"):
            raise _fail(where, f"unknown hook {hook!r} or policy {policy!r}")
        doubt = f"the flags of table {scope.table} (may be dormant)" if scope.table in self.doubtful else ""
        read = _restricted(read, obj, scope.table, policy, doubt)
        priority, kind = _priority(obj.get("prio", 0), where), str(obj.get("type", "filter"))
        return ir.Chain(scope.table, name, tuple(read), hook, priority, policy, kind, place)

    def _rule(self, obj: Json, number: int, scope: nx.Scope, limits: Json, at: str) -> list[ir.Rule]:
        handle, exprs, chain = obj.get("handle"), obj.get("expr"), str(obj.get("chain"))
        where = f"{at}, handle {handle}"
        if not isinstance(exprs, list):
            raise _fail(where, f"a rule without an expression list: {nx.short(obj)}")
        comment = f' comment "{obj["comment"]}"' if obj.get("comment") else ""
        text, scope.place = " ".join(render(e) for e in exprs) + comment, f"{chain} handle {handle}"
        try:
            built = Statements(scope, limits).read(exprs)
        except ValueProblem as exc:
            raise _fail(where, f"{exc}: {text[:120]}") from None
        missing = [t.chain for _, t, _ in built if t.chain and (scope.table, t.chain) not in self.chains]
        if missing:
            raise _fail(where, f"goes to chain {missing[0]}, which the table does not have")
        return [
            ir.Rule(scope.table, chain, number, conds, target, text + (f"  [element {e}]" if e else ""),
                    f"nft handle {handle}" + (f", vmap element {e}" if e else ""))
            for conds, target, e in built
        ]  # fmt: skip


def _priority(value: Json, where: str) -> int:
    """An integer, or a named priority as nft writes them ('filter', 'dstnat + 10')."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    found = re.fullmatch(r"\s*([a-z]+)\s*(?:([+-])\s*(\d+))?\s*", str(value))
    if found is None or found[1] not in _PRIORITIES:
        raise _fail(where, f"cannot read the chain priority {value!r}")
    return _PRIORITIES[found[1]] + int(found[3] or 0) * (-1 if found[2] == "-" else 1)


def _restricted(rules: list[ir.Rule], obj: Json, table: str, policy: str, doubt: str) -> list[ir.Rule]:
    """An ingress/egress chain sees only its devices' packets: others skip it. Where that cannot be
    told (nft 1.0.6 does not list the devices; a table that may be dormant), each rule and a drop
    policy hold only under an Unknown condition: undecided, but only where the chain decides."""
    devices, hook = obj.get("dev"), obj.get("hook")
    names = (devices,) if isinstance(devices, str) else tuple(map(str, devices or ()))
    if names:
        side = ir.Iface("in" if hook == "ingress" else "out", names, negate=True)
        rules = [_skip(table, obj, 0, side, f"(packets not on {', '.join(names)} skip the chain)"), *rules]
    no_devices = hook in ("ingress", "egress") and not names
    why = "; ".join(w for w in (doubt, _NO_DEVICES if no_devices else "") if w)
    if not why:
        return rules
    unknown = ir.Unknown(why)
    bound = [replace(r, conds=(*r.conds, unknown)) for r in rules]
    return bound + ([_skip(table, obj, len(rules) + 1, unknown, f"({why})")] if policy == "drop" else [])


def _skip(table: str, obj: Json, number: int, cond: ir.Cond, text: str) -> ir.Rule:
    return ir.Rule(
        table, str(obj["name"]), number, (cond,), ir.Target("accept", detail=text), text, "nft chain"
    )


_NO_DEVICES = "the devices of an ingress/egress chain (nft -j does not list them)"


def _updated_sets(rules: list[Json]) -> set[str]:
    """Sets rules add to (`add @s { ip saddr }`, `update @s`, meters): members change with traffic."""
    found = set()
    for expr in (e for r in rules for e in r.get("expr") or [] if isinstance(e, dict)):
        stmt = expr.get("set") or expr.get("map") or expr.get("meter")
        name = (
            (stmt.get("set") or stmt.get("map") or f"@{stmt.get('name')}") if isinstance(stmt, dict) else ""
        )
        found |= {name[1:]} if isinstance(name, str) and name.startswith("@") else set()
    return found
