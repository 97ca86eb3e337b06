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
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass, replace
from typing import Literal

import netaddr

from pytest_portspec.spec.model import PortRange

UfwAction = Literal["allow", "deny", "reject", "limit"]
UfwDirection = Literal["in", "out", "fwd"]
UfwPolicy = Literal["allow", "deny", "reject", "disabled"]
UfwProto = Literal["tcp", "udp", "any"]
UfwLog = Literal["log", "log-all"]

ANY_V4 = "0.0.0.0/0"
ANY_V6 = "::/0"

_ACTIONS: dict[str, UfwAction] = {"allow": "allow", "deny": "deny", "reject": "reject", "limit": "limit"}
_PROTOS: dict[str, UfwProto] = {"tcp": "tcp", "udp": "udp", "any": "any"}
_POLICIES: dict[str, UfwPolicy] = {
    "allow": "allow",
    "deny": "deny",
    "reject": "reject",
    "disabled": "disabled",
}
_LOGS: dict[str, UfwLog] = {"log": "log", "log-all": "log-all"}
# ufw supports these too (util.supported_protocols); they never carry ports and this model cannot hold them
_OTHER_PROTOS = ("ipv6", "esp", "ah", "igmp", "gre", "vrrp")


@dataclass(frozen=True)
class UfwRule:
    """One user rule, in the order ufw evaluates it (first match wins).

    `src`/`dst` are the packet's source and destination as the rule writes them: for an `in`
    rule `src` is the remote side and `dst` the device; for an `out` rule `src` is the device
    and `dst` the remote side. `interface` is the interface of the rule's direction (`in on
    eth0` for in rules, `out on eth1` for out rules); for route (`fwd`) rules it is the
    incoming interface and `route_out_interface` the outgoing one.
    """

    position: int  # 1-based order among the rules of its family (v4 or v6), as ufw evaluates them
    action: UfwAction
    direction: UfwDirection
    proto: Literal["tcp", "udp", "any"]
    dports: tuple[PortRange, ...]  # () = any port
    sports: tuple[PortRange, ...]  # () = any port
    src: str  # address or CIDR as ufw writes it; "0.0.0.0/0" or "::/0" = anywhere
    dst: str
    interface: str | None  # "in on eth0" / "out on eth1"
    v6: bool
    comment: str | None
    text: str  # the line it was read from: evidence for the report
    log: UfwLog | None = None  # `ufw allow log ...` / `log-all`: logging only, no effect on the verdict
    route_out_interface: str | None = None  # route rules only: `route ... out on eth1`
    dapp: str | None = None  # application profile of the destination side (ports already resolved)
    sapp: str | None = None  # application profile of the source side

    def describe(self) -> str:
        """Like `ufw status verbose` prints it, single-spaced: '22/tcp on eth0 ALLOW IN 198.18.1.1'."""
        to, source = _location(self, "dst", verbose=True), _location(self, "src", verbose=True)
        text = f"{to} {self.action.upper()} {_dir_word(self)} {source}{_attribs(self, numbered=False)}"
        return text + (f" # {self.comment}" if self.comment is not None else "")

    def status_line(self, number: int | None = None, verbose: bool = True) -> str:
        """The exact line `ufw status [verbose]` (or with `number`, `ufw status numbered`) prints
        for this rule, padding and trailing spaces included."""
        numbered = number is not None
        to, source = _location(self, "dst", verbose), _location(self, "src", verbose)
        direction = _dir_word(self)
        if self.direction == "in" and not verbose and not numbered:
            direction = ""
        action = " ".join([self.action.upper(), direction])
        prefix = f"[{number:2d}] " if numbered else ""
        comment = f" # {self.comment}" if self.comment is not None else ""
        return f"{prefix}{to:<26} {action:<12}{source:<26}{_attribs(self, numbered)}{comment}"

    @property
    def anywhere_src(self) -> bool:
        return self.src in (ANY_V4, ANY_V6)

    @property
    def anywhere_dst(self) -> bool:
        return self.dst in (ANY_V4, ANY_V6)


@dataclass(frozen=True)
class UfwState:
    """ufw as one device runs it.

    `active` False (`Status: inactive`): ufw filters nothing; the three defaults are then
    "disabled" (ufw applies no policy at all — never read it as deny) and callers must treat
    the inactive firewall itself as the finding. `rules` still holds what user.rules says
    (the rules ufw would load when enabled), or nothing when they came from the status text.
    """

    active: bool
    default_in: UfwPolicy
    default_out: UfwPolicy
    default_routed: UfwPolicy
    rules: tuple[UfwRule, ...]  # v4 rules then v6 rules, each family in evaluation order
    ipv6: bool  # ufw filters IPv6: IPV6=yes in /etc/default/ufw when given, else (v6) rules listed
    source: Literal["user.rules", "status"]  # where the rules came from

    def family(self, v6: bool) -> tuple[UfwRule, ...]:
        """The rules of one family, in evaluation order."""
        return tuple(r for r in self.rules if r.v6 == v6)


# ---------------------------------------------------------------------------------------------
# ports, addresses, comments


_PORT_LIST = re.compile(r"\d+(?::\d+)?(?:,\d+(?::\d+)?)*")


def parse_ports(text: str) -> tuple[PortRange, ...]:
    """ufw's port field: 'any' -> (), '22', '1:100', '47808:47823,49152:65535'; ValueError otherwise."""
    if text == "any":
        return ()
    if not _PORT_LIST.fullmatch(text):
        raise ValueError(f"bad ufw port list {text!r}")
    ranges = []
    for part in text.split(","):
        lo, _, hi = part.partition(":")
        r = PortRange(int(lo), int(hi or lo))
        if not 1 <= r.lo <= r.hi <= 65535:
            raise ValueError(f"bad ufw port list {text!r}: {part} is not a port or range of 1-65535")
        ranges.append(r)
    return tuple(ranges)


def format_ports(ports: tuple[PortRange, ...]) -> str:
    """The inverse of parse_ports, as ufw writes it: '47808:47823,49152:65535' or 'any'."""
    if not ports:
        return "any"
    return ",".join(str(p.lo) if p.lo == p.hi else f"{p.lo}:{p.hi}" for p in ports)


def _check_address(text: str, v6: bool, what: str) -> str:
    try:
        network = netaddr.IPNetwork(text)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        raise ValueError(f"bad ufw {what} address {text!r}") from None
    if (network.version == 6) != v6:
        family = "IPv6" if v6 else "IPv4"
        raise ValueError(f"ufw {what} address {text!r} is not {family}, as its rule is")
    return text


def _is_address(text: str) -> bool:
    try:
        netaddr.IPNetwork(text)
    except (netaddr.AddrFormatError, ValueError, TypeError):
        return False
    return True


def decode_comment(hex_text: str) -> str:
    """ufw's comment=HEX, decoded as ufw's util.hex_decode does (odd length: last digit dropped)."""
    digits = hex_text[:-1] if len(hex_text) % 2 else hex_text
    try:
        return binascii.unhexlify(digits).decode("utf-8", "backslashreplace")
    except binascii.Error:
        raise ValueError(f"bad ufw comment {hex_text!r}: not hexadecimal") from None


# ---------------------------------------------------------------------------------------------
# display (ufw's get_status, reproduced)


def _dir_word(rule: UfwRule) -> str:
    return "FWD" if rule.direction == "fwd" else rule.direction.upper()


def _ufw_direction(rule: UfwRule) -> str:
    """ufw's own `direction` of the rule: route rules keep in/out ('out' only for `route ... out on X`)."""
    if rule.direction != "fwd":
        return rule.direction
    return "out" if rule.interface is None and rule.route_out_interface is not None else "in"


def _attribs(rule: UfwRule, numbered: bool) -> str:
    attribs: list[str] = [rule.log] if rule.log else []
    if numbered and _ufw_direction(rule) == "out":
        attribs.append("out")
    return f" ({', '.join(attribs)})" if attribs else ""


def _location(rule: UfwRule, loc: Literal["dst", "src"], verbose: bool) -> str:
    """ufw's backend_iptables.get_status, one side of one rule."""
    any_addr = (ANY_V4, ANY_V6)
    addr = rule.dst if loc == "dst" else rule.src
    app = rule.dapp if loc == "dst" else rule.sapp
    show_proto = verbose or not (rule.dapp or rule.sapp)
    dport, sport = format_ports(rule.dports), format_ports(rule.sports)
    if not verbose and app:
        port = app + (" (v6)" if rule.v6 and addr == ANY_V6 else "")
    else:
        port = dport if loc == "dst" else sport
    text = "" if addr in any_addr else addr
    if port != "any":
        text = port if not text else f"{text} {port}"
        if show_proto and rule.proto != "any":
            text += "/" + rule.proto
        if verbose and app:
            text += f" ({app}" + (" (v6)" if rule.v6 and addr == ANY_V6 else "") + ")"
    if port == "any":
        if addr in any_addr:
            text = "Anywhere"
            if show_proto and rule.proto != "any" and rule.dst == rule.src and dport == sport:
                text += "/" + rule.proto
            if addr == ANY_V6:
                text += " (v6)"
        elif show_proto and rule.proto != "any" and dport == sport:
            text += "/" + rule.proto
    elif rule.v6 and rule.src == ANY_V6 and rule.dst == ANY_V6 and " (v6)" not in text:
        text += " (v6)"
    if rule.direction == "fwd":
        iface = rule.interface if loc == "src" else rule.route_out_interface
    elif loc == "dst":
        iface = rule.interface if rule.direction == "in" else None
    else:
        iface = rule.interface if rule.direction == "out" else None
    if iface:
        text += f" on {iface}"
    return text


# ---------------------------------------------------------------------------------------------
# ufw status


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
    if len(tokens) == 1 and _PORT_LIST.fullmatch(tokens[0]):
        return _Side(None, parse_ports(tokens[0]), proto, v6_mark, iface, app)
    if len(tokens) == 1 and _is_address(tokens[0]):
        return _Side(tokens[0], (), proto, v6_mark, iface, app)
    if len(tokens) == 2 and _is_address(tokens[0]) and _PORT_LIST.fullmatch(tokens[1]):
        return _Side(tokens[0], parse_ports(tokens[1]), proto, v6_mark, iface, app)
    raise ValueError(
        f"cannot read {text!r}: an application profile name (its ports are in user.rules and "
        f"`ufw status verbose`) or an unknown form"
    )


def _parse_status_rule(line: str, position_hint: int) -> tuple[UfwRule, str | None]:
    """One status line -> (rule with position 0, the displayed number as text)."""
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
                log = _LOGS[word]
    action_at = _ACTION_COLUMN.search(body)
    if not action_at:
        raise ValueError(f"not a ufw rule line: {line.strip()!r}")
    to_text, from_text = body[: action_at.start()].strip(), body[action_at.end() :].strip()
    if not to_text or not from_text:
        raise ValueError(f"not a ufw rule line: {line.strip()!r}")
    action = _ACTIONS[action_at.group(1).lower()]
    word = action_at.group(2) or "IN"
    direction = _DIRECTION_WORDS[word]
    if shown_out and direction == "in":
        raise ValueError(f"ufw rule line says IN and (out): {line.strip()!r}")
    dst, src = _parse_side(to_text), _parse_side(from_text)
    protos = {p for p in (dst.proto, src.proto) if p}
    if len(protos) > 1:
        raise ValueError(f"ufw rule line names two protocols: {line.strip()!r}")
    proto_text = protos.pop() if protos else "any"
    if proto_text not in _PROTOS:
        raise ValueError(f"ufw rule for protocol {proto_text!r}: this model handles tcp, udp and any only")
    families = {netaddr.IPNetwork(a).version for a in (dst.addr, src.addr) if a}
    if len(families) > 1:
        raise ValueError(f"ufw rule line mixes IPv4 and IPv6 addresses: {line.strip()!r}")
    v6 = dst.v6_mark or src.v6_mark or families == {6}
    if v6 and families == {4}:
        raise ValueError(f"ufw rule line marked (v6) has an IPv4 address: {line.strip()!r}")
    anywhere = ANY_V6 if v6 else ANY_V4
    if direction == "fwd":
        interface, route_out = src.iface, dst.iface
    elif direction == "in":
        if src.iface:
            raise ValueError(f"inbound ufw rule with an outgoing interface: {line.strip()!r}")
        interface, route_out = dst.iface, None
    else:
        if dst.iface:
            raise ValueError(f"outbound ufw rule with an incoming interface: {line.strip()!r}")
        interface, route_out = src.iface, None
    rule = UfwRule(
        position=position_hint,
        action=action,
        direction=direction,
        proto=_PROTOS[proto_text],
        dports=dst.ports,
        sports=src.ports,
        src=src.addr or anywhere,
        dst=dst.addr or anywhere,
        interface=interface,
        v6=v6,
        comment=comment,
        text=line.rstrip(),
        log=log,
        route_out_interface=route_out,
        dapp=dst.app,
        sapp=src.app,
    )
    return rule, number


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


# ---------------------------------------------------------------------------------------------
# user.rules / user6.rules


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
    action_text = fields[0]
    forward = action_text.startswith("route:")
    if forward:
        action_text = action_text[len("route:") :]
    name, _, log_text = action_text.partition("_")
    if name not in _ACTIONS:
        raise ValueError(f"unknown ufw action {fields[0]!r}")
    if log_text and log_text not in _LOGS:
        raise ValueError(f"unknown ufw log type {log_text!r}")
    proto_text = fields[1]
    if proto_text not in _PROTOS:
        raise ValueError(f"ufw rule for protocol {proto_text!r}: this model handles tcp, udp and any only")
    ufw_direction = where.split("_")[0]
    if not forward and interface_in and interface_out:
        raise ValueError(f"non-route ufw rule with two interfaces {where!r}")
    if not forward and (
        (ufw_direction == "in" and interface_out) or (ufw_direction == "out" and interface_in)
    ):
        raise ValueError(f"ufw tuple interface does not match its direction: {where!r}")
    dapp = sapp = None
    if len(fields) >= 8:
        dapp = None if fields[6] == "-" else fields[6].replace("%20", " ")
        sapp = None if fields[7] == "-" else fields[7].replace("%20", " ")
    direction: UfwDirection = "fwd" if forward else ("out" if ufw_direction == "out" else "in")
    return UfwRule(
        position=position,
        action=_ACTIONS[name],
        direction=direction,
        proto=_PROTOS[proto_text],
        dports=parse_ports(fields[2]),
        sports=parse_ports(fields[4]),
        src=_tuple_address(fields[5], v6, "source"),
        dst=_tuple_address(fields[3], v6, "destination"),
        interface=interface_in if (forward or direction == "in") else interface_out,
        v6=v6,
        comment=comment,
        text=raw.rstrip(),
        log=_LOGS[log_text] if log_text else None,
        route_out_interface=interface_out if forward else None,
        dapp=dapp,
        sapp=sapp,
    )


def _tuple_address(text: str, v6: bool, what: str) -> str:
    """As ufw's UFWRule._fix_anywhere: 'any' and either family's anywhere are this family's anywhere."""
    if text in ("any", ANY_V4, ANY_V6):
        return ANY_V6 if v6 else ANY_V4
    _check_address(text, v6, what)
    if netaddr.IPNetwork(text).prefixlen == 0:
        return ANY_V6 if v6 else ANY_V4
    return text


# ---------------------------------------------------------------------------------------------
# everything together


def display_order(rules: list[UfwRule] | tuple[UfwRule, ...]) -> list[UfwRule]:
    """The order `ufw status [verbose]` lists rules in: inbound, outbound, route (each v4 then v6)."""
    ordered = sorted(rules, key=lambda r: r.v6)
    return (
        [r for r in ordered if r.direction == "in"]
        + [r for r in ordered if r.direction == "out"]
        + [r for r in ordered if r.direction == "fwd"]
    )


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
