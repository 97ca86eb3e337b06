"""nmap's command line and its XML read into an AddressScan: real output captured from nmap 7.93
(tests/data/nmap/README.md says how), public test data, and hostile variants of them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_probe_outbound import closed_port, tcp_listener

from pytest_portspec.firewall.intervals import Intervals
from pytest_portspec.scan.model import AddressScan, ScanError, ScanRequest, UdpTarget
from pytest_portspec.scan.nmap import nmap_argv, nmap_seconds, scan_nmap
from pytest_portspec.scan.nmap_xml import parse_nmap_xml

DATA = Path(__file__).parent / "data" / "nmap"
LISTENED = Intervals.of((18000, 18100))


def parse(name: str, request: ScanRequest) -> AddressScan:
    return parse_nmap_xml((DATA / name).read_text(encoding="utf-8"), request, "nmap -sS", "nmap ...", 1.0)


def test_a_syn_and_udp_scan_gives_open_closed_and_silent_ports() -> None:
    udp = (UdpTarget(18123), UdpTarget(18124), UdpTarget(18125))
    scan = parse("root-sS-sU-127.0.0.1.xml", ScanRequest("127.0.0.1", LISTENED, udp))
    assert [(f.port, f.reason, f.detail) for f in scan.tcp_open] == [
        (18022, "syn-ack", ""),
        (18080, "syn-ack", "unknown"),
    ]
    assert scan.tcp_closed == LISTENED - Intervals.of((18022, 18022), (18080, 18080))
    assert [(f.port, f.state, f.reason) for f in scan.udp] == [
        (18123, "open", "udp-response"),
        (18124, "open|filtered", "no-response"),
        (18125, "closed", "port-unreach"),
    ]
    assert scan.state("tcp", 18050) == "closed" and scan.state("tcp", 9) is None


def test_ports_and_hosts_nmap_reports_that_were_not_asked_are_ignored() -> None:
    scan = parse("root-sS-sU-127.0.0.1.xml", ScanRequest("127.0.0.1", Intervals.of((18000, 18050))))
    assert [f.port for f in scan.tcp_open] == [18022]
    assert scan.tcp_closed.issubset(Intervals.of((18000, 18050))) and scan.udp == ()
    with pytest.raises(ScanError, match=r"no result for 127\.0\.0\.2"):
        parse("root-sS-sU-127.0.0.1.xml", ScanRequest("127.0.0.2", LISTENED))


def test_a_connect_scan_and_an_ipv6_scan_are_read_alike() -> None:
    scan = parse("sT-127.0.0.1.xml", ScanRequest("127.0.0.1", LISTENED))
    assert [f.port for f in scan.tcp_open] == [18022, 18080] and scan.tcp_closed.size() == 99
    six = parse("sS-ipv6-loopback.xml", ScanRequest("0:0::1", LISTENED))  # nmap writes "::1"
    assert [f.port for f in six.tcp_open] == [18022] and six.tcp_closed.size() == 100


def test_a_full_sweep_and_a_host_that_drops_everything() -> None:
    full = parse("sS-all-ports-127.0.0.1.xml", ScanRequest("127.0.0.1"))
    assert [f.port for f in full.tcp_open] == [2024, 18022, 18080] and full.tcp_closed.size() == 65532
    assert full.tcp_open[0].detail == "xinuexpansion4"  # nmap's name for the port, from its table
    dropped = parse("sS-all-filtered-drop-namespace.xml", ScanRequest("198.18.250.1"))
    assert dropped.tcp_open == () and not dropped.tcp_closed and dropped.state("tcp", 22) == "filtered"


def test_nmap_giving_up_on_the_host_or_failing_is_an_error_naming_the_address() -> None:
    with pytest.raises(ScanError, match=r"nmap gave up on 198\.18\.250\.1 at its host timeout"):
        parse("sS-host-timeout-drop-namespace.xml", ScanRequest("198.18.250.1"))
    with pytest.raises(ScanError, match=r"nmap failed on 127\.0\.0\.1: Ports specified must be between"):
        parse("error-bad-port.xml", ScanRequest("127.0.0.1"))


def test_public_output_with_service_detection_and_unnamed_closed_ports() -> None:
    """python-libnmap's sample (nmap 7.91): closed ports summarised without naming them stay
    unknown, which is no error; the open ones are all there. Unknown is not filtered: a port the
    sweep did not name is not "looked at" (state None), so no inbound probe is answered from it
    (a blocked port that resets would otherwise read as a timeout, a pass)."""
    scan = parse("libnmap-extra_ports.xml", ScanRequest("172.28.1.3"))
    assert len(scan.tcp_open) == 16 and not scan.tcp_closed
    assert scan.state("tcp", 80) == "open" and scan.state("tcp", 502) is None
    assert {f.port: f.detail for f in scan.tcp_open}[80] == "http"


def hostile(name: str, old: str, new: str) -> str:
    text = (DATA / name).read_text(encoding="utf-8")
    assert old in text
    return text.replace(old, new)


def test_what_a_scanned_port_says_is_made_printable_and_clipped() -> None:
    text = hostile("sT-127.0.0.1.xml", 'name="unknown"', 'name="x&#xa;\u202e' + "y" * 500 + '"')
    scan = parse_nmap_xml(text, ScanRequest("127.0.0.1", LISTENED), "nmap -sT", "", 1.0)
    detail = scan.tcp_open[1].detail
    assert detail.startswith("x\\n\\u202eyyy") and detail.isprintable() and len(detail) < 140


@pytest.mark.parametrize(
    ("old", "new", "error"),
    [
        ("<nmaprun ", "<nmaprun", "is not XML"),
        ("<!DOCTYPE nmaprun>", '<!DOCTYPE nmaprun [<!ENTITY x "y">]>', "declares an XML entity"),
        ('<extraports state="closed"', '<extraports state="open"', "summarised 99 open tcp ports"),
    ],
)
def test_unreadable_output_is_an_error(old: str, new: str, error: str) -> None:
    text = hostile("sT-127.0.0.1.xml", old, new)
    if "summarised" in error:  # an open summary without the ports named cannot be read
        text = text.replace(' ports="18000-18021,18023-18079,18081-18100"', "")
    with pytest.raises(ScanError, match=error):
        parse_nmap_xml(text, ScanRequest("127.0.0.1", LISTENED), "nmap -sT", "", 1.0)


def test_the_command_line_as_root_and_not() -> None:
    request = ScanRequest("198.18.0.5", udp=(UdpTarget(123), UdpTarget(47808, "sntp")), rate=500)
    argv = nmap_argv("/usr/bin/nmap", request, root=True)
    assert argv[:6] == ["/usr/bin/nmap", "-n", "-Pn", "--reason", "-oX", "-"]
    assert "-sS" in argv and "-sU" in argv and argv[argv.index("-p") + 1] == "T:1-65535,U:123"
    assert argv[argv.index("--max-rate") + 1] == "500" and argv[-2:] == ["--", "198.18.0.5"]
    assert argv[argv.index("--host-timeout") + 1] == f"{int(nmap_seconds(request)) + 1}s"
    user = nmap_argv("nmap", request, root=False)
    assert "-sT" in user and "-sU" not in user and user[user.index("-p") + 1] == "T:1-65535"
    assert nmap_argv("nmap", ScanRequest("2001:2::5"), root=True)[-3:] == ["-6", "--", "2001:2::5"]


@pytest.mark.parametrize(
    "request_",
    [
        ScanRequest("-oN/tmp/x"),
        ScanRequest("198.18.0.5", rate=float("inf")),
        ScanRequest("198.18.0.5", timeout=0),
    ],
)
def test_values_that_do_not_belong_on_the_command_line_are_refused(request_: ScanRequest) -> None:
    with pytest.raises(ScanError):
        nmap_argv("nmap", request_, root=True)


def test_nmap_scans_listeners_on_loopback() -> None:
    """nmap is installed here and in CI: no skip when it is missing (that would hide a failure)."""
    closed = closed_port()
    with tcp_listener() as port:
        request = ScanRequest("127.0.0.1", Intervals.of((port, port), (closed, closed)), rate=1000)
        scan = scan_nmap(request)
    assert scan.scanner == ("nmap -sS" if os.geteuid() == 0 else "nmap -sT")
    assert [f.port for f in scan.tcp_open] == [port] and closed in scan.tcp_closed
    assert scan.command.startswith("/") and "--max-rate 1000" in scan.command
