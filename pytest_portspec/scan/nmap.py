"""The nmap scanner: one nmap run an address (no shell, every value checked), its XML parsed by
nmap_xml.py; the UDP targets nmap cannot speak go through the connect scanner's exchange.

    nmap_argv(program, request, root) -> the command line
    nmap_seconds(request) -> the time budget of the run (also its --host-timeout)
    nmap_scan(request, program) -> AddressScan (a coroutine);  scan_nmap(request) runs it alone
    ScanError: one sentence naming the address (nmap's own error, a timeout, unreadable output)

Choices, and why:
    -n -Pn          no DNS lookups, no host discovery: the address is known and may drop pings
    -sS / -sT       a SYN scan as root (half-open: nothing reaches a service), else a connect scan
    -sU             only with UDP targets, and only as root (nmap refuses it otherwise)
    --max-rate      the request's rate, a promise to the device's owner; --min-rate the same, so
                    nmap's congestion control does not crawl on a host that drops everything
    --max-retries 1 one retransmission: a single lost SYN or reply does not hide an open port,
                    while each further retry would add a whole sweep's time on a DROP host
    --max-rtt-timeout  the request's timeout
    --host-timeout  our budget: a host nmap gives up on is an error (its output says so)
UDP targets with a protocol other than the port's usual one: nmap sends its own payload by port
number, which would be the wrong request, so the connect scanner's exchange speaks to them.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import os
import shlex
import shutil
import time
from dataclasses import replace

from pytest_portspec.firewall.intervals import Intervals
from pytest_portspec.local_run import LocalRunError, run_local
from pytest_portspec.scan.model import MAX_RATE, AddressScan, ScanError, ScanRequest, UdpTarget
from pytest_portspec.scan.nmap_xml import parse_nmap_xml
from pytest_portspec.scan.pacing import Pacer
from pytest_portspec.scan.udp import udp_findings
from pytest_portspec.text import clip, printable

PROGRAM = "nmap"
RETRIES = 1
STARTUP = 10.0  # seconds for nmap to start and read its data files, beyond its host timeout
OUTPUT_CAP = 32 * 1024 * 1024  # bytes of XML: 65535 ports listed one by one are ~6 MiB


def nmap_seconds(request: ScanRequest) -> float:
    """Every probe (and its retry) at half the rate, plus the last probes' timeout, plus slack: the
    rate is a ceiling, and a busy tester (several devices scanned at once, two nmaps per device for
    its IPv4 and IPv6 addresses) sends slower; a host timeout that came too soon would make the
    scan an error, never a pass, but a false alarm all the same."""
    probes = (request.tcp.size() + len(request.udp)) * (1 + RETRIES)
    return 2 * probes / request.rate + request.timeout * (2 + RETRIES) + 10.0


def _ports(request: ScanRequest, udp: tuple[UdpTarget, ...]) -> str:
    tcp = ",".join(f"{lo}-{hi}" if lo != hi else str(lo) for lo, hi in request.tcp)
    udp_ports = ",".join(str(p) for p in sorted({t.port for t in udp}))
    parts = ([f"T:{tcp}"] if tcp else []) + ([f"U:{udp_ports}"] if udp_ports else [])
    return ",".join(parts)


def _checked(request: ScanRequest) -> None:
    """Every value that goes on nmap's command line, checked (a device's inventory wrote them)."""
    try:
        ipaddress.ip_address(request.address)
    except ValueError:
        raise ScanError(f"{printable(request.address)!r} is not an IP address: not scanned") from None
    if not (math.isfinite(request.rate) and 0 < request.rate <= MAX_RATE):
        raise ScanError(f"a scan rate of {request.rate!r} for {request.address} is not in (0, {MAX_RATE:g}]")
    if not (math.isfinite(request.timeout) and 0 < request.timeout <= 600):
        raise ScanError(f"a scan timeout of {request.timeout!r} s for {request.address} is not in (0, 600]")
    ports = [p for span in request.tcp for p in span] + [t.port for t in request.udp]
    if any(not 1 <= p <= 65535 for p in ports):
        raise ScanError(f"the scan of {request.address} names a port outside 1-65535")


def nmap_udp(request: ScanRequest, root: bool) -> tuple[UdpTarget, ...]:
    """The UDP targets nmap scans: as root, those with the port's usual protocol."""
    return tuple(t for t in request.udp if t.protocol is None) if root else ()


def nmap_argv(program: str, request: ScanRequest, root: bool) -> list[str]:
    _checked(request)
    udp = nmap_udp(request, root)
    rate = f"{request.rate:.3f}".rstrip("0").rstrip(".")
    argv = [program, "-n", "-Pn", "--reason", "-oX", "-"]
    argv += (["-sS" if root else "-sT"] if request.tcp else []) + (["-sU"] if udp else [])
    argv += ["-p", _ports(request, udp), "--max-rate", rate, "--min-rate", rate]
    argv += ["--max-retries", str(RETRIES), "--max-rtt-timeout", f"{round(request.timeout * 1000)}ms"]
    argv += ["--host-timeout", f"{math.ceil(nmap_seconds(request))}s"]
    argv += (["-6"] if ":" in request.address else []) + ["--", request.address]
    return argv


def _scanner(argv: list[str]) -> str:
    return "nmap " + " ".join(a for a in argv if a in ("-sS", "-sT", "-sU"))


def run_nmap(program: str, request: ScanRequest, root: bool, limit: float | None = None) -> AddressScan:
    """One nmap run (blocking; killed at its budget or `limit` seconds): its XML read into an
    AddressScan of what it was asked."""
    argv = nmap_argv(program, request, root)
    asked = replace(request, udp=nmap_udp(request, root))
    budget = nmap_seconds(request) + STARTUP if limit is None else min(limit, nmap_seconds(request) + STARTUP)
    started = time.monotonic()
    try:
        done = run_local(argv, deadline=budget, output_cap=OUTPUT_CAP)
    except LocalRunError as exc:
        raise ScanError(f"nmap on {request.address}: {exc}") from None
    seconds = time.monotonic() - started
    if done.code != 0:
        said = printable(done.err.decode("utf-8", "replace").strip()) or "no diagnostics"
        raise ScanError(f"nmap failed on {request.address} (exit {done.code}): {clip(said, 300)}")
    text = done.out.decode("utf-8", "replace")
    return parse_nmap_xml(text, asked, _scanner(argv), shlex.join(argv), seconds)


async def nmap_scan(request: ScanRequest, program: str, limit: float | None = None) -> AddressScan:
    """The UDP targets nmap cannot speak by our exchange, then nmap in a thread: one after the
    other, so that the two together keep to the request's rate."""
    root = os.geteuid() == 0
    spoken = set(nmap_udp(request, root))
    rest = replace(request, tcp=Intervals(), udp=tuple(t for t in request.udp if t not in spoken))
    ours = await udp_findings(rest, Pacer(request.rate)) if rest.udp else ()
    scan = await asyncio.to_thread(run_nmap, program, request, root, limit)
    return replace(scan, udp=tuple(sorted(scan.udp + ours, key=lambda f: f.port))) if ours else scan


def scan_nmap(request: ScanRequest) -> AddressScan:
    program = shutil.which(PROGRAM)
    if program is None:
        raise ScanError(f"nmap is not installed: {request.address} not scanned with it")
    return asyncio.run(nmap_scan(request, program))
