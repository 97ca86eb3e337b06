"""One device's scan in its run (engine/scan_step.py), with the scanners replaced by a recorder:
two waves (the connection's address at once, the rest after the snapshot), TCP inbound probes
answered from the sweep and never sent twice, UDP ports left to the inbound probes that speak
their protocol, and a scan that failed answering nothing (the probes are sent after all)."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest
from kernelfixture import ufw_save
from test_draft import smartserver
from test_runner import DATA

from pytest_portspec.engine import scan_step
from pytest_portspec.engine.scan_step import DeviceScan, named_udp, udp_targets
from pytest_portspec.firewall.intervals import Intervals
from pytest_portspec.probe.inbound import InboundProbe
from pytest_portspec.probe.outbound import ProbeResult
from pytest_portspec.scan.model import (
    AddressScan,
    PortFinding,
    ScanFacts,
    ScannerName,
    ScanOptions,
    ScanRequest,
    UdpTarget,
)

ADDRESS = "198.18.1.2"
OTHER = "198.18.7.2"


class Recorder:
    """Scans nothing: records each wave's requests and answers 22 open, 80 closed, the rest filtered."""

    def __init__(self, fail: bool = False) -> None:
        self.waves: list[list[ScanRequest]] = []
        self.fail = fail

    def plan(
        self, connect: str, own: Sequence[str], udp: Sequence[UdpTarget], rate: float, timeout: float
    ) -> tuple[list[ScanRequest], dict[str, str]]:
        addresses = [connect, *(a for a in own if a != connect)]
        return [ScanRequest(a, udp=tuple(udp), rate=rate, timeout=timeout) for a in addresses], {}

    def scan(self, requests: Sequence[ScanRequest], scanner: ScannerName = "auto") -> ScanFacts:
        self.waves.append(list(requests))
        if self.fail:
            return ScanFacts(errors={r.address: "nmap exited with status 1" for r in requests})
        found = tuple(
            AddressScan(
                r.address,
                "nmap -sS",
                r.rate,
                1.0,
                tcp_scanned=r.tcp,
                tcp_open=(PortFinding("tcp", 22, "open", "syn-ack"),) if 22 in r.tcp else (),
                tcp_closed=Intervals.of((80, 80)) if 80 in r.tcp else Intervals(),
                udp=tuple(PortFinding("udp", t.port, "open|filtered", "no-response") for t in r.udp),
            )
            for r in requests
        )
        return ScanFacts(found)


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    found = Recorder()
    monkeypatch.setattr(scan_step, "plan_requests", found.plan)
    monkeypatch.setattr(scan_step, "scan_addresses", found.scan)
    return found


PROBES = [
    InboundProbe("ssh", "tcp", 22),
    InboundProbe("http", "tcp", 80),
    InboundProbe("modbus", "tcp", 502),
    InboundProbe("ntp", "udp", 123),  # SNTP: the probe speaks it
    InboundProbe("lon", "udp", 2541),  # no protocol known: the scan sends its datagram
]


def test_the_tcp_probes_are_answered_by_the_sweep_and_udp_left_to_the_probes_that_speak_it(
    recorder: Recorder,
) -> None:
    with ThreadPoolExecutor(2) as pool:
        scan = DeviceScan(ScanOptions(rate=500), pool)
        scan.start(ADDRESS, udp_targets([123, 2541], PROBES))
        answered, rest = scan.answer_tcp(PROBES)
        ntp = ProbeResult("ntp", ADDRESS, "udp", 123, "ok", ADDRESS, (ADDRESS,), 0.1, "SNTP reply")
        facts = scan.result([ntp])
    assert [r.outcome for r in answered] == ["ok", "refused", "timeout"]
    assert "the scan (nmap -sS, 500/s) saw it open (syn-ack)" in answered[0].detail
    assert [p.id for p in rest] == ["ntp", "lon"]
    assert [t.port for t in recorder.waves[0][0].udp] == [2541]  # 123 is the SNTP probe's
    (only,) = facts.scans
    assert [(f.port, f.state) for f in only.udp] == [(123, "open"), (2541, "open|filtered")]


def test_the_second_wave_scans_the_other_addresses_and_only_new_udp_ports(recorder: Recorder) -> None:
    with ThreadPoolExecutor(2) as pool:
        scan = DeviceScan(ScanOptions(), pool)
        scan.start(ADDRESS, [UdpTarget(2541)])
        scan.extend([ADDRESS, OTHER], [UdpTarget(2541), UdpTarget(5353)])
        facts = scan.result([])
    second = {r.address: r for r in recorder.waves[1]}
    assert second[OTHER].tcp == Intervals.of((1, 65535))
    assert not second[ADDRESS].tcp and [t.port for t in second[ADDRESS].udp] == [5353]
    first = next(s for s in facts.scans if s.address == ADDRESS)
    assert [f.port for f in first.udp] == [2541, 5353] and first.tcp_scanned == Intervals.of((1, 65535))


def test_a_failed_scan_answers_no_probe_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    failing = Recorder(fail=True)
    monkeypatch.setattr(scan_step, "plan_requests", failing.plan)
    monkeypatch.setattr(scan_step, "scan_addresses", failing.scan)
    with ThreadPoolExecutor(2) as pool:
        scan = DeviceScan(ScanOptions(), pool)
        scan.start(ADDRESS, [])
        answered, rest = scan.answer_tcp(PROBES)
        facts = scan.result([])
    assert answered == [] and rest == PROBES  # sent as without a scan
    assert facts.errors == {ADDRESS: "nmap exited with status 1"}


def test_the_udp_ports_named_include_what_the_kernel_lets_in_beyond_ufw() -> None:
    """A raw accept ufw does not list (in front of a listener ss may not show) is scanned; a
    kernel span wider than the UDP limit is not (a sweep of it would take hours)."""
    user = (DATA / "ufw" / "smartserver-all.user.rules").read_text()
    raw = "-A INPUT -p udp -m udp --dport 9999 -j ACCEPT"
    wide = "-A INPUT -p udp -m udp --dport 20000:40000 -j ACCEPT"
    named = named_udp(smartserver(iptables=ufw_save(user, first=(raw, wide))))
    assert 9999 in named and 20000 not in named and 30000 not in named
    assert 9999 not in named_udp(smartserver(iptables=ufw_save(user)))
