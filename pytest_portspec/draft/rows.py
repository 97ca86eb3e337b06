"""The rows of a draft spec, each from one thing the device showed (pure).

    listener_rows(facts)           one row per listening (proto, port): off loopback a `listener:
                                   required` row, loopback only a `scope: loopback` row
    rule_rows(facts, covered)      one row per ufw rule with ports that no listener row stands for
                                   (v4 and v6 twins together); every other rule a note
    scan_rows(scan, covered)       one row per port only the scan saw open

A row is the spec format's mapping (docs/spec-format.md), its citation `{observed: EVIDENCE}`:
what the device said, made printable, which the loader refuses until an engineer puts the vendor's
words there. Device text only ever goes into values (yaml.safe_dump quotes it), never into keys.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from pytest_portspec.checks.context import Facts
from pytest_portspec.parse.sockets import Socket
from pytest_portspec.parse.ufw_rules import PORTLESS, UfwRule
from pytest_portspec.scan.model import ScanFacts
from pytest_portspec.spec.model import PortRange
from pytest_portspec.text import clip, printable

Data = dict[str, object]
Covered = set[tuple[str, str, int]]  # (direction, proto, port) some row already stands for
EVIDENCE_LIMIT = 400  # characters of an observation: enough for a few ss or ufw lines
ALLOWS = ("allow", "limit")


@dataclass(frozen=True)
class Drafted:
    """A drafted row and where it sorts (direction, scope, first port, proto)."""

    order: tuple[str, str, int, str]
    data: Data


def observed(*lines: str) -> Data:
    """A draft citation: the evidence lines, single-spaced (ss pads its columns), printable, clipped."""
    text = "; ".join(dict.fromkeys(" ".join(line.split()) for line in lines))
    return {"observed": clip(printable(text), EVIDENCE_LIMIT)}


def slug(text: str, fallback: str) -> str:
    """A row id's word from device text: lower case, digits and '-', at most 30 characters."""
    word = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:30].strip("-")
    return word or fallback


# ---------------------------------------------------------------------------------------------
# listening sockets


def listener_rows(facts: Facts) -> list[Drafted]:
    groups: dict[tuple[str, int], list[Socket]] = {}
    for sock in sorted(facts.sockets, key=lambda s: (s.proto, s.port, s.loopback, s.address)):
        groups.setdefault((sock.proto, sock.port), []).append(sock)
    rows = []
    for (proto, port), sockets in groups.items():
        outside = [s for s in sockets if not s.loopback]
        rows.append(_listener(facts, proto, port, outside) if outside else _internal(proto, port, sockets))
    return rows


def _names(sockets: Iterable[Socket]) -> list[str]:
    """The processes holding the sockets: established ones, else what the listing claims (unchecked)."""
    found = [n for s in sockets for n in (s.names or tuple(name for name, _ in s.claimed))]
    return [printable(n) for n in dict.fromkeys(found) if n.strip()]


def _socket_row(proto: str, port: int, sockets: list[Socket]) -> Data:
    names = _names(sockets)
    row: Data = {"id": "", "service": ", ".join(names) or f"unknown service on {proto}/{port}"}
    if names:
        row["process"] = names[0] if len(names) == 1 else names
    return row | {"direction": "in", "proto": proto, "ports": port}


def _listener(facts: Facts, proto: str, port: int, sockets: list[Socket]) -> Drafted:
    row = _socket_row(proto, port, sockets)
    row["id"] = f"{slug(str(row['service']), 'service')}-{port}-{proto}"
    rules = [r for r in facts.ufw.rules if _opens(r, proto, port)]
    row["action"] = "allow" if _allowed(facts, rules) else "block"
    row["listener"] = "required"
    if rules:
        row["note"] = clip(printable("ufw: " + "; ".join(dict.fromkeys(r.describe() for r in rules))), 400)
    row["citation"] = observed(*(f"ss: {s.text.strip()}" for s in sockets))
    return Drafted(("in", "external", port, proto), row)


def _internal(proto: str, port: int, sockets: list[Socket]) -> Drafted:
    row = _socket_row(proto, port, sockets)
    row["id"] = f"lo-{slug(str(row['service']), 'service')}-{port}-{proto}"
    row |= {
        "scope": "loopback",
        "action": "allow",
        "citation": observed(*(f"ss: {s.text.strip()}" for s in sockets)),
    }
    return Drafted(("in", "loopback", port, proto), row)


def _opens(rule: UfwRule, proto: str, port: int) -> bool:
    """An inbound allow of ufw's for this port (whatever its source), not loopback's own rule."""
    return (
        rule.direction == "in"
        and rule.action in ALLOWS
        and rule.interface != "lo"
        and rule.proto in (proto, "any")
        and any(r.lo <= port <= r.hi for r in rule.dports)
    )


def _allowed(facts: Facts, rules: list[UfwRule]) -> bool:
    """As ufw enforces it: an allow rule opens the port; without one ufw's default decides."""
    ufw = facts.ufw
    return not ufw.active or ufw.default_in == "allow" or bool(rules)


# ---------------------------------------------------------------------------------------------
# ufw rules


def rule_rows(facts: Facts, covered: Covered) -> tuple[list[Drafted], list[Data]]:
    """Rows for the rules with ports no listener row covers; notes for the rest (module docstring)."""
    groups: dict[tuple[object, ...], list[UfwRule]] = {}
    for rule in facts.ufw.rules:
        groups.setdefault(_twin_key(rule), []).append(rule)
    rows: list[Drafted] = []
    notes: list[Data] = []
    for rules in groups.values():
        first = rules[0]
        evidence = observed(*(f"ufw: {r.describe()}" for r in rules))
        if not _portable(first):
            notes.append({"id": "", "text": _why_note(first), "citation": evidence})
        elif not _covered_by_listener(first, covered):
            rows.append(_rule_row(first, evidence))
    return rows, notes


def _twin_key(rule: UfwRule) -> tuple[object, ...]:
    """What a v4 rule and its v6 twin share (ufw adds both for one `ufw allow 443/tcp`)."""
    remote = rule.src if rule.direction == "in" else rule.dst
    anywhere = rule.anywhere_src if rule.direction == "in" else rule.anywhere_dst
    return (
        rule.action,
        rule.direction,
        rule.proto,
        rule.dports,
        rule.sports,
        rule.interface,
        "anywhere" if anywhere else remote,
        rule.route_out_interface,
    )


def _portable(rule: UfwRule) -> bool:
    """A rule a port row can stand for: in or out, TCP/UDP, with destination ports, not loopback's."""
    return (
        rule.direction in ("in", "out")
        and rule.proto not in PORTLESS
        and bool(rule.dports)
        and not rule.sports
        and rule.interface != "lo"
    )


def _why_note(rule: UfwRule) -> str:
    if rule.direction == "fwd":
        return "A routed (forwarding) rule of ufw, not a port of this device: does the document cover it?"
    if rule.interface == "lo":
        return "A rule of ufw for loopback traffic: internal, not a port row."
    return "A rule of ufw on every port, a source port or a portless protocol: does the document cover it?"


def _covered_by_listener(rule: UfwRule, covered: Covered) -> bool:
    """An inbound allow whose every port a listener row already stands for (its note quotes it)."""
    if rule.direction != "in" or rule.action not in ALLOWS:
        return False
    protos = ("tcp", "udp") if rule.proto == "any" else (rule.proto,)
    size = sum(r.hi - r.lo + 1 for r in rule.dports)
    if size > 64:  # a range is its own row, whatever listens inside it
        return False
    return all(
        ("in", p, port) in covered for p in protos for r in rule.dports for port in range(r.lo, r.hi + 1)
    )


def _rule_row(rule: UfwRule, evidence: Data) -> Drafted:
    proto = "both" if rule.proto == "any" else rule.proto
    ports = [str(r) for r in rule.dports]
    allow = rule.action in ALLOWS
    service = (
        "allowed by ufw, nothing listening" if allow and rule.direction == "in" else f"ufw {rule.action} rule"
    )
    row: Data = {
        "id": f"ufw-{rule.direction}-{'-'.join(ports)[:40].strip('-')}-{proto}",
        "service": service,
        "direction": rule.direction,
        "proto": proto,
        "ports": _ports_value(rule.dports),
        "action": "allow" if allow else "block",
    }
    remote = rule.src if rule.direction == "in" else rule.dst
    anywhere = rule.anywhere_src if rule.direction == "in" else rule.anywhere_dst
    peer = None if anywhere else _network(remote)
    if peer is not None:
        row["sources" if rule.direction == "in" else "destinations"] = [peer]
    if rule.direction == "in":
        row["listener"] = "permitted"
    if rule.action == "limit":
        row["note"] = "ufw rate-limits it (limit)"
    row["citation"] = evidence
    return Drafted((rule.direction, "external", rule.dports[0].lo, proto), row)


def _ports_value(ports: tuple[PortRange, ...]) -> object:
    values: list[object] = [p.lo if p.lo == p.hi else str(p) for p in ports]
    return values[0] if len(values) == 1 else values


def _network(text: str) -> str | None:
    """ufw's address or network as the spec format writes it (host bits zero); None if unreadable."""
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
    single = net.prefixlen == net.max_prefixlen
    return str(net.network_address) if single else str(net)


# ---------------------------------------------------------------------------------------------
# the scan


def scan_rows(scan: ScanFacts | None, covered: Covered) -> list[Drafted]:
    """One row per (proto, port) seen open from outside that no other row stands for."""
    found: dict[tuple[str, int], list[str]] = {}
    for address_scan in scan.scans if scan is not None else ():
        for f in address_scan.open_ports():
            if ("in", f.proto, f.port) in covered:
                continue
            detail = f" {f.detail}" if f.detail else ""
            line = f"scan: {address_scan.address} {f.proto}/{f.port} {f.state} ({f.reason}){detail}"
            found.setdefault((f.proto, f.port), []).append(line)
    return [
        Drafted(
            ("in", "external", port, proto),
            {
                "id": f"scan-{port}-{proto}",
                "service": "open from outside, no listener or rule seen on the device",
                "direction": "in",
                "proto": proto,
                "ports": port,
                "action": "allow",
                "listener": "permitted",
                "citation": observed(*lines),
            },
        )
        for (proto, port), lines in sorted(found.items())
    ]


def covered_by(rows: Iterable[Drafted]) -> Covered:
    """The (direction, proto, port) of the single-port external rows."""
    found: Covered = set()
    for drafted in rows:
        row = drafted.data
        if drafted.order[1] == "external" and isinstance(row["ports"], int):
            protos = ("tcp", "udp") if row["proto"] == "both" else (str(row["proto"]),)
            found |= {(str(row["direction"]), p, row["ports"]) for p in protos}
    return found
