"""What the checks call: plan a device's scan, run it, and how long it may take.

    plan_requests(connect_address, own_addresses, udp, rate, timeout) -> (requests, skipped)
    scan_addresses(requests, scanner="auto", deadline=None) -> ScanFacts
    scan_seconds(request) -> the time a request's scan needs (for the device's deadline)
    choose_scanner(scanner) -> ("nmap", its path) or ("connect", "")

Addresses are scanned at once, each at its own rate (a device's addresses are often one machine,
and the caller chooses the rate per address knowing that). A failed scan is one sentence in
ScanFacts.errors naming the address, never an exception: the other addresses' results still count.
"""

from __future__ import annotations

import asyncio
import ipaddress
import shutil
import threading
from collections.abc import Sequence

from pytest_portspec.scan.connect import Sockets, connect_scan, shared_sockets
from pytest_portspec.scan.model import AddressScan, ScanError, ScanFacts, ScannerName, ScanRequest, UdpTarget
from pytest_portspec.scan.nmap import PROGRAM, STARTUP, nmap_scan, nmap_seconds
from pytest_portspec.scan.routes import Route, scannable
from pytest_portspec.text import printable

INSTALL = "apt-get install nmap"
# The connect scanner is bound by one core (the GIL): sweeps of several devices at once only share it
# and each would overrun its budget, so they take turns, each budget starting with its turn. nmap
# runs in processes of its own and needs no turns.
CONNECT_TURN = threading.Lock()
GRACE = 5.0  # seconds past a scan's own budget before it is stopped (a loaded tester)


def scan_seconds(request: ScanRequest) -> float:
    """The longest either scanner may take: nmap's budget (every probe retried once, at the rate)
    plus its start-up, plus the UDP exchanges run before it, plus grace."""
    return nmap_seconds(request) + STARTUP + request.timeout + GRACE


def choose_scanner(scanner: ScannerName) -> tuple[str, str]:
    """("nmap", path) or ("connect", ""); ScanError when nmap is asked for and not installed."""
    path = shutil.which(PROGRAM) if scanner in ("auto", "nmap") else None
    if path:
        return "nmap", path
    if scanner == "nmap":
        raise ScanError(f"--scanner nmap and nmap is not installed ({INSTALL})")
    return "connect", ""


def scan_addresses(
    requests: Sequence[ScanRequest], scanner: ScannerName = "auto", deadline: float | None = None
) -> ScanFacts:
    """Scan every request's address at once; `deadline` (seconds from now) caps each scan's own
    budget. A request for an address already asked is left out (the first one counts)."""
    unique: dict[str, ScanRequest] = {}
    for request in requests:
        unique.setdefault(request.address, request)
    try:
        name, path = choose_scanner(scanner)
    except ScanError as exc:
        return ScanFacts(errors={a: f"{a} not scanned: {exc}" for a in unique})
    if name == "connect":
        with CONNECT_TURN:
            outcomes = asyncio.run(_scan_all(list(unique.values()), name, path, deadline))
    else:
        outcomes = asyncio.run(_scan_all(list(unique.values()), name, path, deadline))
    scans = tuple(o for o in outcomes if isinstance(o, AddressScan))
    errors = {a: o for a, o in zip(unique, outcomes, strict=True) if isinstance(o, str)}
    return ScanFacts(scans=scans, errors=errors)


async def _scan_all(
    requests: list[ScanRequest], name: str, path: str, deadline: float | None
) -> list[AddressScan | str]:
    sockets = shared_sockets()  # one budget for the process: every sweep shares it
    return list(await asyncio.gather(*(_scan_one(r, name, path, sockets, deadline) for r in requests)))


async def _scan_one(
    request: ScanRequest, name: str, path: str, sockets: Sockets, deadline: float | None
) -> AddressScan | str:
    budget = scan_seconds(request) if deadline is None else min(deadline, scan_seconds(request))
    try:
        ipaddress.ip_address(request.address)
    except ValueError:  # a name would be looked up once a port by the connect scanner
        return f"{printable(request.address)!r} is not an IP address: resolve it before scanning"
    try:
        if name == "nmap":
            return await asyncio.wait_for(nmap_scan(request, path, budget), budget)
        return await asyncio.wait_for(connect_scan(request, sockets), budget)
    except ScanError as exc:
        return str(exc)
    except TimeoutError:
        return f"the scan of {request.address} ran longer than its {round(budget, 1):g} s budget: stopped"
    except OSError as exc:  # (after TimeoutError, an OSError too) a socket the tester cannot make
        return f"the scan of {request.address} failed on the tester: {printable(str(exc))}"


def plan_requests(
    connect_address: str,
    own_addresses: Sequence[str],
    udp: Sequence[UdpTarget],
    rate: float,
    timeout: float,
    *,
    routes: list[Route] | None = None,
) -> tuple[list[ScanRequest], dict[str, str]]:
    """The requests for a device: the address the run connects to, always (the tester reaches the
    device there, whatever its routes say), then each other address of the device when
    scannable(); the skipped ones with why. `connect_address` is an IP (the caller resolved the
    name it connects to). `routes` for tests; else the tester's own."""
    requests = [ScanRequest(connect_address, udp=tuple(udp), rate=rate, timeout=timeout)]
    seen = {_key(connect_address)}
    skipped: dict[str, str] = {}
    for address in own_addresses:
        if _key(address) in seen:
            continue
        seen.add(_key(address))
        why = scannable(address, routes)
        if why is None:
            requests.append(ScanRequest(address, udp=tuple(udp), rate=rate, timeout=timeout))
        else:
            skipped[address] = why
    return requests, skipped


def _key(address: str) -> str:
    """One spelling of an address (2001:db8::1 and 2001:DB8:0::1 are one address)."""
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return address
