"""The built-in connect scanner against listeners on 127.0.0.1 (nothing leaves loopback), its
pacing proved with a fake clock, and the UDP requests only a scan sends."""

from __future__ import annotations

import errno
import socket
import struct
from contextlib import ExitStack
from pathlib import Path

import pytest
from test_probe_outbound import closed_port, silent_udp, tcp_black_hole, tcp_listener, udp_server

from pytest_portspec.firewall.intervals import Intervals
from pytest_portspec.lab.services import sntp_reply
from pytest_portspec.scan.connect import Sockets, scan_connect, shared_sockets
from pytest_portspec.scan.model import ScanError, ScanRequest, UdpTarget
from pytest_portspec.scan.pacing import BURST, Pacer, socket_budget
from pytest_portspec.scan.udp_payloads import mdns_check, mdns_request, snmp_check, snmp_request

LOOPBACK = "127.0.0.1"
DATA = Path(__file__).parent / "data" / "udp"


def ports(*numbers: int) -> Intervals:
    return Intervals.merged((n, n) for n in numbers)


def test_tcp_open_closed_and_filtered() -> None:
    closed = closed_port()
    with tcp_listener() as listening, tcp_black_hole() as dropping:
        scan = scan_connect(ScanRequest(LOOPBACK, ports(listening, closed, dropping), timeout=0.5))
    assert scan.scanner == "connect" and scan.command == ""
    assert [(f.port, f.state, f.reason) for f in scan.tcp_open] == [(listening, "open", "syn-ack")]
    assert scan.state("tcp", closed) == "closed" and scan.state("tcp", dropping) == "filtered"


def test_a_sweep_of_many_ports_finds_the_one_listener() -> None:
    with tcp_listener() as listening:
        low = max(listening - 2000, 1)
        scan = scan_connect(ScanRequest(LOOPBACK, Intervals.of((low, low + 3999)), rate=20000))
    assert listening in [f.port for f in scan.tcp_open]
    assert scan.tcp_closed.size() + len(scan.tcp_open) == 4000  # loopback answers every port


def test_udp_reply_wrong_reply_silence_and_unreachable() -> None:
    closed = closed_port(socket.SOCK_DGRAM)
    with udp_server(sntp_reply) as sntp, udp_server(lambda d: b"junk") as junk, silent_udp() as silent:
        targets = (
            UdpTarget(sntp.port, "sntp"),
            UdpTarget(junk.port, "sntp"),
            UdpTarget(silent),
            UdpTarget(closed),
        )
        scan = scan_connect(ScanRequest(LOOPBACK, Intervals(), targets, timeout=1.5))
    found = {f.port: f for f in scan.udp}
    assert found[sntp.port].state == "open" and found[sntp.port].detail.startswith("SNTP reply (stratum")
    assert found[junk.port].state == "open" and found[junk.port].detail.startswith("answered, not SNTP")
    assert (found[silent].state, found[silent].reason) == ("open|filtered", "no-response")
    assert (found[closed].state, found[closed].reason) == ("closed", "port-unreach")


def test_a_port_without_a_known_protocol_gets_an_empty_datagram() -> None:
    with udp_server(lambda d: b"ok" if d == b"" else None) as server:
        scan = scan_connect(ScanRequest(LOOPBACK, Intervals(), (UdpTarget(server.port),), timeout=3.0))
    assert scan.udp[0].state == "open" and scan.udp[0].detail == "a reply (2 bytes) to an empty datagram"


def test_many_exchanges_at_once_keep_their_own_replies() -> None:
    """Silent ports time out while answering ones reply, all at once and three times over (the
    sockets' descriptor numbers are reused): every reply reaches its own exchange."""
    with ExitStack() as stack:
        answering = [stack.enter_context(udp_server(lambda d: b"ok")).port for _ in range(8)]
        silent = [stack.enter_context(silent_udp()) for _ in range(24)]
        targets = tuple(UdpTarget(port) for port in answering + silent)
        for _ in range(3):
            scan = scan_connect(ScanRequest(LOOPBACK, Intervals(), targets, timeout=0.9, rate=20000))
            states = {f.port: f.state for f in scan.udp}
            assert [states[p] for p in answering] == ["open"] * len(answering)
            assert [states[p] for p in silent] == ["open|filtered"] * len(silent)


def paced(rate: float, steps: list[float], rounds: int) -> tuple[list[float], float]:
    """The start time of every probe a pacer grants while a fake clock moves in `steps`."""
    now = [0.0]
    pacer = Pacer(rate, clock=lambda: now[0])
    starts: list[float] = []
    for i in range(rounds):
        starts += [now[0]] * pacer.take(50)
        now[0] += steps[i % len(steps)]
    return starts, now[0]


def most_in_one_second(starts: list[float]) -> int:
    end, most = 0, 0
    for begin, started in enumerate(starts):  # the window of one second from each start
        while end < len(starts) and starts[end] < started + 1.0:
            end += 1
        most = max(most, end - begin)
    return most


def test_the_pacer_never_lets_more_than_rate_probes_start_in_any_second() -> None:
    """A fake clock moves in uneven steps (bursts after long pauses included): no window of one
    second holds more than `rate` of the probes granted."""
    uneven = [0.0001, 0.003, 0.0007, 0.02, 0.25, 0.0002, 0.9]
    assert most_in_one_second(paced(1000.0, uneven, 20000)[0]) <= 1000
    assert most_in_one_second(paced(10.0, uneven, 2000)[0]) <= 10  # a bucket of one probe


def test_the_pacer_uses_the_rate_when_it_is_asked_often() -> None:
    starts, elapsed = paced(1000.0, [0.0001, 0.003, 0.0007, 0.002], 20000)
    assert most_in_one_second(starts) <= 1000
    assert len(starts) >= 1000 * (1 - BURST) * elapsed * 0.99


def test_the_pacer_says_how_long_until_the_next_probe() -> None:
    now = [0.0]
    pacer = Pacer(10.0, clock=lambda: now[0])
    assert pacer.take(5) == 1 and pacer.take(1) == 0
    assert pacer.wait() == pytest.approx(1 / (10 * (1 - BURST)))
    now[0] += pacer.wait()
    assert pacer.take(1) == 1


def test_the_socket_budget_leaves_a_margin_of_the_descriptor_limit() -> None:
    import resource

    assert 16 <= socket_budget() < resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def test_the_mdns_request_is_the_dns_sd_meta_query_and_a_reply_to_it_is_recognised() -> None:
    request = mdns_request(0x1234)
    assert b"\x09_services\x07_dns-sd\x04_udp\x05local\x00\x00\x0c\x00\x01" in request
    assert mdns_check(request, struct.pack("!HHHHHH", 0x1234, 0x8400, 1, 2, 0, 0)) == (True, "2 answers")
    assert mdns_check(request, struct.pack("!HHHHHH", 0x9999, 0x8400, 1, 2, 0, 0))[0] is False


def test_the_snmp_request_is_a_v2c_get_of_sys_descr_and_a_response_to_it_is_recognised() -> None:
    request = snmp_request(5)
    assert request.hex() == (
        "302902010104067075626c6963a01c020400000005020100020100300e300c06082b060102010101000500"
    )
    response = request.replace(b"\xa0\x1c", b"\xa2\x1c")
    assert snmp_check(request, response) == (True, "SNMP v2c GetResponse")
    assert snmp_check(request, response.replace(b"\x00\x00\x00\x05", b"\x00\x00\x00\x06"))[0] is False
    assert snmp_check(request, b"\x30\x84\xff\xff")[0] is False  # a length past the datagram


def test_a_getresponse_built_by_pysnmp_is_recognised() -> None:
    """pysnmp decoded our request and answered it (tests/data/udp/README.md): long-form lengths."""
    reply = bytes.fromhex((DATA / "snmp-getresponse-pysnmp.hex").read_text().strip())
    assert snmp_check(snmp_request(123456), reply) == (True, "SNMP v2c GetResponse")
    assert snmp_check(snmp_request(123457), reply) == (False, "it answers another request id")


def test_a_local_error_fails_the_scan_instead_of_passing_for_filtered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """EPERM (the tester's own firewall) says nothing of the device and could hide an open port."""

    class Forbidden(socket.socket):
        def connect_ex(self, address: tuple[str, int]) -> int:  # type: ignore[override]
            return errno.EPERM if address[1] == 7 else super().connect_ex(address)

    monkeypatch.setattr(socket, "socket", Forbidden)
    with pytest.raises(ScanError, match="failed at TCP port 7 with a local error, EPERM"):
        scan_connect(ScanRequest(LOOPBACK, ports(7), timeout=0.3))


def test_a_port_whose_first_syn_is_lost_is_found_open_by_the_second_sweep(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first connect to the listener goes to a black hole instead (a SYN lost on the way):
    the ports that stayed silent are swept once more, so the open port is not hidden."""
    tries: dict[int, int] = {}
    with tcp_listener() as listening, tcp_black_hole() as dropping:

        class LossyOnce(socket.socket):
            def connect_ex(self, address: tuple[str, int]) -> int:  # type: ignore[override]
                tries[address[1]] = tries.get(address[1], 0) + 1
                lost = address[1] == listening and tries[listening] == 1
                return super().connect_ex((LOOPBACK, dropping) if lost else address)

        monkeypatch.setattr(socket, "socket", LossyOnce)
        scan = scan_connect(ScanRequest(LOOPBACK, ports(listening, dropping), timeout=0.5))
    assert [f.port for f in scan.tcp_open] == [listening] and tries == {listening: 2, dropping: 2}
    assert scan.state("tcp", dropping) == "filtered"


def test_every_sweep_of_the_process_shares_one_socket_budget() -> None:
    assert shared_sockets() is shared_sockets()
    budget = Sockets(10)
    budget.hold(8)
    assert budget.free() == 2
    budget.hold(-8)
    assert budget.free() == 10
