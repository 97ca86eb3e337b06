"""nmap's XML output (-oX -) read into an AddressScan (pure; xml.etree of the standard library).

    parse_nmap_xml(text, request, scanner, command, seconds) -> AddressScan;  ScanError: one sentence

Only what was asked counts: a host or a port nmap reports that the request did not name is left
out. Open ports come with nmap's reason and service name (its guess from the port number unless
-sV ran; untrusted either way, so printable and clipped). Closed and filtered ports come one by
one or summarised in <extraports> with <extrareasons ports="...">. A TCP port nmap does not
mention is filtered (not seen open), a UDP target it does not mention is open|filtered: neither is
ever taken for open or closed.

nmap writes `<!DOCTYPE nmaprun>` and never an entity declaration: output that declares one is
refused before parsing, so nothing in it can make the parser expand or fetch anything.
"""

from __future__ import annotations

import ipaddress
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from pytest_portspec.firewall.intervals import Intervals
from pytest_portspec.scan.model import AddressScan, PortFinding, ScanError, ScanProto, ScanRequest, ScanState
from pytest_portspec.text import clip, printable

STATES: dict[str, ScanState] = {
    "open": "open",
    "closed": "closed",
    "filtered": "filtered",
    "open|filtered": "open|filtered",
    "unfiltered": "filtered",  # an ACK scan's word; we never run one, and it is not "open"
    "closed|filtered": "filtered",
}
DETAIL_LIMIT = 80


@dataclass
class _Ports:
    """What nmap said of the ports we asked about, before it becomes an AddressScan."""

    found: dict[tuple[ScanProto, int], PortFinding] = field(default_factory=dict)
    # closed (or other answering) ports summarised without their numbers: a port nmap does not
    # name may then have answered, so only the named ones have a known state
    unnamed: bool = False


def parse_nmap_xml(
    text: str, request: ScanRequest, scanner: str, command: str, seconds: float
) -> AddressScan:
    root = _root(text, request.address)
    host = _host(root, request.address)
    ports = _Ports()
    for element in host.iterfind("ports/port"):
        _port(element, request, ports)
    for extra in host.iterfind("ports/extraports"):
        _extraports(extra, request, ports)
    tcp = [f for (proto, _), f in sorted(ports.found.items()) if proto == "tcp"]
    return AddressScan(
        address=request.address,
        scanner=scanner,
        rate=request.rate,
        seconds=seconds,
        tcp_scanned=Intervals.merged((f.port, f.port) for f in tcp) if ports.unnamed else request.tcp,
        tcp_open=tuple(f for f in tcp if f.state == "open"),
        tcp_closed=Intervals.merged((f.port, f.port) for f in tcp if f.state == "closed"),
        udp=tuple(_udp(request, ports)),
        command=command,
    )


def _root(text: str, address: str) -> ET.Element:
    if "<!ENTITY" in text:
        raise ScanError(f"nmap's output for {address} declares an XML entity, which nmap never writes")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ScanError(f"nmap's output for {address} is not XML ({exc})") from None
    if root.tag != "nmaprun":
        raise ScanError(f"nmap's output for {address} is not an nmap run (<{printable(root.tag)[:40]}>)")
    finished = root.find("runstats/finished")
    if finished is not None and finished.get("exit") == "error":
        message = clip(printable(finished.get("errormsg", "no message")), 300)
        raise ScanError(f"nmap failed on {address}: {message}")
    return root


def _host(root: ET.Element, address: str) -> ET.Element:
    """The <host> element of the address asked about (nmap may add others: ignored)."""
    for host in root.iterfind("host"):
        if any(_same(a.get("addr", ""), address) for a in host.iterfind("address")):
            if host.get("timedout") == "true":
                raise ScanError(f"nmap gave up on {address} at its host timeout: its scan is incomplete")
            return host
    raise ScanError(f"nmap's output has no result for {address}")


def _same(reported: str, address: str) -> bool:
    """nmap writes IPv6 addresses compressed; the request may not be."""
    try:
        return ipaddress.ip_address(reported) == ipaddress.ip_address(address)
    except ValueError:
        return False


def _port(element: ET.Element, request: ScanRequest, ports: _Ports) -> None:
    proto, number = _proto(element.get("protocol")), _number(element.get("portid"))
    state_element = element.find("state")
    if number is None or state_element is None or proto is None:
        return
    if not _asked(request, proto, number):
        return
    state = STATES.get(state_element.get("state", ""), "filtered")
    service = element.find("service")
    name = service.get("name", "") if service is not None else ""
    detail = clip(printable(name), DETAIL_LIMIT) if name and state == "open" else ""
    reason = clip(printable(state_element.get("reason", "")), 40)
    ports.found[(proto, number)] = PortFinding(proto, number, state, reason, detail)


def _extraports(extra: ET.Element, request: ScanRequest, ports: _Ports) -> None:
    """<extraports state="closed"><extrareasons reason="reset" proto="tcp" ports="1-21,23-"/>."""
    state = STATES.get(extra.get("state", ""), "filtered")
    for reasons in extra.iterfind("extrareasons"):
        proto, spans = _proto(reasons.get("proto")), _spans(reasons.get("ports", ""))
        silent = extra.get("state") == "filtered" and reasons.get("reason", "").startswith("no-response")
        ports.unnamed |= (proto is None or spans is None) and not silent  # ports that answered, unnamed
        if proto is None:
            continue
        if spans is None and state == "open":  # closed or filtered unnamed: still "not seen open"
            raise ScanError(
                f"nmap summarised {reasons.get('count', '?')} {state} {proto} ports of "
                f"{request.address} without naming them (an nmap older than 7.90?)"
            )
        reason = clip(printable(reasons.get("reason", "")), 40)
        for lo, hi in spans or ():
            for number in range(lo, hi + 1):
                if _asked(request, proto, number):
                    ports.found[(proto, number)] = PortFinding(proto, number, state, reason)


def _spans(text: str) -> list[tuple[int, int]] | None:
    """'1-21,23,25-65535' as spans; None when missing or not that shape."""
    spans = []
    for part in text.split(","):
        lo, _, hi = part.strip().partition("-")
        first, last = _number(lo), _number(hi or lo)
        if first is None or last is None or first > last:
            return None
        spans.append((first, last))
    return spans


def _proto(text: str | None) -> ScanProto | None:
    return "tcp" if text == "tcp" else "udp" if text == "udp" else None


def _number(text: str | None) -> int | None:
    if text is None or not (text.isascii() and text.isdigit()) or len(text) > 5:  # no sign, no spaces
        return None
    value = int(text)
    return value if 0 <= value <= 65535 else None


def _asked(request: ScanRequest, proto: str, port: int) -> bool:
    if proto == "tcp":
        return port in request.tcp
    return any(t.port == port for t in request.udp)


def _udp(request: ScanRequest, ports: _Ports) -> list[PortFinding]:
    """One finding per UDP target asked; one nmap did not mention is open|filtered."""
    out = []
    for port in sorted({t.port for t in request.udp}):
        silent = PortFinding("udp", port, "open|filtered", "not-reported", "nmap did not report it")
        out.append(ports.found.get(("udp", port), silent))
    return out
