"""scan_addresses: the scanner chosen, addresses scanned at once, a failure one sentence in
ScanFacts.errors naming the address; against listeners on loopback only."""

from __future__ import annotations

import pytest
from test_probe_outbound import closed_port, tcp_listener

from pytest_portspec.firewall.intervals import Intervals
from pytest_portspec.scan.model import ScanRequest
from pytest_portspec.scan.run import scan_addresses, scan_seconds


def test_both_loopbacks_at_once_with_the_connect_scanner() -> None:
    closed = closed_port()
    with tcp_listener() as port:
        span = Intervals.of((port, port), (closed, closed))
        facts = scan_addresses([ScanRequest("127.0.0.1", span), ScanRequest("::1", span)], "connect")
    assert not facts.errors and [s.address for s in facts.scans] == ["127.0.0.1", "::1"]
    assert facts.scans[0].state("tcp", port) == "open" and facts.scans[1].state("tcp", port) == "closed"


def test_auto_uses_nmap_where_installed() -> None:
    with tcp_listener() as port:
        facts = scan_addresses([ScanRequest("127.0.0.1", Intervals.of((port, port)))])
    assert facts.scans[0].scanner.startswith("nmap") and facts.scans[0].state("tcp", port) == "open"


def test_nmap_asked_for_and_not_installed_is_an_error_for_every_address(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("shutil.which", lambda name: None)
    facts = scan_addresses([ScanRequest("127.0.0.1")], "nmap")
    assert facts.scans == () and "nmap is not installed" in facts.errors["127.0.0.1"]
    assert scan_addresses([ScanRequest("127.0.0.1", Intervals.of((1, 1)))]).scans[0].scanner == "connect"


def test_a_scan_past_its_deadline_is_stopped_and_said() -> None:
    facts = scan_addresses(
        [ScanRequest("127.0.0.1", Intervals.of((1, 2000)), rate=100)], "connect", deadline=0.5
    )
    assert facts.errors == {"127.0.0.1": "the scan of 127.0.0.1 ran longer than its 0.5 s budget: stopped"}


def test_the_time_budget_covers_every_probe_and_its_retry_at_the_rate() -> None:
    assert scan_seconds(ScanRequest("198.18.0.5", rate=1000)) > 2 * 65535 / 1000
    assert scan_seconds(ScanRequest("198.18.0.5", Intervals.of((22, 22)), rate=1000)) < 30


def test_a_name_instead_of_an_address_is_an_error_not_a_lookup_a_port() -> None:
    facts = scan_addresses([ScanRequest("localhost", Intervals.of((1, 1)))], "connect")
    assert facts.errors == {"localhost": "'localhost' is not an IP address: resolve it before scanning"}
