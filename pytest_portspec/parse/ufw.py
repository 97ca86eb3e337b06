"""ufw's own state as a semantic model (pure: text in, data out).

Sources, best first:
- `/etc/ufw/user.rules` and `user6.rules`: the exact `### tuple ###` lines ufw writes
  (action proto dport dst sport src direction[_iface] [comment=HEX]);
- `ufw status verbose` for active/inactive, logging and the default policies, and as a
  fallback rule source (also `ufw status numbered`, e.g. the vendor's own example).

The formats follow ufw 0.36 (`backend.py` `_read_rules`, `backend_iptables.py` `_write_rules`
and `get_status`, `common.py` `UFWRule`):

- tuple: `ACTION PROTO DPORT DST SPORT SRC [DAPP SAPP] [DIRECTION | DIRECTION_IFACE | in_IF!out_IF]`
  where ACTION is `allow|deny|reject|limit`, optionally `_log`/`_log-all`, and `route:` for
  route (forwarding) rules; 6 and 8 fields are ufw's old formats without a direction ("in");
  DAPP/SAPP are application profile names (`-` = none, `%20` = space) whose ports ufw has
  already resolved into DPORT/SPORT;
- status line: `%-26s %-12s%-26s%s%s` % (To, "ACTION DIR", From, " (log|log-all|out)", " # comment"),
  To = the destination side (address, port/proto, `(v6)`, `on IF` = incoming interface),
  From = the source side (`on IF` = outgoing interface), both reversed for route rules.

Anything else (other protocols such as esp/gre, application names without ports in a
non-verbose status, unknown actions, malformed tuples) raises ValueError: a rule this model
cannot represent exactly must not be silently left out of a firewall verdict.

This module puts the sources together (`ufw_state`) and re-exports the pieces: the model, its
fields and the display in `ufw_rules`, the status parser in `ufw_status`, the user.rules
parser in `ufw_tuples`.
"""

from __future__ import annotations

import re
from typing import Literal

from pytest_portspec.parse.ufw_rules import (
    ANY_V4,
    ANY_V6,
    UfwAction,
    UfwDirection,
    UfwLog,
    UfwPolicy,
    UfwProto,
    UfwRule,
    UfwState,
    display_order,
    format_ports,
    parse_ports,
)
from pytest_portspec.parse.ufw_status import INACTIVE_DEFAULTS, parse_status, parse_status_rules
from pytest_portspec.parse.ufw_tuples import decode_comment, parse_user_rules

__all__ = [
    "ANY_V4",
    "ANY_V6",
    "INACTIVE_DEFAULTS",
    "UfwAction",
    "UfwDirection",
    "UfwLog",
    "UfwPolicy",
    "UfwProto",
    "UfwRule",
    "UfwState",
    "decode_comment",
    "display_order",
    "format_ports",
    "parse_ports",
    "parse_status",
    "parse_status_rules",
    "parse_user_rules",
    "ufw_state",
]


def _parse_ipv6_setting(default_ufw: str) -> bool:
    value = None
    for line in default_ufw.splitlines():
        found = re.fullmatch(r"\s*IPV6\s*=\s*[\"']?(\w*)[\"']?\s*(?:#.*)?", line)
        if found:
            value = found.group(1)
    if value is None:
        raise ValueError("/etc/default/ufw has no IPV6= setting")
    return value in ("yes", "YES")


def ufw_state(
    status_verbose: str,
    user_rules: str | None,
    user6_rules: str | None,
    default_ufw: str | None = None,
) -> UfwState:
    """Everything together: rules from user.rules when given, else from the status text.

    `ipv6` (does ufw filter IPv6?): the `IPV6=` of /etc/default/ufw when `default_ufw` is given;
    otherwise whether the status lists IPv6 rules — ufw lists user6.rules only when IPV6=yes,
    and every rule added without an address gets a (v6) twin. An active ufw with IPV6=no has
    its init script set ip6tables to drop everything but loopback.

    When both sources are given and ufw is active, the rules of user.rules must be exactly the
    ones the status lists (ufw prints its status from these files), else ValueError: the files
    changed between the two reads or this parser misread one of them.
    """
    active, defaults = parse_status(status_verbose)
    listed = parse_status_rules(status_verbose)
    if default_ufw is not None:
        ipv6 = _parse_ipv6_setting(default_ufw)
    elif active:
        ipv6 = any(r.v6 for r in listed)
    else:
        ipv6 = user6_rules is not None and bool(parse_user_rules(user6_rules, True))
    source: Literal["user.rules", "status"]
    if user_rules is not None:
        rules = parse_user_rules(user_rules, False)
        if user6_rules is not None:
            rules += parse_user_rules(user6_rules, True)
        elif ipv6 and active:
            raise ValueError("ufw manages IPv6 but user6.rules was not given")
        source = "user.rules"
        if active:
            _check_same_rules(listed, [r for r in rules if ipv6 or not r.v6])
    else:
        rules, source = listed, "status"
    rules = sorted(rules, key=lambda r: r.v6)
    return UfwState(
        active=active,
        default_in=defaults["in"],
        default_out=defaults["out"],
        default_routed=defaults["routed"],
        rules=tuple(rules),
        ipv6=ipv6,
        source=source,
    )


def _check_same_rules(listed: list[UfwRule], from_files: list[UfwRule]) -> None:
    shown = [r.describe() for r in listed]
    expected = [r.describe() for r in display_order(from_files)]
    if shown == expected:
        return
    for index, (a, b) in enumerate(zip(shown, expected, strict=False)):
        if a != b:
            raise ValueError(
                f"ufw status and user.rules disagree at listed rule {index + 1}: status {a!r}, files {b!r}"
            )
    raise ValueError(f"ufw status lists {len(shown)} rules but user.rules/user6.rules hold {len(expected)}")
