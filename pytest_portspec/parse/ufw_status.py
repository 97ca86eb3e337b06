"""`ufw status [verbose|numbered]`: the active flag, the default policies and the rules listed.

The line format is ufw 0.36's get_status (see `parse/ufw.py`); the rules are the fallback when
user.rules cannot be read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import netaddr

from pytest_portspec.parse.ufw_rules import (
    ACTIONS,
    ANY_V4,
    ANY_V6,
    LOGS,
    PORT_LIST,
    PROTOS,
    UfwDirection,
    UfwLog,
    UfwPolicy,
    UfwProto,
    UfwRule,
    parse_ports,
)
from pytest_portspec.spec.model import PortRange

_POLICIES: dict[str, UfwPolicy] = {
    "allow": "allow",
    "deny": "deny",
    "reject": "reject",
    "disabled": "disabled",
}
# ufw supports these too (util.supported_protocols); they never carry ports and this model cannot hold them
_OTHER_PROTOS = ("ipv6", "esp", "ah", "igmp", "gre", "vrrp")


_STATUS = re.compile(r"Status: (active|inactive)")
_DEFAULTS = re.compile(r"Default: (\w+) \(incoming\), (\w+) \(outgoing\), (\w+) \(routed\)")
_HEADER = re.compile(r"(?:\s*To\s+Action\s+From|\s*--\s+------\s+----)\s*")
_INFO = re.compile(r"(?:Logging|New profiles): .*")
_NUMBER = re.compile(r"\[\s*(\d+)\] ")
_ACTION_COLUMN = re.compile(r"\s(ALLOW|DENY|REJECT|LIMIT)(?: (IN|OUT|FWD))?(?:\s+|$)")
_ATTRIBS = re.compile(r"\s+\(((?:log|log-all)(?:, out)?|out)\)$")
_IFACE = re.compile(r" on (\S+)$")
_V6_MARK = " (v6)"
_APP = re.compile(r" \(([^()]+?)( \(v6\))?\)$")
_WITH_PROTO = re.compile(r"(.+)/(tcp|udp|" + "|".join(_OTHER_PROTOS) + ")")

_DIRECTION_WORDS: dict[str, UfwDirection] = {"IN": "in", "OUT": "out", "FWD": "fwd"}
INACTIVE_DEFAULTS: dict[str, UfwPolicy] = {"in": "disabled", "out": "disabled", "routed": "disabled"}


def _is_address(text: str) -> bool:
    try:
        netaddr.IPNetwork(text)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        return False
    return True


def _status_line(text: str) -> tuple[int, bool]:
    """(index of the `Status:` line, active); ValueError when the text is not ufw status output."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        found = _STATUS.fullmatch(line.strip())
        if not found:
            first = line.strip()[:80]
            raise ValueError(f"not ufw status output (first line {first!r}; run it as root, with LC_ALL=C)")
        return index, found.group(1) == "active"
    raise ValueError("not ufw status output: empty text")


def parse_status(text: str) -> tuple[bool, dict[str, UfwPolicy]]:
    """`ufw status verbose`: (active, {"in": ..., "out": ..., "routed": ...}); ValueError if not ufw output.

    Inactive: ufw prints no policies and applies none, so all three are "disabled" (ufw's own
    word for a direction it does not filter): never a deny. An active status without the
    `Default:` line (plain `ufw status` or `ufw status numbered`) raises ValueError, because
    the verdicts need the defaults.
    """
    index, active = _status_line(text)
    if not active:
        rest = [line for line in text.splitlines()[index + 1 :] if line.strip()]
        if rest:
            raise ValueError(f"unexpected text after 'Status: inactive': {rest[0].strip()[:80]!r}")
        return False, dict(INACTIVE_DEFAULTS)
    for line in text.splitlines():
        found = _DEFAULTS.fullmatch(line.strip())
        if found:
            values = found.groups()
            bad = [v for v in values if v not in _POLICIES]
            if bad:
                raise ValueError(f"unknown ufw default policy {bad[0]!r} in {line.strip()!r}")
            return True, {key: _POLICIES[v] for key, v in zip(("in", "out", "routed"), values, strict=True)}
    raise ValueError("ufw status has no 'Default:' line: the default policies need `ufw status verbose`")


@dataclass(frozen=True)
class _Side:
    addr: str | None  # None = Anywhere
    ports: tuple[PortRange, ...]
    proto: str | None
    v6_mark: bool
    iface: str | None
    app: str | None


def _parse_side(text: str) -> _Side:
    body, iface = text, None
    found = _IFACE.search(body)
    if found:
        body, iface = body[: found.start()], found.group(1)
    v6_mark = body.endswith(_V6_MARK)
    if v6_mark:
        body = body[: -len(_V6_MARK)]
    app = None
    found = _APP.search(body)
    if found:
        body, app = body[: found.start()], found.group(1)
        v6_mark = v6_mark or bool(found.group(2))
    tokens = body.split(" ")
    proto = None
    with_proto = _WITH_PROTO.fullmatch(tokens[-1])
    if with_proto:
        tokens[-1], proto = with_proto.group(1), with_proto.group(2)
    if tokens == ["Anywhere"]:
        return _Side(None, (), proto, v6_mark, iface, app)
    if len(tokens) == 1 and PORT_LIST.fullmatch(tokens[0]):
        return _Side(None, parse_ports(tokens[0]), proto, v6_mark, iface, app)
    if len(tokens) == 1 and _is_address(tokens[0]):
        return _Side(tokens[0], (), proto, v6_mark, iface, app)
    if len(tokens) == 2 and _is_address(tokens[0]) and PORT_LIST.fullmatch(tokens[1]):
        return _Side(tokens[0], parse_ports(tokens[1]), proto, v6_mark, iface, app)
    raise ValueError(
        f"cannot read {text!r}: an application profile name (its ports are in user.rules and "
        f"`ufw status verbose`) or an unknown form"
    )


def _parse_status_rule(line: str, position_hint: int) -> tuple[UfwRule, str | None]:
    """One status line -> (rule with position 0, the displayed number as text)."""
    shown = _strip_extras(line)
    action_at = _ACTION_COLUMN.search(shown.body)
    if not action_at:
        raise ValueError(f"not a ufw rule line: {line.strip()!r}")
    to_text, from_text = shown.body[: action_at.start()].strip(), shown.body[action_at.end() :].strip()
    if not to_text or not from_text:
        raise ValueError(f"not a ufw rule line: {line.strip()!r}")
    action = ACTIONS[action_at.group(1).lower()]
    direction = _DIRECTION_WORDS[action_at.group(2) or "IN"]
    if shown.out and direction == "in":
        raise ValueError(f"ufw rule line says IN and (out): {line.strip()!r}")
    dst, src = _parse_side(to_text), _parse_side(from_text)
    proto = _proto(dst, src, line)
    v6 = _is_v6(dst, src, line)
    anywhere = ANY_V6 if v6 else ANY_V4
    interface, route_out = _interfaces(direction, dst, src, line)
    rule = UfwRule(
        position=position_hint,
        action=action,
        direction=direction,
        proto=proto,
        dports=dst.ports,
        sports=src.ports,
        src=src.addr or anywhere,
        dst=dst.addr or anywhere,
        interface=interface,
        v6=v6,
        comment=shown.comment,
        text=line.rstrip(),
        log=shown.log,
        route_out_interface=route_out,
        dapp=dst.app,
        sapp=src.app,
    )
    return rule, shown.number


@dataclass(frozen=True)
class _Extras:
    """A status line without what surrounds the rule: `[ 3]`, ` # comment`, ` (log, out)`."""

    body: str
    number: str | None
    comment: str | None
    log: UfwLog | None
    out: bool  # "(out)": the rule of an outbound chain


def _strip_extras(line: str) -> _Extras:
    body, number = line.rstrip(), None
    found = _NUMBER.match(body)
    if found:
        number, body = found.group(1), body[found.end() :]
    comment = None
    if " # " in body:
        body, comment = body.split(" # ", 1)
    body = body.rstrip()
    log: UfwLog | None = None
    attribs = _ATTRIBS.search(body)
    shown_out = False
    if attribs:
        body = body[: attribs.start()]
        for word in attribs.group(1).split(", "):
            if word == "out":
                shown_out = True
            else:
                log = LOGS[word]
    return _Extras(body, number, comment, log, shown_out)


def _proto(dst: _Side, src: _Side, line: str) -> UfwProto:
    protos = {p for p in (dst.proto, src.proto) if p}
    if len(protos) > 1:
        raise ValueError(f"ufw rule line names two protocols: {line.strip()!r}")
    proto_text = protos.pop() if protos else "any"
    if proto_text not in PROTOS:
        raise ValueError(f"ufw rule for protocol {proto_text!r}, which ufw does not support")
    return PROTOS[proto_text]


def _is_v6(dst: _Side, src: _Side, line: str) -> bool:
    families = {netaddr.IPNetwork(a).version for a in (dst.addr, src.addr) if a}
    if len(families) > 1:
        raise ValueError(f"ufw rule line mixes IPv4 and IPv6 addresses: {line.strip()!r}")
    v6 = dst.v6_mark or src.v6_mark or families == {6}
    if v6 and families == {4}:
        raise ValueError(f"ufw rule line marked (v6) has an IPv4 address: {line.strip()!r}")
    return v6


def _interfaces(direction: UfwDirection, dst: _Side, src: _Side, line: str) -> tuple[str | None, str | None]:
    """(the rule's interface, a route rule's outgoing one): `on IFACE` of the To or From column."""
    if direction == "fwd":
        return src.iface, dst.iface
    if direction == "in":
        if src.iface:
            raise ValueError(f"inbound ufw rule with an outgoing interface: {line.strip()!r}")
        return dst.iface, None
    if dst.iface:
        raise ValueError(f"outbound ufw rule with an incoming interface: {line.strip()!r}")
    return src.iface, None


def parse_status_rules(text: str) -> list[UfwRule]:
    """Rules from `ufw status [verbose|numbered]` lines (fallback when user.rules is unreadable).

    Positions count the rules of each family in the order listed: ufw's evaluation order for a
    numbered listing, and for a plain or verbose one, where ufw lists inbound, outbound and route
    rules in blocks, an order that keeps each chain's own order. The numbers a numbered listing
    shows are not used (the vendor's example numbers one rule [26] between [15] and [17]).
    An inactive status lists no rules: [].
    """
    index, active = _status_line(text)
    if not active:
        parse_status(text)  # rejects anything after 'Status: inactive'
        return []
    rules: list[UfwRule] = []
    counts = {False: 0, True: 0}
    for line in text.splitlines()[index + 1 :]:
        stripped = line.strip()
        if not stripped or _HEADER.fullmatch(line) or _INFO.fullmatch(stripped):
            continue
        if _DEFAULTS.fullmatch(stripped):
            continue
        rule, _ = _parse_status_rule(line, 0)
        counts[rule.v6] += 1
        rules.append(_with_position(rule, counts[rule.v6]))
    return rules


def _with_position(rule: UfwRule, position: int) -> UfwRule:
    return replace(rule, position=position)
