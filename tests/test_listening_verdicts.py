"""Listening verdicts from plain sockets: every port a row lists needs its listener."""

from __future__ import annotations

import pytest

from pytest_portspec.catalog import find_spec
from pytest_portspec.checks.context import Declarations, Facts
from pytest_portspec.checks.sockets import check_listening
from pytest_portspec.parse.sockets import Socket
from pytest_portspec.parse.ufw_rules import UfwState
from pytest_portspec.policy import effective_policy

INACTIVE = UfwState(False, "deny", "allow", "deny", (), False, "user.rules")


def listening(*ports: int, address: str = "0.0.0.0", process: str = "sops") -> Facts:
    sockets = tuple(
        Socket("tcp", address, port, ((process, 1),), None, f"tcp LISTEN {address}:{port} {process}")
        for port in ports
    )
    return Facts(ufw=INACTIVE, sockets=sockets)


@pytest.mark.parametrize(
    ("ports", "outcome", "observed"),
    [
        ((8443, 8883), "passed", "listens"),
        ((8443,), "failed", "nothing listens on 8883/tcp"),  # one of the two is not enough
        ((8883,), "failed", "nothing listens on 8443/tcp"),
        ((), "failed", "nothing listens on 8443,8883/tcp"),
    ],
)
def test_a_row_of_two_ports_needs_a_listener_on_each(
    ports: tuple[int, ...], outcome: str, observed: str
) -> None:
    """SyncSign SOPS's MQTT row: 8443 and 8883/tcp, listener required."""
    policy = effective_policy(find_spec("syncsign-sops"), profile="internet", role="sops")
    e = next(e for e in policy.rows if e.key == "in-8443,8883-tcp")
    assert e.listener == "required" and not e.row.configurable
    verdict = check_listening(e, listening(*ports, process=(e.row.process or ("sops",))[0]), Declarations())
    assert verdict.outcome == outcome and observed in verdict.observed, verdict.observed
    if outcome == "failed":
        assert verdict.failure_class == "not-listening"


def test_a_range_needs_one_listener_within_it() -> None:
    """A documented range is a pool: one listener anywhere in it serves the row."""
    policy = effective_policy(find_spec("smartserver"), enable=["lon"])
    e = next(e for e in policy.rows if e.key == "in-1628-1645-tcp")
    process = (e.row.process or ("lon",))[0]
    assert e.listener == "required"
    assert check_listening(e, listening(1630, process=process), Declarations()).outcome == "passed"
