"""`portspec diff`: regressions, fixes and device changes between two results files (plain data)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import resultstools as rt

from pytest_portspec.cli import main

SS_OLD = 'tcp LISTEN 0 64 0.0.0.0:443 0.0.0.0:* users:(("nginx",pid=1,fd=3))'
SS_NEW = SS_OLD + '\ntcp LISTEN 0 64 0.0.0.0:8080 0.0.0.0:* users:(("java",pid=2,fd=3))'


def results(
    outcomes: dict[str, str], rules: list[str], sockets: str, error: str | None = None
) -> dict[str, Any]:
    label = "smartserver[enhanced]@198.18.1.2"
    ufw = [{"rule": r, "line": f"### tuple ### {r}", "kind": "documented", "explanation": ""} for r in rules]
    entry = rt.device(label, error=error, ufw_rules=ufw, snapshot={"sockets": sockets})
    checks = [(*key.split("::"), outcome) for key, outcome in outcomes.items()]
    items = [rt.result(label, key, check, outcome) for key, check, outcome in checks]
    return rt.results([entry], items)


def write(tmp_path: Path, name: str, data: dict[str, Any]) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["diff", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_regression_a_fix_and_device_changes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = results(
        {"in-502-tcp::ufw": "passed", "in-2541-tcp::ufw": "failed", "exposure::exposure": "passed"},
        ["22/tcp ALLOW IN Anywhere", "2541/tcp ALLOW IN Anywhere"],
        SS_OLD,
    )
    new = results(
        {"in-502-tcp::ufw": "failed", "in-2541-tcp::ufw": "passed", "exposure::exposure": "passed"},
        ["22/tcp ALLOW IN Anywhere", "502/tcp ALLOW IN Anywhere", "2541/tcp ALLOW IN Anywhere"],
        SS_NEW,
    )
    code, out, _ = run(capsys, write(tmp_path, "old.json", old), write(tmp_path, "new.json", new))
    assert code == 1
    assert out.splitlines()[0] == "REGRESSED: 1 item(s) newly failing"
    assert (
        "smartserver[enhanced]@198.18.1.2::in-502-tcp::ufw: passed -> failed "
        "(permitted-by-ufw: ufw permits inbound 502/tcp)"
    ) in out
    assert "smartserver[enhanced]@198.18.1.2::in-2541-tcp::ufw: failed -> passed" in out
    assert "+ ufw rule   502/tcp ALLOW IN Anywhere" in out
    assert "+ listening  tcp 0.0.0.0:8080 (java, not checked)" in out  # a results file has no processes


def test_unchanged_runs_exit_0_and_json_is_available(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    same = results({"in-502-tcp::ufw": "passed"}, ["22/tcp ALLOW IN Anywhere"], SS_OLD)
    code, out, _ = run(
        capsys, write(tmp_path, "a.json", same), write(tmp_path, "b.json", same), "--format", "json"
    )
    assert code == 0
    assert json.loads(out) == {
        "regressed": False,
        "regressions": [],
        "fixed": [],
        "dropped": [],
        "devices": [],
    }


def test_a_device_that_can_no_longer_be_checked_is_a_regression(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = results({"in-502-tcp::ufw": "passed"}, [], SS_OLD)
    new = results({"in-502-tcp::ufw": "error"}, [], "", error="198.18.1.2:22 refused the SSH connection")
    code, out, _ = run(capsys, write(tmp_path, "old.json", old), write(tmp_path, "new.json", new))
    assert code == 1
    assert "device error: none -> 198.18.1.2:22 refused the SSH connection" in out


def test_a_file_that_is_not_a_results_file_is_one_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write(tmp_path, "good.json", results({}, [], ""))
    code, _, err = run(capsys, write(tmp_path, "bad.json", {"hello": 1}), good)
    assert code == 2
    assert err.strip().endswith(
        "bad.json: not a portspec results file (no format key; --portspec-json writes one)"
    )
    code, _, err = run(capsys, str(tmp_path / "missing.json"), good)
    assert code == 2 and "cannot read the results file" in err
