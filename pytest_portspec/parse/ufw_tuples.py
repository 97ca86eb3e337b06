"""The `### tuple ###` lines of /etc/ufw/user.rules and user6.rules (format: see `parse/ufw.py`)."""

from __future__ import annotations

import binascii
import re

import netaddr

from pytest_portspec.parse.ufw_rules import (
    ACTIONS,
    ANY_V4,
    ANY_V6,
    LOGS,
    PROTOS,
    UfwDirection,
    UfwRule,
    parse_ports,
)

_TUPLE = re.compile(r"^### tuple ###\s*")


def parse_user_rules(text: str, v6: bool) -> list[UfwRule]:
    """The `### tuple ###` lines of user.rules / user6.rules, in file order.

    ufw itself skips a malformed tuple with a warning (and iptables-restore still loads the
    `-A` lines under it); here it raises ValueError, as do tuples this model cannot represent.
    """
    rules: list[UfwRule] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not _TUPLE.match(raw):
            continue
        try:
            rules.append(_parse_tuple(raw, v6, len(rules) + 1))
        except ValueError as exc:
            name = "user6.rules" if v6 else "user.rules"
            raise ValueError(f"{name} line {number}: {exc}") from None
    return rules


def _parse_tuple(raw: str, v6: bool, position: int) -> UfwRule:
    line, comment = raw, None
    if " comment=" in raw:
        line, _, hex_text = raw.partition(" comment=")
        comment = decode_comment(hex_text.strip())
    fields = re.split(r"\s+", _TUPLE.sub("", line).strip())
    if not 6 <= len(fields) <= 9:
        raise ValueError(f"malformed ufw tuple (bad length {len(fields)}): {raw.strip()!r}")
    where, interface_in, interface_out = _tuple_where(fields)
    forward, name, log_text = _tuple_action(fields[0])
    proto_text = fields[1]
    if proto_text not in PROTOS:
        raise ValueError(f"ufw rule for protocol {proto_text!r}, which ufw does not support")
    ufw_direction = where.split("_")[0]
    if not forward:
        _check_interfaces(where, ufw_direction, interface_in, interface_out)
    dapp = sapp = None
    if len(fields) >= 8:
        dapp = None if fields[6] == "-" else fields[6].replace("%20", " ")
        sapp = None if fields[7] == "-" else fields[7].replace("%20", " ")
    direction: UfwDirection = "fwd" if forward else ("out" if ufw_direction == "out" else "in")
    return UfwRule(
        position=position,
        action=ACTIONS[name],
        direction=direction,
        proto=PROTOS[proto_text],
        dports=parse_ports(fields[2]),
        sports=parse_ports(fields[4]),
        src=_tuple_address(fields[5], v6, "source"),
        dst=_tuple_address(fields[3], v6, "destination"),
        interface=interface_in if (forward or direction == "in") else interface_out,
        v6=v6,
        comment=comment,
        text=raw.rstrip(),
        log=LOGS[log_text] if log_text else None,
        route_out_interface=interface_out if forward else None,
        dapp=dapp,
        sapp=sapp,
    )


def _tuple_where(fields: list[str]) -> tuple[str, str | None, str | None]:
    """(direction field, incoming interface, outgoing interface): 'in', 'out_eth0', 'in_eth0!out_eth1'."""
    where = "in"
    interface_in = interface_out = None
    if len(fields) in (7, 9):
        where = fields[-1]
        if "!" in where:
            parts = where.split("!")
            if len(parts) != 2 or not parts[0].startswith("in_") or not parts[1].startswith("out_"):
                raise ValueError(f"malformed ufw tuple interfaces {where!r}")
            interface_in, interface_out = parts[0][3:], parts[1][4:]
        elif where.startswith("in_"):
            interface_in = where[3:]
        elif where.startswith("out_"):
            interface_out = where[4:]
        elif where not in ("in", "out"):
            raise ValueError(f"malformed ufw tuple direction {where!r}")
        if interface_in == "" or interface_out == "":
            raise ValueError(f"malformed ufw tuple interfaces {where!r}")
    return where, interface_in, interface_out


def _tuple_action(text: str) -> tuple[bool, str, str]:
    """(a route rule, the action, the log type or ""): 'allow', 'route:deny_log-all'."""
    forward = text.startswith("route:")
    name, _, log_text = text.removeprefix("route:").partition("_")
    if name not in ACTIONS:
        raise ValueError(f"unknown ufw action {text!r}")
    if log_text and log_text not in LOGS:
        raise ValueError(f"unknown ufw log type {log_text!r}")
    return forward, name, log_text


def _check_interfaces(
    where: str, ufw_direction: str, interface_in: str | None, interface_out: str | None
) -> None:
    """A rule that is not a route rule has one interface, on its own direction's side."""
    if interface_in and interface_out:
        raise ValueError(f"non-route ufw rule with two interfaces {where!r}")
    if (ufw_direction == "in" and interface_out) or (ufw_direction == "out" and interface_in):
        raise ValueError(f"ufw tuple interface does not match its direction: {where!r}")


def _tuple_address(text: str, v6: bool, what: str) -> str:
    """As ufw's UFWRule._fix_anywhere: 'any' and either family's anywhere are this family's anywhere."""
    if text in ("any", ANY_V4, ANY_V6):
        return ANY_V6 if v6 else ANY_V4
    _check_address(text, v6, what)
    if netaddr.IPNetwork(text).prefixlen == 0:
        return ANY_V6 if v6 else ANY_V4
    return text


def _check_address(text: str, v6: bool, what: str) -> str:
    try:
        network = netaddr.IPNetwork(text)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        raise ValueError(f"bad ufw {what} address {text!r}") from None
    if (network.version == 6) != v6:
        family = "IPv6" if v6 else "IPv4"
        raise ValueError(f"ufw {what} address {text!r} is not {family}, as its rule is")
    return text


def decode_comment(hex_text: str) -> str:
    """ufw's comment=HEX, decoded as ufw's util.hex_decode does (odd length: last digit dropped)."""
    digits = hex_text[:-1] if len(hex_text) % 2 else hex_text
    try:
        return binascii.unhexlify(digits).decode("utf-8", "backslashreplace")
    except binascii.Error:
        raise ValueError(f"bad ufw comment {hex_text!r}: not hexadecimal") from None
