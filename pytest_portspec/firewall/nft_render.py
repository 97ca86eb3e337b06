"""An nft JSON expression as `nft list ruleset` prints it, near enough: the rule text shown to
auditors as evidence (pure)."""

from __future__ import annotations

import json
import re

from pytest_portspec.firewall import nft_exprs as nx

Json = nx.Json


def render(expr: Json) -> str:
    """An expression as `nft list ruleset` prints it, near enough (counters without their counts)."""
    if not isinstance(expr, dict) or len(expr) != 1:
        if isinstance(expr, list):  # flags: `ct state established,related`
            return ",".join(map(render, expr))
        return ("exists" if expr else "missing") if isinstance(expr, bool) else nx.short(expr).strip('"')
    key, value = next(iter(expr.items()))
    d = value if isinstance(value, dict) else {}
    if key == "match":
        op = "" if d.get("op") in ("==", "in") else f" {d.get('op')}"
        return f"{render(d.get('left'))}{op} {render(d.get('right'))}"
    if isinstance(value, list) and key in ("set", "range", "concat", "&", "|", "^", "<<", ">>"):
        parts = [
            " : ".join(map(render, v)) if isinstance(v, list) and len(v) == 2 else render(v) for v in value
        ]
        joiner = {"set": ", ", "range": "-", "concat": " . "}.get(key, f" {key} ")
        return "{ " + joiner.join(parts) + " }" if key == "set" else joiner.join(parts)
    if key == "meta" and d.get("key") in ("iifname", "oifname", "iif", "oif"):
        return str(d["key"])
    if key == "payload" and "protocol" not in d:  # a raw payload expression
        return f"@{d.get('base')},{d.get('offset')},{d.get('len')}"
    words = _Words({k: " . ".join(v) if k == "flags" and key == "fib" else render(v) for k, v in d.items()})
    words.update(over="over " if d.get("inv") else "", unit=f" {d['rate_unit']}" if "rate_unit" in d else "")
    words.update(burst=f" burst {d['burst']} packets" if "burst" in d else "")
    if key in _FORMS and (d or value is None):
        return re.sub(r"(\s+with|\s+to|\s*:)+$", "", " ".join(_FORMS[key].format_map(words).split()))
    if not d:
        return key if value is None else f"{key} {render(value)}"
    shown = ((k, json.dumps(v) if isinstance(v, str) else render(v)) for k, v in d.items())
    return " ".join([key, *(f"{k} {v}" for k, v in shown if k not in ("packets", "bytes"))])


class _Words(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


_FORMS = {
    "payload": "{protocol} {field}", "meta": "meta {key}", "ct": "ct {dir} {key}", "elem": "{val}",
    "fib": "fib {flags} {result}", "prefix": "{addr}/{len}", "jump": "jump {target}", "goto": "goto {target}",
    "vmap": "{key} vmap {data}", "map": "{key} map {data}", "mangle": "{key} set {value}",
    "set": "{op} {set} {{ {elem} {stmt} }}", "meter": "meter {name} {{ {key} {stmt} }}",
    "ct count": "ct count {over}{val}",
    "limit": "limit rate {over}{rate}{unit}/{per}{burst}", "quota": "quota {over}{val} {val_unit}",
    "reject": "reject with {type} {expr}", "dnat": "dnat {family} to {addr}:{port}",
    "snat": "snat {family} to {addr}:{port}", "redirect": "redirect to :{port}", "xt": 'xt {type} "{name}"',
}  # fmt: skip
