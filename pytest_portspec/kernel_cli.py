"""`portspec packet` and `portspec matrix`: what the kernel enforces, from a results file's capture
(`--snapshot`) or rulesets captured by hand (`--iptables-save` ...). Exit status 0 when every packet
was explained (whatever the verdict) or the matrix printed, 2 for input that cannot be used.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from ipaddress import IPv4Address, IPv6Address, ip_address
from pathlib import Path
from typing import Any

from pytest_portspec.errors import PortspecError, RulesetError
from pytest_portspec.firewall.evaluate import PolicyStep, Step
from pytest_portspec.firewall.matrix import SECTIONS, Flow, Part, Section, condition, matrix, packet_parts
from pytest_portspec.firewall.model import KernelModel, KernelSources, sources_from_texts
from pytest_portspec.firewall.packet import PacketQuery, explain, named_interfaces, packet_space
from pytest_portspec.firewall.space import OTHER_INTERFACE
from pytest_portspec.outcome.read import load_results
from pytest_portspec.outcome.records import Device
from pytest_portspec.report.policy_text import table
from pytest_portspec.text import printable

FILES = (("iptables_save", "iptables-save"), ("ip6tables_save", "ip6tables-save"), ("nft_json", "nft -j"))
FIELDS = ("direction", "proto", "src", "sport", "dst", "dport", "iface")
Namer = Callable[[str], str]  # a packet field -> how the input spells it ("--dport", "dport")
FLAGS = {f: f"--{f}" for f in FIELDS} | {"direction": "--in or --out"}


def _escaped(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def guarded(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except PortspecError as exc:
            raise PortspecError(printable(str(exc))) from None

    return guarded  # errors quote labels and rules from files: printable too


def add_parsers(commands: Any) -> None:
    packet = commands.add_parser("packet", help="explain what the kernel does with one packet")
    _add_sources(packet)
    way = packet.add_mutually_exclusive_group()
    for flag in ("in", "out"):
        way.add_argument(f"--{flag}", dest="direction", action="store_const", const=flag, help=f"{flag}bound")
    packet.add_argument("--proto", choices=("tcp", "udp"))
    for flag, metavar, text in (
        ("--src", "ADDR", "source address"),
        ("--sport", "N", "source port (default: every one; the answer splits where they differ)"),
        ("--dst", "ADDR", "destination address"),
        ("--dport", "N", "destination port"),
        ("--iface", "NAME", "the interface it crosses (default: every one, as --sport)"),
        ("--packets", "FILE", "JSON lines, one packet each: direction, proto, src, sport, dst, dport, iface"),
    ):
        packet.add_argument(flag, metavar=metavar, help=text)
    packet.add_argument("--format", choices=("text", "json"), default="text")
    flows = commands.add_parser("matrix", help="the ports the kernel lets through, to whom, by which rule")
    _add_sources(flows)
    flows.add_argument("--format", choices=("table", "json"), default="table")


def _add_sources(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--snapshot", type=Path, metavar="RESULTS.json", help="results (--portspec-json)")
    parser.add_argument("--device", metavar="LABEL", help="the device of the results file")
    for dest, tool in FILES:
        flag = "--" + dest.replace("_", "-")
        parser.add_argument(flag, dest=dest, metavar="FILE", help=f"`{tool}` output as captured ('-': stdin)")


@dataclass(frozen=True)
class Loaded:
    label: str  # the device's label, or the files'
    model: KernelModel


def load(args: argparse.Namespace) -> Loaded:
    files = {tool: getattr(args, dest) for dest, tool in FILES if getattr(args, dest)}
    if args.snapshot and not files:
        return _from_snapshot(args.snapshot, args.device)
    if args.snapshot or args.device or not files:
        raise PortspecError("give --snapshot RESULTS.json [--device LABEL] or --iptables-save FILE ...")
    if [*files.values(), getattr(args, "packets", None)].count("-") > 1:
        raise PortspecError("only one input can be read from stdin ('-')")
    texts = {tool: _read(path) for tool, path in files.items()}
    empty = "" if "nft -j" in texts else None  # nft lists every table: no iptables-save, no table
    sources = KernelSources(
        iptables=texts.get("iptables-save", empty),
        ip6tables=texts.get("ip6tables-save", empty),
        nft=texts.get("nft -j"),
        missing=tuple(f"{t}: not given" for t in ("iptables-save", "ip6tables-save") if t not in texts),
    )
    return Loaded(", ".join(map(str, files.values())), _build(sources))


def _read(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise PortspecError(f"{path}: cannot read it: {exc.strerror or exc}") from None


def _from_snapshot(path: Path, label: str | None) -> Loaded:
    devices = [d for d in load_results(path).devices if isinstance(d, Device)]  # a site has no capture
    named = ", ".join(d.device for d in devices) or "none"
    if label is None and len(devices) != 1:
        raise PortspecError(f"{path} has {len(devices)} kernel captures: give --device ({named})")
    device = devices[0] if label is None else next((d for d in devices if d.device == label), None)
    if device is None:
        raise PortspecError(f"{path} has no device {label!r} with a kernel capture (its devices: {named})")
    return Loaded(device.device, _build(sources_from_texts(dict(device.kernel))))


def _build(sources: KernelSources) -> KernelModel:
    """The model; without the device's interface list, the interfaces rules name and the others."""
    try:
        model = KernelModel.build(sources)
    except RulesetError as exc:
        raise PortspecError(str(exc)) from None
    if sources.interfaces is not None:
        return model
    named = sorted({n for ruleset in model.rulesets.values() for n in named_interfaces(ruleset)})
    sources = replace(sources, interfaces=(*named, OTHER_INTERFACE))
    return KernelModel(model.rulesets, sources, model.unavailable, model.notes)


def make_packet(fields: Mapping[str, object], name: Namer) -> PacketQuery:
    """A packet from its fields (command line or JSON line); PortspecError naming the bad field."""
    direction, proto, iface = fields.get("direction"), fields.get("proto"), fields.get("iface")
    if direction not in ("in", "out"):
        raise PortspecError(f"give {name('direction')}" + (f", not {direction!r}" if direction else ""))
    if proto not in ("tcp", "udp"):
        raise PortspecError(f"give {name('proto')} tcp or udp" + (f", not {proto!r}" if proto else ""))
    src, dst = _address(fields, "src", name), _address(fields, "dst", name)
    if src.version != dst.version:
        raise PortspecError(f"{name('src')} {src} and {name('dst')} {dst} are not of one family")
    if iface is not None and not (isinstance(iface, str) and iface.isprintable() and 0 < len(iface) < 64):
        raise PortspecError(f"{name('iface')} {iface!r} is not an interface name")
    sport = _port(fields, "sport", name) if fields.get("sport") is not None else None
    return PacketQuery(direction, proto, str(src), str(dst), _port(fields, "dport", name), sport, iface)


def _address(fields: Mapping[str, object], key: str, name: Namer) -> IPv4Address | IPv6Address:
    value = fields.get(key)
    try:
        if not isinstance(value, str) or "%" in value:
            raise ValueError
        return ip_address(value)
    except ValueError:
        bad = f"{name(key)} {value!r} is not an IP address (without a prefix or zone)"
        raise PortspecError(bad if value is not None else f"give {name(key)} ADDR") from None


def _port(fields: Mapping[str, object], key: str, name: Namer) -> int:
    value = fields.get(key)
    if isinstance(value, str) and value.isdigit() and value.isascii():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
        bad = f"{name(key)} {value!r} is not a port (0-65535)"
        raise PortspecError(bad if value is not None else f"give {name(key)} N")
    return value


def read_packets(path: str) -> Iterator[tuple[str, PacketQuery, Namer]]:
    for number, line in enumerate(_read(path).splitlines(), start=1):
        where = f"{'stdin' if path == '-' else path} line {number}: "
        try:
            fields = json.loads(line) if line.strip() else None
        except ValueError as exc:
            raise PortspecError(f"{where}not a JSON object ({exc})") from None
        extra = sorted(set(fields) - set(FIELDS)) if isinstance(fields, dict) else ["(not an object)"]
        if fields is not None and extra:
            raise PortspecError(f"{where}unknown field {extra[0]!r} (the fields: {', '.join(FIELDS)})")
        try:
            yield from [(where, make_packet(fields, str), str)] if fields is not None else []
        except PortspecError as exc:
            raise PortspecError(where + str(exc)) from None


@_escaped
def run_packet(args: argparse.Namespace) -> int:
    if args.packets and any(getattr(args, f) is not None for f in FIELDS):
        raise PortspecError("give --packets FILE or one packet (--in/--out, --proto ...), not both")
    flag = FLAGS.__getitem__
    packets = read_packets(args.packets) if args.packets else [("", make_packet(vars(args), flag), flag)]
    loaded = load(args)
    results = [(packet, _explain(loaded, where, packet, name)) for where, packet, name in packets]
    for packet, parts in results:
        json_line = [json.dumps(packet_dict(loaded.label, packet, parts))] if args.format == "json" else None
        print("\n".join(printable(line) for line in json_line or packet_lines(loaded.label, packet, parts)))
    return 0


def _explain(loaded: Loaded, where: str, packet: PacketQuery, name: Namer) -> list[Part]:
    model, family, label = loaded.model, packet.family, loaded.label
    if family not in model.rulesets:
        why = model.unavailable.get(family, f"no IPv{family} ruleset")
        raise PortspecError(f"{where}cannot explain an IPv{family} packet: {why}")
    key = "dst" if packet.direction == "in" else "src"
    local = getattr(packet, key)
    own = {str(ip_address(a.split("%")[0])) for a in model.sources.addresses or ()}
    if model.sources.addresses is not None and local not in own:
        mine = ", ".join(sorted(own))
        raise PortspecError(f"{where}{name(key)} {local} is not an address of {label} (its: {mine})")
    names = model.sources.interfaces
    if names and OTHER_INTERFACE not in names and packet.iface not in (None, *names):
        raise PortspecError(f"{where}{label} has no interface {packet.iface!r} (its: {', '.join(names)})")
    ruleset = model.rulesets[family]
    try:
        decided = explain(ruleset, packet, names, model.sources.routes)
    except ValueError as exc:
        raise PortspecError(f"{where}{exc}") from None
    return packet_parts(decided, packet_space(ruleset, packet, names, model.sources.routes))


def describe_packet(packet: PacketQuery) -> str:
    src, dst = (f"[{a}]" if ":" in a else a for a in (packet.src, packet.dst))
    sport = f":{packet.sport}" if packet.sport is not None else " (any source port)"
    text = f"{packet.direction} {packet.proto} {src}{sport} -> {dst}:{packet.dport}"
    return text + (f" on {packet.iface}" if packet.iface else "")


def packet_dict(label: str, packet: PacketQuery, parts: list[Part]) -> dict[str, Any]:
    head = {"device": label, "packet": {f: getattr(packet, f) for f in FIELDS}}
    if len(parts) == 1:
        return head | {k: v for k, v in parts[0].as_dict().items() if k != "when"}
    verdict = parts[0].verdict if len({p.summary() for p in parts}) == 1 else "depends"
    summary = "; ".join(f"{p.when}: {p.summary()}" for p in parts)
    return head | {"verdict": verdict, "summary": summary, "path": [], "parts": [p.as_dict() for p in parts]}


def packet_lines(label: str, packet: PacketQuery, parts: list[Part]) -> list[str]:
    alike = len({p.summary() for p in parts}) == 1
    verdict = parts[0].summary() if alike else "; ".join(f"{p.when}: {p.summary()}" for p in parts)
    lines = [f"packet {describe_packet(packet)} [{label}]", f"verdict: {verdict}"]
    for part in parts:
        lines += [f"{part.when}: {part.summary()}"] * (part.when is not None) + part_lines(part)
    return lines


def part_lines(part: Part, indent: str = "  ") -> list[str]:
    lines = [indent + reason for reason in part.reasons()]
    if len(part.branches) == 1:
        return lines + path_lines(part.main.path, indent)
    for branch in part.branches:
        lines.append(f"{indent}{branch.outcome} when {'; '.join(map(condition, branch.assumptions))}:")
        lines += path_lines(branch.path, indent * 2)
    return lines


def path_lines(path: tuple[Step, ...], indent: str) -> list[str]:
    return [indent + step_text(s) for s in path] or [f"{indent}no base chain filters this hook: accept"]


def step_text(step: Step) -> str:
    if isinstance(step, PolicyStep):
        return f"{step.describe()} ({step.chain.where})"
    return f"{step.table} {step.chain} rule {step.number} ({step.where}): {step.text}"


@_escaped
def run_matrix(args: argparse.Namespace) -> int:
    loaded = load(args)
    found = matrix(loaded.model)
    if args.format == "json":
        keys = ("family", "direction", "proto", "why")
        why = [dict(zip(keys, (*k, w), strict=True)) for k, w in found.unavailable.items()]
        data = {"device": loaded.label, "notes": loaded.model.notes, "unavailable": why}
        print(json.dumps(data | {"flows": [f.as_dict() for f in found.flows]}, indent=2))
        return 0
    lines = [f"device {loaded.label}", *(f"note: {n}" for n in loaded.model.notes)]
    for section in SECTIONS:
        flows = [f for f in found.flows if (f.family, f.direction, f.proto) == section]
        lines += ["", *section_lines(section, flows, found.unavailable.get(section))]
    print("\n".join(printable(line) for line in lines))
    return 0


def section_lines(section: Section, flows: list[Flow], why: str | None) -> list[str]:
    family, direction, proto = section
    head = f"IPv{family} {direction}bound {proto}"
    if why is not None or not flows:
        return [f"{head}: " + (f"not judged: {why}" if why else "no new flow gets through")]
    headers = ("PORTS", "FROM" if direction == "in" else "TO", "OUTCOME", "RULE", "WHERE")
    rows = [(f.ports, f.who(), f.label(), f.rule, f.where) for f in flows]
    lines = [f"{head}:", *("  " + line for line in table(headers, rows).splitlines())]
    return lines + [f"  undecided {f.ports}/{proto}: {f.undecided}" for f in flows if f.undecided]
