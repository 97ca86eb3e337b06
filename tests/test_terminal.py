"""The terminal summary (report/terminal.py) reads a run's records: a line per device read and per
site, then what makes the run no sign-off (a missing proof, a partial run, a changed device)."""

from __future__ import annotations

import subprocess
import sys

import resultstools as rt

from pytest_portspec.outcome.records import Outcome
from pytest_portspec.report import terminal

A, B = "smartserver[enhanced]@198.18.1.2", "smartserver[enhanced]@198.18.1.3"
SITE = "voss@s"
UNREAD = {"remote_commands": 0, "read_only": None, "fingerprint": {"start": None, "end": None}}


def outcome(**run: object) -> Outcome:
    devices = [
        rt.device(A),
        rt.device(B, error="connection refused", **UNREAD),
        rt.device("smartserver[enhanced]@198.18.1.4", **UNREAD),  # not contacted: no line
        rt.site(SITE, rows=[rt.row("db", "node-to-node-27017-tcp", direction="node-to-node")]),
    ]
    items = [
        rt.result(A, "in-502-tcp", "ufw", "passed"),
        rt.result(A, "in-502-tcp", "listening", "failed"),
        rt.result(A, "in-22-tcp", "ufw", "not run"),
        rt.result(SITE, "app->db::27017-tcp", "pair", "error"),
    ]
    data = rt.results(devices, items, **run)
    data["unused_waivers"] = [{"where": "accept.yaml:3", "why": "matched nothing"}]
    return Outcome.from_json(data)


def test_each_device_read_and_each_site_has_a_line_and_a_device_never_read_has_none() -> None:
    assert terminal.summary(outcome()) == [
        (f"portspec {A}: 3 remote command(s), 2.5 s, 1 failed, 1 passed", False),
        (f"portspec {B}: 0 remote command(s), 2.5 s, error: connection refused", True),
        (f"portspec {SITE}: 1 node-to-node flow(s), 1 error", True),
        ("portspec: warning: unused waiver accept.yaml:3: matched nothing", False),
    ]


def test_a_missing_proof_a_partial_run_and_a_changed_device_are_bad_news() -> None:
    data = outcome(deselected=4, selection="-m ufw")
    changed = data.devices[0]
    proofless = rt.device(B, read_only=None, read_only_problem="sha256sum: not found")
    data = Outcome.from_json(
        data.to_json() | {"devices": [rt.device(A, read_only=False), proofless, changed.to_json()]}
    )
    lines = terminal.summary(data)
    assert (f"portspec {B}: the read-only proof could not be made: sha256sum: not found", True) in lines
    assert ("portspec: partial run, not a sign-off: 4 check(s) not selected (-m ufw)", True) in lines
    assert lines[-1] == (
        f"portspec {A}: SESSION ERROR: the device's firewall state changed during the run "
        "(ufw files or iptables rules differ from the start)",
        True,
    )
    assert terminal.changed(data) == [A]


def test_the_records_the_summary_and_the_report_data_import_no_pytest() -> None:
    code = (
        "import sys\n"
        "import pytest_portspec.outcome.read, pytest_portspec.outcome.diff, pytest_portspec.report.terminal\n"
        "print(sorted(m for m in ('pytest', 'paramiko', '_pytest') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
