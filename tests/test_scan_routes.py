"""Which of a device's addresses the tester may scan, from routing tables captured on a tester
(tests/data/routes/README.md), and the requests planned from them."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_portspec.scan.model import UdpTarget
from pytest_portspec.scan.routes import parse_ipv4_routes, parse_ipv6_routes, scannable
from pytest_portspec.scan.run import plan_requests

DATA = Path(__file__).parent / "data" / "routes"
ROUTES = parse_ipv4_routes((DATA / "tester-route.txt").read_text(), "little") + parse_ipv6_routes(
    (DATA / "tester-ipv6_route.txt").read_text()
)


def test_the_tables_are_read() -> None:
    assert sorted(str(r.network) for r in ROUTES) == [
        "0.0.0.0/0",
        "192.0.2.0/24",
        "::/0",
        "fd00::/64",
        "fe80::/64",
        "ff00::/8",
    ]  # the local table's own addresses and the reject route on lo are left out


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("192.0.2.77", None),  # on the tester's link
        ("fd00::5", None),
        ("::ffff:192.0.2.77", None),
        ("10.1.2.3", "only through its default route"),  # private, behind the gateway
        ("fd00:1::5", "only through its default route"),
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("169.254.10.1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("224.0.0.251", "not a unicast address"),
        ("device.example", "not an IP address"),
    ],
)
def test_an_address_is_scanned_only_with_a_route_more_specific_than_the_default(
    address: str, why: str | None
) -> None:
    said = scannable(address, ROUTES)
    assert said is None if why is None else why in (said or "")


def test_without_a_route_at_all_nothing_is_scanned() -> None:
    assert scannable("192.0.2.77", []) == "the tester has no route to 192.0.2.77"


def test_a_table_with_lines_it_does_not_know_keeps_the_rest() -> None:
    text = (DATA / "tester-route.txt").read_text() + "eth9\tZZZZ\t0\t0003\n"
    assert len(parse_ipv4_routes(text, "little")) == 2


def test_the_plan_always_scans_the_connection_address_and_says_why_others_are_not() -> None:
    udp = (UdpTarget(123),)
    requests, skipped = plan_requests(
        "10.9.9.9",
        ["10.9.9.9", "192.0.2.77", "fe80::1", "10.1.2.3", "192.0.2.77"],
        udp,
        500,
        0.8,
        routes=ROUTES,
    )
    assert [(r.address, r.udp, r.rate, r.timeout) for r in requests] == [
        ("10.9.9.9", udp, 500, 0.8),  # reached only by the default route, but the run connects there
        ("192.0.2.77", udp, 500, 0.8),
    ]
    assert set(skipped) == {"fe80::1", "10.1.2.3"}
