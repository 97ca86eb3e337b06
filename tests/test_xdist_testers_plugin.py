"""A tester per site through the plugin itself (fake devices, no lab): each device is checked by
its tester's worker, the merged results say which one, and a device that cannot be checked from
its tester is a usage error before anything is contacted."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from fakerun import CONFTEST

from pytest_portspec.outcome import read as resultsfile
from pytest_portspec.outcome.records import Outcome
from pytest_portspec.report import html
from pytest_portspec.report.data import build

INVENTORY = """site: mixed
devices:
  - {name: a1, spec: smartserver, host: 127.0.0.1, tester: tester-a}
  - {name: b1, spec: smartserver, host: 127.0.0.2, tester: tester-b}
  - {name: hq, spec: smartserver, host: 127.0.0.3}
"""
TX = ["-p", "xdist", "--tx", "popen//id=tester-a", "--tx", "popen//id=tester-b", "--tx", "popen"]


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makeconftest(CONFTEST)  # the fake device (fakerun.py)
    inventory = pytester.path / "site.yaml"
    inventory.write_text(INVENTORY, encoding="utf-8")
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--inventory={inventory}", *args)


def test_each_device_is_checked_by_its_testers_worker(pytester: pytest.Pytester) -> None:
    out = pytester.path / "results.json"
    result = run(pytester, *TX, "--dist", "loadgroup", "--portspec-json", str(out))
    assert result.ret in (0, 1), result.stdout.str()[-2000:]
    data = json.loads(Path(out).read_text(encoding="utf-8"))
    checked = {d["device"]: d.get("checked_from") for d in data["devices"]}
    assert checked == {
        "smartserver[enhanced]@a1": "tester-a",
        "smartserver[enhanced]@b1": "tester-b",
        "smartserver[enhanced]@hq": "gw0",  # names no tester: the worker that is none
    }
    assert all(r["outcome"] != "not run" for r in data["results"])  # merged: every item from its worker
    result.stdout.fnmatch_lines(
        ["portspec smartserver?enhanced?@b1: * remote command(s), * s on worker tester-b, *"]
    )
    jsonschema.validate(data, resultsfile.schema())  # the results file's published format
    outcome = Outcome.from_json(data)
    assert outcome.to_json()["devices"] == data["devices"]  # read back as written
    cover = html.cover(build(outcome, title="t", operator="", created="", tool_version=""))
    assert "checked from worker &#39;tester-a&#39; (its inbound probes left from there): " in cover
    assert "smartserver[enhanced]@a1</p>" in cover.split("tester-a")[1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            [],
            "*a1 names tester 'tester-a': its inbound probes must leave from that tester, not from this*",
        ),
        (
            ["-p", "xdist", "--tx", "popen//id=tester-a", "--tx", "popen", "--dist", "loadgroup"],
            "*b1 names tester 'tester-b', but no --tx worker has that id (workers: tester-a, gw0;*",
        ),
        (
            [*TX, "--dist", "load"],
            "*--dist load would send its items to any worker; run with --dist loadgroup*",
        ),
    ],
)
def test_a_device_that_cannot_be_checked_from_its_tester_stops_the_run(
    pytester: pytest.Pytester, args: list[str], message: str
) -> None:
    result = run(pytester, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
