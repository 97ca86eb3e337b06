"""One device's outside-in scan (--scan), run from the tester beside its snapshot: no remote command.

Two waves, so the long TCP sweep overlaps the SSH connection and the commands:
    first   the address the run connects to: every TCP port, the document's UDP ports
    second  once the snapshot is read: the device's other addresses the tester routes to
            (scan/routes.py), and the UDP ports its sockets, ufw rules and kernel rules name

Nothing is sent twice: the tester's TCP inbound probes are answered from the first wave (a scan's
SYN-ACK is the probe's handshake), and the UDP ports an inbound probe speaks the protocol of are
left to that probe, whose result joins the scan as its finding there.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from pytest_portspec.checks.context import Facts
from pytest_portspec.device.contract import Transport, offline_of
from pytest_portspec.device.reached import jump_of
from pytest_portspec.firewall.intervals import Intervals
from pytest_portspec.firewall.questions import opened
from pytest_portspec.firewall.space import DPORT
from pytest_portspec.parse.ufw_rules import UfwRule
from pytest_portspec.probe.inbound import InboundProbe
from pytest_portspec.probe.outbound import Outcome, ProbeResult, udp_verifiable
from pytest_portspec.scan.model import (
    AddressScan,
    PortFinding,
    ScanError,
    ScanFacts,
    ScanOptions,
    ScanRequest,
    ScanState,
    UdpTarget,
)
from pytest_portspec.scan.run import choose_scanner, plan_requests, scan_addresses, scan_seconds

MAX_UDP_TARGETS = 1024  # a UDP sweep is slow and proves little: the ports something names, at most this many
TCP_OUTCOME: dict[ScanState, Outcome] = {"open": "ok", "closed": "refused", "filtered": "timeout"}
UDP_STATE: dict[
    str, tuple[ScanState, str]
] = {  # an inbound probe's outcome as a scan finding: (state, reason)
    "ok": ("open", "udp-response"),
    "answered": ("open", "udp-response"),
    "refused": ("closed", "port-unreach"),
    "timeout": ("open|filtered", "no-response"),
    "no-route": ("filtered", "host-unreach"),
}


def udp_targets(ports: Iterable[int], probes: Sequence[InboundProbe]) -> list[UdpTarget]:
    """The UDP ports to scan, without those an inbound probe speaks the protocol of (it answers there)."""
    spoken = {p.port for p in probes if p.proto == "udp" and udp_verifiable(p.proto, p.port, p.protocol)}
    return [UdpTarget(p) for p in sorted(set(ports) - spoken)[:MAX_UDP_TARGETS]]


def documented_udp(probes: Sequence[InboundProbe]) -> list[int]:
    """The UDP ports of the document's inbound rows (their probes name them)."""
    return [p.port for p in probes if p.proto == "udp"]


def named_udp(facts: Facts) -> list[int]:
    """The UDP ports the snapshot names: sockets off loopback, ufw's inbound rules with ports, and
    what the kernel's rules let in (or may): an accept outside ufw in front of a listener ss does
    not show (another namespace, a forward) is scanned too. A span wider than MAX_UDP_TARGETS is
    left out (a UDP sweep of it would take hours and prove little)."""
    ports = {s.port for s in facts.sockets if s.proto == "udp" and not s.loopback}
    spans = [Intervals.merged((r.lo, r.hi) for r in rule.dports) for rule in facts.ufw.rules if _udp_in(rule)]
    for span in spans + _kernel_udp(facts):
        if span.size() <= MAX_UDP_TARGETS:
            ports |= {p for lo, hi in span for p in range(lo, hi + 1)}
    return sorted(ports - {0})


def _udp_in(rule: UfwRule) -> bool:
    return rule.direction == "in" and rule.proto in ("udp", "any") and bool(rule.dports)


def _kernel_udp(facts: Facts) -> list[Intervals]:
    """The destination ports of each inbound UDP flow the kernel model lets through or may."""
    if facts.kernel is None:
        return []
    sure, unsure, why = opened(facts.kernel, "in", "udp")
    return [] if why is not None else [part.box[DPORT] for _, part in sure + unsure]


def scan_allowance(options: ScanOptions, scanning: int = 1) -> float:
    """Seconds the two waves may add to the device's deadline (each address is one sweep at the
    rate); the built-in scanner's sweeps take turns (scan/run.py), so with `scanning` devices
    scanned in the process, a device may wait for all the others' turns."""
    one = 2 * scan_seconds(ScanRequest("198.18.0.1", rate=options.rate, timeout=options.timeout))
    try:
        turns = scanning if choose_scanner(options.scanner)[0] == "connect" else 1
    except ScanError:  # nmap asked for and missing: the scan fails at once, with that reason
        turns = 1
    return one * max(turns, 1)


@dataclass
class DeviceScan:
    """The waves of one device's scan, in the run's thread pool (module docstring)."""

    options: ScanOptions
    pool: ThreadPoolExecutor
    address: str | None = None  # the connection's address, scanned first
    waves: list[Future[ScanFacts]] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    first_udp: frozenset[int] = frozenset()  # the UDP ports of the first wave (never waited for)
    _first: AddressScan | None = None

    def start(self, address: str, udp: Sequence[UdpTarget]) -> None:
        self.address, self.first_udp = address, frozenset(t.port for t in udp)
        requests, skipped = plan_requests(address, (), udp, self.options.rate, self.options.timeout)
        self.skipped |= skipped
        self.waves.append(self.pool.submit(scan_addresses, requests, self.options.scanner))

    def extend(self, own_addresses: Sequence[str], udp: Sequence[UdpTarget]) -> None:
        """The second wave: the other addresses, and the first address's UDP ports not yet scanned."""
        if self.address is None:
            return
        o = self.options
        own = [a for a in own_addresses if _reaches_out(a)]  # the cover need not list loopback and link-local
        requests, skipped = plan_requests(self.address, own, udp, o.rate, o.timeout)
        self.skipped |= {a: why for a, why in skipped.items() if a != self.address}
        more = [t for t in udp if t.port not in self.first_udp]
        second = [r for r in requests if r.address != self.address]
        if more:
            second.append(ScanRequest(self.address, Intervals(), tuple(more), o.rate, o.timeout))
        if second:
            self.waves.append(self.pool.submit(scan_addresses, second, o.scanner))

    def first(self) -> AddressScan | None:
        """The first wave's scan of the connection address (waits for it); None if it failed."""
        if self._first is None and self.waves:
            found = self.waves[0].result()
            self._first = next((s for s in found.scans if s.address == self.address), None)
        return self._first

    def answer_tcp(self, probes: Sequence[InboundProbe]) -> tuple[list[ProbeResult], list[InboundProbe]]:
        """The TCP probes the first wave answers, as their results, and the probes still to send."""
        scan = self.first()
        if scan is None:
            return [], list(probes)
        answered = [
            _result_from_scan(p, scan, self.options.timeout)
            for p in probes
            if p.proto == "tcp" and p.port in scan.tcp_scanned
        ]
        done = {r.id for r in answered}
        return answered, [p for p in probes if p.id not in done]

    def result(self, inbound: Iterable[ProbeResult]) -> ScanFacts:
        """Every wave's findings by address, with the UDP ports inbound probes answered for the scan."""
        facts = [wave.result() for wave in self.waves]
        scans: dict[str, AddressScan] = {}
        for found in facts:
            for scan in found.scans:
                scans[scan.address] = _merged(scans[scan.address], scan) if scan.address in scans else scan
        spoken = tuple(_finding_from_probe(r) for r in inbound if r.proto == "udp" and r.outcome in UDP_STATE)
        if self.address in scans and spoken:
            first = scans[self.address]
            scans[self.address] = replace(first, udp=tuple(sorted(first.udp + spoken, key=lambda f: f.port)))
        errors = {a: why for found in facts for a, why in found.errors.items()}
        skipped = self.skipped | {a: why for found in facts for a, why in found.skipped.items()}
        return ScanFacts(tuple(scans.values()), skipped, errors)


def scan_facts(
    scan: DeviceScan | None, inbound: list[ProbeResult], wanted: bool, transport: Transport
) -> ScanFacts | None:
    """The scan's findings; or, asked for but impossible from here, why none was made."""
    if scan is not None and scan.address is not None:
        return scan.result(inbound)
    if not wanted:
        return None
    if jump_of(transport) is not None:
        return ScanFacts(not_run="the device is reached through a jump host: the tester cannot scan it")
    if offline_of(transport) is not None:
        return ScanFacts(not_run="the evidence is an offline capture: no scan was made")
    return ScanFacts(not_run="the tester has no IP address of the device to scan")


def _reaches_out(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return not (ip.is_loopback or ip.is_link_local)


def _merged(a: AddressScan, b: AddressScan) -> AddressScan:
    """Two waves' scans of one address: the first's TCP sweep, both UDP parts, the time of both."""
    udp = tuple(sorted(a.udp + b.udp, key=lambda f: f.port))
    return replace(a, udp=udp, seconds=a.seconds + b.seconds)


def _result_from_scan(probe: InboundProbe, scan: AddressScan, waited: float) -> ProbeResult:
    """A TCP probe's result as the sweep saw its port (a filtered port: the wait the scan gave it)."""
    state = scan.state("tcp", probe.port) or "filtered"
    state = state if state in TCP_OUTCOME else "filtered"
    finding = next((f for f in scan.tcp_open if f.port == probe.port), None)
    reason = finding.reason if finding is not None else ("reset" if state == "closed" else "no-response")
    detail = f"the scan ({scan.scanner}, {scan.rate:g}/s) saw it {state} ({reason})"
    return ProbeResult(
        probe.id,
        scan.address,
        "tcp",
        probe.port,
        TCP_OUTCOME[state],
        scan.address,
        (scan.address,),
        waited if state == "filtered" else 0.0,
        detail,
    )


def _finding_from_probe(r: ProbeResult) -> PortFinding:
    state, reason = UDP_STATE[r.outcome]
    return PortFinding("udp", r.port, state, reason, f"inbound probe: {r.detail}")
