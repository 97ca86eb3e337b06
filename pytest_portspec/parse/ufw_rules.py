"""ufw's rules as data, the fields both rule sources share, and how ufw prints a rule.

`UfwRule` and `UfwState` are the model (`parse/ufw.py` documents the two sources they are read
from); the port lists, the action / protocol / log words and the display functions
(`ufw status` as ufw's get_status prints it) are shared by the status and user.rules parsers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pytest_portspec.spec.model import PortRange

UfwAction = Literal["allow", "deny", "reject", "limit"]
UfwDirection = Literal["in", "out", "fwd"]
UfwPolicy = Literal["allow", "deny", "reject", "disabled"]
UfwProto = Literal["tcp", "udp", "any", "ipv6", "esp", "ah", "igmp", "gre", "vrrp"]
UfwLog = Literal["log", "log-all"]

ANY_V4 = "0.0.0.0/0"
ANY_V6 = "::/0"

ACTIONS: dict[str, UfwAction] = {"allow": "allow", "deny": "deny", "reject": "reject", "limit": "limit"}
# ufw's util.supported_protocols; those besides tcp/udp carry no ports and never match a TCP/UDP flow
PROTOS: dict[str, UfwProto] = {
    p: p for p in ("tcp", "udp", "any", "ipv6", "esp", "ah", "igmp", "gre", "vrrp")
}
PORTLESS = ("ipv6", "esp", "ah", "igmp", "gre", "vrrp")
LOGS: dict[str, UfwLog] = {"log": "log", "log-all": "log-all"}


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
    proto: UfwProto
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
# port lists


PORT_LIST = re.compile(r"\d+(?::\d+)?(?:,\d+(?::\d+)?)*")


def parse_ports(text: str) -> tuple[PortRange, ...]:
    """ufw's port field: 'any' -> (), '22', '1:100', '47808:47823,49152:65535'; ValueError otherwise."""
    if text == "any":
        return ()
    if not PORT_LIST.fullmatch(text):
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


def display_order(rules: list[UfwRule] | tuple[UfwRule, ...]) -> list[UfwRule]:
    """The order `ufw status [verbose]` lists rules in: inbound, outbound, route (each v4 then v6)."""
    ordered = sorted(rules, key=lambda r: r.v6)
    return (
        [r for r in ordered if r.direction == "in"]
        + [r for r in ordered if r.direction == "out"]
        + [r for r in ordered if r.direction == "fwd"]
    )
