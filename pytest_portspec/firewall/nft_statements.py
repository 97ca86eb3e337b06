"""The statements of an nft rule, left to right: matches add conditions, a statement gives the
target; a verdict map becomes one rule per element (pure)."""

from __future__ import annotations

from dataclasses import replace

from pytest_portspec.firewall import nft_exprs as nx
from pytest_portspec.firewall import ruleset as ir
from pytest_portspec.firewall.iptables import read_options
from pytest_portspec.firewall.nft_render import render
from pytest_portspec.firewall.values import ValueProblem

Json = nx.Json
# statements after which the packet goes on: only its accounting, logging or helpers change
_SIDE_EFFECTS = {
    "counter", "log", "dup", "ct helper", "ct timeout", "ct expectation", "secmark", "last", "flow",
}  # fmt: skip
# verdicts; source NAT ends the nat chain and the packet goes on; queue, notrack, ...: decided elsewhere
_TARGETS: dict[str, ir.TargetKind] = {
    "accept": "accept", "drop": "drop", "return": "return", "continue": "continue", "jump": "jump",
    "goto": "goto", "reject": "reject", "dnat": "forward", "redirect": "forward", "snat": "accept",
    "masquerade": "accept", "queue": "undecided", "notrack": "undecided", "tproxy": "undecided",
    "synproxy": "undecided", "fwd": "undecided",
}  # fmt: skip
_VERDICTS = ("accept", "drop", "return", "continue", "jump", "goto")
_XT_PROTOS = {"icmp": "icmp", "icmp6": "ipv6-icmp", "esp": "esp", "ah": "ah", "rt": "", "frag": ""}
Built = tuple[tuple[ir.Cond, ...], ir.Target, str]  # conditions, target, verdict-map element or ""


class Statements:
    """A rule's expressions, left to right: matches add conditions, statements give the target."""

    def __init__(self, scope: nx.Scope, limits: dict[str, Json]) -> None:
        self.scope, self.limits, self.conds, self.sets_mark = scope, limits, list[ir.Cond](), False

    def read(self, exprs: list[Json]) -> list[Built]:
        for expr in exprs:
            key, value = nx.single(expr)
            if key == "vmap":
                return self.vmap(value)
            target = self.statement(key, value, expr)
            if target is not None:
                return [(tuple(self.conds), self.marked(target), "")]
        return [(tuple(self.conds), self.marked(ir.Target("continue", detail="no verdict")), "")]

    def marked(self, target: ir.Target) -> ir.Target:
        return replace(target, sets_mark=target.sets_mark or self.sets_mark)

    def statement(self, key: str, value: Json, expr: Json) -> ir.Target | None:
        d = value if isinstance(value, dict) else {}
        if key == "match":
            if not {"op", "left", "right"} <= d.keys():
                raise ValueProblem(f"a match without op, left and right: {nx.short(expr)}")
            self.conds += nx.key_conds(d["left"], d["op"], d["right"], self.scope)
        elif key in _TARGETS:
            if key == "reject":
                self.conds += _reject_family(d, self.scope.table)
            if key in ("dnat", "snat") and d.get("family") in ("ip", "ip6"):
                # `dnat ip to` in an inet table: the kernel NATs that family only (nft_nat_inet_eval)
                self.conds.append(ir.NfProto(4 if d["family"] == "ip" else 6))
            return _verdict(expr) if key in _VERDICTS else ir.Target(_TARGETS[key], detail=render(expr))
        elif key == "xt" and d.get("type") == "target":
            return read_options(["-j", str(d.get("name"))], self.scope.family, set())[1]
        elif key == "xt":  # iptables-nft's compat match: the JSON names the extension, not its options
            self.conds += _xt_match(str(d.get("name")))
        elif key in ("limit", "ct count"):
            self.conds.append(self.rate(key, value))
        elif key in ("meter", "set", "map") and d:  # a dynamic set's statements: `limit rate over ...`
            inner = d.get("stmt") or []
            for stmt in [inner] if isinstance(inner, dict) else inner:
                self.statement(*nx.single(stmt), stmt)
        elif key == "mangle":
            return self.mangle(nx.single(d.get("key")), expr)
        elif key not in _SIDE_EFFECTS:  # a quota, or a statement this model does not know
            self.conds.append(ir.Unknown(nx.short(expr)))
            return None if key == "quota" else ir.Target("undecided", detail=f"unknown statement {key}")
        return None

    def rate(self, key: str, value: Json) -> ir.Cond:
        if key == "limit" and isinstance(value, str):  # `limit name "lim"`: a named limit object
            if value not in self.limits:
                raise ValueProblem(f"limit {value} is not in table {self.scope.table}")
            value = self.limits[value]
        if not isinstance(value, dict) or "map" in value:
            return ir.Unknown(nx.short({key: value}))
        return ir.Rate("connlimit" if key == "ct count" else "limit", at_low_rate=not value.get("inv", False))

    def mangle(self, key: tuple[str, Json], expr: Json) -> ir.Target | None:
        what = key[1] if isinstance(key[1], dict) else {}
        if key[0] in ("meta", "ct") and what.get("key") == "mark":
            self.sets_mark = True
        elif key[0] == "payload" and what.get("field") in ("saddr", "daddr", "sport", "dport"):
            return ir.Target("undecided", detail=f"rewrites the packet: {render(expr)}")  # stateless NAT
        return None

    def vmap(self, value: Json) -> list[Built]:
        """`KEY vmap { k1 : v1, ... }`: one rule per element, in order (a catch-all `*` last)."""
        key, data = (value.get("key"), value.get("data")) if isinstance(value, dict) else (None, None)
        found = self.scope.sets.get(data[1:]) if isinstance(data, str) and data.startswith("@") else None
        pairs = list(found.elems) if found else data.get("set") if isinstance(data, dict) else None
        if not isinstance(pairs, list) or not all(isinstance(p, list) and len(p) == 2 for p in pairs):
            raise ValueProblem(f"a verdict map without [key, verdict] elements: {nx.short(value)}")
        if found is not None and found.dynamic:
            changing = ir.Unknown(f"verdict map {data} (rules change its elements)")
            return [((*self.conds, changing), self.marked(ir.Target("undecided", detail=str(data))), "")]
        built: list[Built] = []
        for element, verdict in sorted(pairs, key=lambda p: nx.unwrap(p[0]) == "*"):
            item = nx.unwrap(element)
            conds = self.conds + ([] if item == "*" else nx.key_conds(key, "==", item, self.scope))
            label = f"{render(item)} : {render(verdict)}"
            built.append((tuple(conds), self.marked(_verdict(verdict)), label))
        return built


def _reject_family(reject: dict[str, Json], table: str) -> list[ir.Cond]:
    """A reject's type says which family the rule is for: nft adds `meta nfproto` for `with icmp`
    (IPv4) and `with icmpv6` (IPv6) and hides it in the listing. Before `with tcp reset` in an inet
    or netdev table it hides an explicit `meta nfproto` too (nft 1.0.6): which family the rule is
    for cannot be told from the JSON, so that is undecided."""
    kind = reject.get("type")
    if kind == "icmp":
        return [ir.NfProto(4)]
    if kind == "icmpv6":
        return [ir.NfProto(6)]
    if kind == "tcp reset" and table.split(" ", 1)[0] in ("inet", "netdev"):
        return [ir.Unknown("reject with tcp reset in an inet table: nft's listing may hide a meta nfproto")]
    return []


def _verdict(expr: Json) -> ir.Target:
    key, value = nx.single(expr)
    chain = value.get("target") if isinstance(value, dict) else None
    if key in _VERDICTS and (isinstance(chain, str) if key in ("jump", "goto") else value is None):
        return ir.Target(_TARGETS[key], chain)
    raise ValueProblem(f"expected a verdict, found {nx.short(expr)}")


def _xt_match(name: str) -> list[ir.Cond]:
    what = f'xt match "{name}" (nft -j does not show its options)'
    if name == "comment":
        return []
    if name in _XT_PROTOS:  # only packets of that protocol (rt, frag: a header no new flow has)
        return [ir.OnlyProto(frozenset({_XT_PROTOS[name]} - {""}), what)]
    return [ir.Unknown(what)]
