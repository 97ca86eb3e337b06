"""The named sets and maps of an nft document -> NamedSet, with a SetDef where the model can hold
its elements (addresses, ports, protocols, or tuples of them) (pure)."""

from __future__ import annotations

from pytest_portspec.firewall import ruleset as ir
from pytest_portspec.firewall.nft_exprs import (
    SET_KINDS,
    Json,
    NamedSet,
    Unsupported,
    field_of,
    member,
    short,
    unwrap,
)
from pytest_portspec.firewall.values import ValueProblem

_SET_TYPES: dict[str, tuple[str, ir.Family | None]] = {
    "ipv4_addr": ("addr", 4), "ipv6_addr": ("addr", 6), "inet_service": ("port", None),
    "inet_proto": ("proto", None),
}  # fmt: skip


def named_set(obj: dict[str, Json], key: str, updated: bool) -> NamedSet:
    """A `set` or `map` object, its SetDef named `key`; `updated`: rules of the table add to it."""
    kinds, flags, elems = _type_dims(obj.get("type")), obj.get("flags", []), obj.get("elem", [])
    if not isinstance(elems, list):
        raise ValueProblem(f"its elements are {short(elems)}")
    dims = tuple(k for k, _ in kinds)
    families = {f for _, f in kinds if f is not None}
    dynamic = updated or "dynamic" in (flags if isinstance(flags, list) else [flags])
    items = tuple(e if obj.get("map") else unwrap(e) for e in elems)
    family = next(iter(families), None)
    readable = bool(dims) and set(dims) <= SET_KINDS and len(families) <= 1
    definition = _definition(key, dims, family, items, dynamic) if readable else None
    return NamedSet(str(obj.get("name")), dims if readable else None, family, items, dynamic, definition)


def _type_dims(kind: Json) -> list[tuple[str, ir.Family | None]]:
    if isinstance(kind, dict) and isinstance(kind.get("typeof"), dict):  # `typeof ip saddr . tcp dport`
        exprs = kind["typeof"].get("concat", [kind["typeof"]])
        return [(f.kind, f.family) if f else ("other", None) for f in map(field_of, exprs)]
    return [_SET_TYPES.get(str(n), ("other", None)) for n in (kind if isinstance(kind, list) else [kind])]


def _definition(key: str, dims: tuple[str, ...], family: ir.Family | None, elems: tuple[Json, ...],
                dynamic: bool) -> ir.SetDef:  # fmt: skip
    keys = [e[0] if isinstance(e, list) and len(e) == 2 else e for e in elems]  # a map's keys
    try:
        return ir.SetDef(key, dims, tuple(member(dims, k, family) for k in keys), dynamic=dynamic)
    except Unsupported:  # a catch-all `*`, or a value of another form
        return ir.SetDef(key, dims, (), complete=False, dynamic=dynamic)
