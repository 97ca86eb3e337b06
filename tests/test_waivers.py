"""Accepted deviations: validated like specs (file:line), applied as 'accepted', never as a pass."""

from __future__ import annotations

import datetime
import textwrap
from pathlib import Path

import pytest

from pytest_portspec.checks.verdict import Verdict
from pytest_portspec.engine.waivers import apply_waivers, load_waivers
from pytest_portspec.errors import SpecError

GOOD = """\
waivers:
  - id: modbus-bms
    row: modbus-tcp
    check: ufw
    reason: The BMS polls the SmartServer over Modbus TCP.
    accepted_by: J. Owner (site security)
    expires: 2027-03-31
  - id: old-java
    port: 8080/tcp
    device: smartserver
    reason: Vendor service tool, to be removed.
    accepted_by: J. Owner
    expires: 2026-01-31
"""

FAILED = Verdict(
    key="in-502-tcp",
    check="ufw",
    outcome="failed",
    expected="ufw must block inbound 502/tcp",
    observed="ufw permits it",
    failure_class="permitted-by-ufw",
    row="modbus-tcp",
    direction="in",
    proto="tcp",
    ports="502",
)
TODAY = datetime.date(2026, 11, 24)
DEVICE = "smartserver[enhanced]@198.18.1.2"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "accept.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_a_matching_waiver_makes_an_accepted_deviation(tmp_path: Path) -> None:
    waivers = load_waivers(write(tmp_path, GOOD))
    accepted = apply_waivers(waivers, DEVICE, FAILED, TODAY)
    assert accepted is not None and accepted.outcome == "accepted"
    assert accepted.failure_class == "permitted-by-ufw"
    assert accepted.notes[-1] == (
        "accepted deviation modbus-bms (The BMS polls the SmartServer over Modbus TCP.; "
        "accepted by J. Owner (site security) until 2027-03-31)"
    )


def test_an_expired_waiver_no_longer_applies_and_says_so(tmp_path: Path) -> None:
    waivers = load_waivers(write(tmp_path, GOOD))
    java = Verdict(
        key="exposure",
        check="exposure",
        outcome="failed",
        expected="",
        observed="java on 8080",
        proto="tcp",
        ports="8080",
    )
    still = apply_waivers(waivers, DEVICE, java, TODAY)
    assert still is not None and still.outcome == "failed"
    assert still.notes == ("waiver old-java expired on 2026-01-31: it no longer applies",)


def test_waivers_only_touch_failures_of_their_row_check_and_device(tmp_path: Path) -> None:
    waivers = load_waivers(write(tmp_path, GOOD))
    from dataclasses import replace

    assert apply_waivers(waivers, DEVICE, replace(FAILED, outcome="error"), TODAY) is None
    assert apply_waivers(waivers, DEVICE, replace(FAILED, check="inbound"), TODAY) is None
    assert apply_waivers(waivers, DEVICE, replace(FAILED, row="smtp"), TODAY) is None


@pytest.mark.parametrize(
    ("old", "new", "path", "message"),
    [
        (
            "expires: 2027-03-31",
            "expires: next spring",
            "waivers[0].expires",
            "expected a date such as 2027-03-31, found str 'next spring'",
        ),
        ("    row: modbus-tcp\n", "", "waivers[0]", "a waiver names exactly one of row or port"),
        (
            "port: 8080/tcp",
            "port: 8080",
            "waivers[1].port",
            "expected PORT/PROTO such as 502/tcp, found '8080'",
        ),
        ("check: ufw", "check: firewall", "waivers[0].check", "expected one of ufw, listening"),
        ("    accepted_by: J. Owner\n", "", "waivers[1].accepted_by", "missing required key"),
        ("reason: Vendor", "raeson: Vendor", "waivers[1].raeson", "unknown key (did you mean 'reason'?)"),
        ("id: old-java", "id: modbus-bms", "waivers[1].id", "duplicate waiver id 'modbus-bms'"),
    ],
)
def test_a_bad_waiver_file_names_file_line_and_problem(
    tmp_path: Path, old: str, new: str, path: str, message: str
) -> None:
    assert old in GOOD
    with pytest.raises(SpecError) as info:
        load_waivers(write(tmp_path, GOOD.replace(old, new, 1)))
    problems = [p for p in info.value.problems if p.path == path]
    assert problems and message in problems[0].message, [str(p) for p in info.value.problems]
    assert problems[0].line is not None and str(problems[0]).startswith(f"{tmp_path / 'accept.yaml'}:")


def test_a_node_to_node_flow_is_waived_by_its_spec_and_either_side_row(tmp_path: Path) -> None:
    waivers = load_waivers(
        write(
            tmp_path,
            """\
            waivers:
              - id: hub-http
                row: api-in
                check: pair
                device: syncsign-sops
                reason: Hubs use HTTPS only on this site.
                accepted_by: J. Owner
                expires: 2027-03-31
            """,
        )
    )
    flow = Verdict(
        key="hub-1->sops::80-tcp",
        check="pair",
        outcome="failed",
        expected="hub-1 reaches sops",
        observed="blocked",
        row="hub-api,api-in",
        proto="tcp",
        ports="80",
    )
    accepted = apply_waivers(waivers, "syncsign-sops@office-hq", flow, TODAY)
    assert accepted is not None and accepted.outcome == "accepted"
    assert apply_waivers(waivers, "voss@site-a", flow, TODAY) is None
