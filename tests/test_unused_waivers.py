"""A waiver that accepted nothing is said, never silent: a misspelt row or device never matches.

Warned in the terminal (FILE:LINE and why), listed in the results file (`unused_waivers`) and in
the report's data; under pytest-xdist a waiver one worker used is used.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest
import resultstools as rt
from fakerun import fake_run

from pytest_portspec.checks.verdict import Verdict
from pytest_portspec.engine.waivers import apply_waivers, load_waivers, unused_waivers
from pytest_portspec.outcome.merge import merge
from pytest_portspec.outcome.records import Outcome
from pytest_portspec.report.data import build

WAIVERS = """\
waivers:
  - id: ssh-out
    port: 22/tcp
    check: ufw
    reason: The site's jump host.
    accepted_by: J. Owner
    expires: 2099-12-31
  - id: typo-row
    row: modbus-tpc
    reason: Misspelt.
    accepted_by: J. Owner
    expires: 2099-12-31
  - id: other-device
    row: modbus-tcp
    device: voss
    reason: A device this run does not have.
    accepted_by: J. Owner
    expires: 2099-12-31
  - id: nothing-failed
    row: modbus-tcp
    check: ufw
    reason: Modbus ufw rule, which is right tonight.
    accepted_by: J. Owner
    expires: 2099-12-31
"""
LABEL = "smartserver[enhanced]@127.0.0.1"
SSH_OUT = Verdict(
    key="out-22-tcp",
    check="ufw",
    outcome="failed",
    expected="",
    observed="",
    row="ssh",
    proto="tcp",
    ports="22",
)


def accept_file(tmp_path: Path) -> Path:
    path = tmp_path / "accept.yaml"
    path.write_text(WAIVERS, encoding="utf-8")
    return path


def expected(path: Path) -> list[dict[str, str]]:
    lines = WAIVERS.splitlines()
    where = {
        w: f"{path}:{lines.index(f'  - id: {w}') + 1}" for w in ("typo-row", "other-device", "nothing-failed")
    }
    return [
        {"where": where["typo-row"], "why": "no row modbus-tpc in spec smartserver"},
        {"where": where["other-device"], "why": "no device voss in this run"},
        {
            "where": where["nothing-failed"],
            "why": "matched nothing: no failure of this run was its to accept",
        },
    ]


def test_each_unused_waiver_says_why(tmp_path: Path) -> None:
    path = accept_file(tmp_path)
    waivers = load_waivers(path)
    used: set[str] = set()
    accepted = apply_waivers(waivers, LABEL, SSH_OUT, datetime.date(2026, 12, 3), used)
    assert accepted is not None and accepted.outcome == "accepted" and used == {"ssh-out"}
    rows = {LABEL: {"ssh", "modbus-tcp"}}
    found = unused_waivers(waivers, used, rows)
    assert [{"where": w, "why": why} for w, why in found] == expected(path)


def test_an_expired_waiver_that_met_its_failure_is_not_reported_unused(tmp_path: Path) -> None:
    waivers = load_waivers(accept_file(tmp_path))
    used: set[str] = set()
    apply_waivers(waivers, LABEL, SSH_OUT, datetime.date(2100, 1, 1), used)
    assert "ssh-out" in used


def test_the_report_data_carries_them() -> None:
    data = rt.results([rt.device(LABEL)], [rt.result(LABEL, "in-502-tcp", "ufw", "passed")])
    data["unused_waivers"] = [{"where": "accept.yaml:8", "why": "no row modbus-tpc in spec smartserver"}]
    report = build(Outcome.from_json(data), title="t", operator="o", created="c", tool_version="v")
    assert report.unused_waivers == [("accept.yaml:8", "no row modbus-tpc in spec smartserver")]
    assert report.accepted  # a warning, not a refusal: the failures it meant are reported as failed


def test_a_waiver_one_worker_used_is_used() -> None:
    unused = [
        {"where": "a.yaml:2", "why": "matched nothing"},
        {"where": "a.yaml:8", "why": "no row x in spec y"},
    ]
    controller = rt.results([], []) | {"unused_waivers": unused}  # it runs no item: nothing used
    used_on_1 = rt.results([], []) | {"unused_waivers": unused[1:]}
    idle_2 = rt.results([], []) | {"unused_waivers": unused}
    assert merge(controller, [used_on_1, idle_2])["unused_waivers"] == unused[1:]
    assert merge(controller, [])["unused_waivers"] == unused


def test_a_run_warns_of_unused_waivers_and_lists_them(pytester: pytest.Pytester, tmp_path: Path) -> None:
    path = accept_file(tmp_path)
    result, out = fake_run(pytester, "--accept", str(path))
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["unused_waivers"] == expected(path)
    result.stdout.fnmatch_lines(
        [f"portspec: warning: unused waiver {w['where']}: {w['why']}" for w in expected(path)],
        consecutive=True,
    )
    assert any(r["outcome"] == "accepted" for r in data["results"])  # ssh-out accepted its failure


def test_under_xdist_the_workers_use_of_waivers_is_merged(pytester: pytest.Pytester, tmp_path: Path) -> None:
    path = accept_file(tmp_path)
    _, out = fake_run(pytester, "--accept", str(path), "-n", "2")
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["unused_waivers"] == expected(path)
    assert any(r["outcome"] == "accepted" for r in data["results"])
