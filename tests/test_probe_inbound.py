"""Inbound probes: from this machine to servers started on loopback by the tests."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest
from test_probe_outbound import (
    LOOPBACK,
    bacnet_ack,
    closed_port,
    dns_answer,
    silent_udp,
    tcp_black_hole,
    tcp_listener,
    udp_server,
)

from pytest_portspec.lab.services import sntp_reply
from pytest_portspec.probe import InboundProbe, ProbeResult, probe_inbound


def by_id(results: list[ProbeResult]) -> dict[str, ProbeResult]:
    return {r.id: r for r in results}


def test_tcp_ok_refused_and_timeout() -> None:
    with tcp_listener() as port, tcp_black_hole() as dropped:
        closed = closed_port()
        results = by_id(
            probe_inbound(
                LOOPBACK,
                [
                    InboundProbe("open", "tcp", port),
                    InboundProbe("closed", "tcp", closed),
                    InboundProbe("dropped", "tcp", dropped),
                ],
                1.0,
            )
        )
    assert results["open"].outcome == "ok"
    assert results["open"].host == results["open"].address == LOOPBACK
    assert results["open"].addresses == (LOOPBACK,)
    assert results["closed"].outcome == "refused"
    assert results["dropped"].outcome == "timeout"
    assert results["dropped"].detail == f"no answer from {LOOPBACK}:{dropped} within 1.0 s"


def test_udp_exchanges() -> None:
    with (
        udp_server(sntp_reply) as ntp,
        udp_server(dns_answer) as dns,
        udp_server(bacnet_ack) as bacnet,
        udp_server(lambda request: b"garbage") as garbage,
        silent_udp() as silent,
    ):
        unreachable = closed_port(socket.SOCK_DGRAM)
        results = by_id(
            probe_inbound(
                LOOPBACK,
                [
                    InboundProbe("ntp", "udp", ntp.port, protocol="sntp"),
                    InboundProbe("dns", "udp", dns.port, protocol="dns"),
                    InboundProbe("bacnet", "udp", bacnet.port, protocol="bacnet"),
                    InboundProbe("garbage", "udp", garbage.port, protocol="sntp"),
                    InboundProbe("silent", "udp", silent, protocol="dns"),
                    InboundProbe("unreachable", "udp", unreachable, protocol="bacnet"),
                    InboundProbe("unknown", "udp", garbage.port),
                ],
                1.0,
            )
        )
    outcomes = {probe_id: result.outcome for probe_id, result in results.items()}
    assert outcomes == {
        "ntp": "ok",
        "dns": "ok",
        "bacnet": "ok",
        "garbage": "answered",
        "silent": "timeout",
        "unreachable": "refused",
        "unknown": "unverifiable",
    }
    assert results["ntp"].detail.startswith(f"SNTP reply from {LOOPBACK}:{ntp.port} in ")
    assert "not with a valid SNTP reply: too short for SNTP (7 bytes)" in results["garbage"].detail
    assert len(garbage.received) == 3  # three SNTP requests, nothing for the unknown protocol


def test_a_udp_port_that_answers_junk_has_answered_and_the_tester_did_not_fail() -> None:
    """A reply that is not the protocol's is an answer from the device ("answered"), never the
    tester's own failure ("error"): a Blocked 123/udp that echoes junk is reachable."""
    with udp_server(lambda request: b"\x17" * 48) as junk, udp_server(lambda request: request) as echo:
        results = by_id(
            probe_inbound(
                LOOPBACK,
                [
                    InboundProbe("junk", "udp", junk.port, protocol="sntp"),
                    InboundProbe("echo", "udp", echo.port, protocol="sntp"),
                ],
                1.0,
            )
        )
    for result in results.values():
        assert result.outcome == "answered", result
        assert result.address == LOOPBACK
        assert "answered, but not with a valid SNTP reply" in result.detail
    assert "mode 3 where a server reply has mode 4" in results["echo"].detail
    assert len(junk.received) == 3  # a valid reply may still follow junk: the exchange goes on


def test_probes_run_concurrently() -> None:
    with silent_udp() as port:
        started = time.monotonic()
        results = probe_inbound(
            LOOPBACK, [InboundProbe(f"p{i}", "udp", port, protocol="sntp") for i in range(10)], 1.0
        )
        elapsed = time.monotonic() - started
    assert [r.outcome for r in results] == ["timeout"] * 10
    assert elapsed < 5, f"10 probes of 1 s took {elapsed:.1f} s: not concurrent"


def test_ipv6_address() -> None:
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as listener:
        listener.bind(("::1", 0))
        listener.listen(4)
        (result,) = probe_inbound("::1", [InboundProbe("v6", "tcp", listener.getsockname()[1])], 1.0)
    assert result.outcome == "ok"
    assert result.detail.startswith("TCP connection to [::1]:")


@pytest.mark.parametrize("address", ["localhost", "example.com", "127.0.0.1; reboot", "300.1.1.1", "", None])
def test_the_address_must_be_an_ip(address: Any) -> None:
    with pytest.raises(ValueError, match="IP address"):
        probe_inbound(address, [InboundProbe("a", "tcp", 22)], 1.0)


def test_probes_and_timeout_are_validated() -> None:
    with pytest.raises(ValueError, match="port must be 1-65535"):
        InboundProbe("a", "tcp", 0)
    with pytest.raises(ValueError, match="not a UDP protocol"):
        InboundProbe("a", "tcp", 53, protocol="dns")
    with pytest.raises(ValueError, match="used twice"):
        probe_inbound(LOOPBACK, [InboundProbe("a", "tcp", 22), InboundProbe("a", "udp", 53)], 1.0)
    with pytest.raises(ValueError, match="timeout"):
        probe_inbound(LOOPBACK, [InboundProbe("a", "tcp", 22)], 0)
    assert probe_inbound(LOOPBACK, [], 1.0) == []
