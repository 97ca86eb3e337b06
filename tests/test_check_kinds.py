"""One registry of check kinds (checks/kinds.py) feeds every list of them: the plugin's markers, the
items collected, the verdicts, the waiver file's choices, the report's columns, the results schema.
A toy kind registered the way a new one is (its declaration, one registration) gets all of them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
from fakerun import CONFTEST

from pytest_portspec.checks import judge, kinds, planned
from pytest_portspec.checks.context import Declarations, Facts
from pytest_portspec.checks.kinds import CheckKind, RowCheck
from pytest_portspec.checks.verdict import Verdict, for_row
from pytest_portspec.engine.waivers import load_waivers
from pytest_portspec.errors import SpecError
from pytest_portspec.parse.ufw_rules import UfwState
from pytest_portspec.spec.catalog import find_spec
from pytest_portspec.spec.policy import Expectation, effective_policy

BUILT_IN = ("ufw", "listening", "outbound", "inbound", "exposure", "default", "pair")
SCHEMA = Path(__file__).parent.parent / "pytest_portspec" / "schema" / "results-v2.schema.json"


def _toy_applies(e: Expectation) -> bool:
    return e.side.direction == "in" and bool(e.row.ports)


def _toy_evaluate(e: Expectation, facts: Facts, declared: Declarations) -> Verdict:
    return for_row(e, "toy", "passed", "a toy requirement", f"{len(facts.sockets)} socket(s) seen")


TOY = RowCheck(applies=_toy_applies, evaluate=_toy_evaluate)


@pytest.fixture
def toy() -> Iterator[CheckKind]:
    kind = CheckKind("toy", "row", f"{__name__}:TOY")
    kinds.register(kind)
    yield kind
    kinds.unregister("toy")


def test_every_list_of_kinds_is_the_registry_in_its_order() -> None:
    from pytest_portspec.plugin import CHECKS

    assert kinds.names() == BUILT_IN and tuple(CHECKS) == BUILT_IN
    assert kinds.columns("row") == ("ufw", "listening", "outbound", "inbound")
    assert kinds.columns("site") == ("pair",)
    assert kinds.names("device") == ("exposure", "default")
    check = json.loads(SCHEMA.read_text(encoding="utf-8"))["$defs"]["check"]
    assert "enum" not in check  # a new kind needs no schema edit: the pattern takes every registered name
    assert check["pattern"] == f"^{kinds.NAME.pattern}$"  # every name the registry takes
    assert all(re.fullmatch(check["pattern"], name) for name in BUILT_IN)


def test_every_declaration_is_found_and_of_its_scope() -> None:
    for kind in kinds.registered():
        assert isinstance(kinds.declaration(kind), kinds.DECLARED[kind.scope])
    assert [(key, name) for key, name, _ in kinds.device_items()] == [
        ("default-in", "default"),
        ("default-out", "default"),
        ("exposure", "exposure"),
    ]


def test_a_kind_must_be_a_marker_name_with_a_declaration_of_its_scope() -> None:
    with pytest.raises(ValueError, match="lower-case name"):
        CheckKind("Port Check", "row", "pytest_portspec.checks.firewall:UFW")
    with pytest.raises(ValueError, match="MODULE:ATTRIBUTE"):
        CheckKind("icmp", "row", "pytest_portspec.checks.firewall.UFW")
    with pytest.raises(TypeError, match="is not a RowCheck"):
        kinds.declaration(CheckKind("icmp", "row", "pytest_portspec.checks.exposure:EXPOSURE"))
    with pytest.raises(ValueError, match="registered already"):
        kinds.register(CheckKind("ufw", "row", "pytest_portspec.checks.firewall:UFW"))


def test_a_registered_kind_is_planned_after_the_built_in_ones_and_judged(toy: CheckKind) -> None:
    policy = effective_policy(find_spec("coppercube"))
    items = [(key, check) for _, key, check in planned(policy)]
    by_row: dict[str, list[str]] = {}
    for key, check in items:
        by_row.setdefault(key, []).append(check)
    toy_rows = [e.key for e in policy.rows if _toy_applies(e)]
    assert toy_rows and [k for k, c in items if c == "toy"] == toy_rows
    assert all(by_row[key][-1] == "toy" for key in toy_rows)  # after the row's built-in checks
    assert items[-3:] == [("default-in", "default"), ("default-out", "default"), ("exposure", "exposure")]
    facts = Facts(ufw=UfwState(True, "deny", "deny", "disabled", (), True, "user.rules"), sockets=())
    verdicts = judge(policy, facts, Declarations()).verdicts
    for e in policy.rows:
        if _toy_applies(e):
            verdict = verdicts[(e.key, "toy")]
            judged = e.applies and not e.row.manual
            assert (verdict.outcome, verdict.observed) == ("passed", "0 socket(s) seen") or not judged
            assert verdict.outcome == "skipped" or judged


def test_a_registered_kind_is_a_waiver_choice(toy: CheckKind, tmp_path: Path) -> None:
    accept = tmp_path / "accept.yaml"
    text = "waivers:\n  - id: t\n    row: modbus-tcp\n    check: {}\n    reason: r\n    accepted_by: me\n"
    accept.write_text(text.format("toy") + "    expires: 2099-12-31\n", encoding="utf-8")
    assert [w.check for w in load_waivers(accept)] == ["toy"]
    accept.write_text(text.format("toi") + "    expires: 2099-12-31\n", encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load_waivers(accept)
    expected = f"expected one of {', '.join((*BUILT_IN, 'toy'))}, found str 'toi'"
    assert expected in info.value.problems[0].message


TOY_MODULE = """
from pytest_portspec.checks import kinds
from pytest_portspec.checks.verdict import for_row


def applies(e):
    return e.side.direction == "in" and bool(e.row.ports)


def evaluate(e, facts, declared):
    return for_row(e, "toy", "passed", "a toy requirement", f"{len(facts.sockets)} socket(s) seen")


TOY = kinds.RowCheck(applies=applies, evaluate=evaluate)
kinds.register(kinds.CheckKind("toy", "row", "toykind:TOY"))  # the one registration line
"""


def test_a_kind_registered_by_a_conftest_is_collected_marked_run_and_reported(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(toykind=TOY_MODULE)
    pytester.makeconftest("import toykind  # noqa: F401\n" + CONFTEST)
    accept = pytester.path / "accept.yaml"
    accept.write_text(
        "waivers:\n  - id: t\n    row: ssh\n    check: toy\n    reason: r\n    accepted_by: me\n"
        "    expires: 2099-12-31\n",
        encoding="utf-8",
    )
    out, html = pytester.path / "results.json", pytester.path / "report.html"
    result = pytester.runpytest_subprocess(
        *("-p", "no:cacheprovider", "--strict-markers", "-m", "toy", "--accept", str(accept)),
        *("--device", "smartserver@127.0.0.1", "--portspec-json", str(out), f"--html={html}"),
    )
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) > 5 and "failed" not in outcomes and "errors" not in outcomes, outcomes
    data = json.loads(out.read_text(encoding="utf-8"))
    jsonschema.validate(data, json.loads(SCHEMA.read_text(encoding="utf-8")))
    toys = [r for r in data["results"] if r["check"] == "toy"]
    assert all(r["nodeid"].endswith("::toy") for r in toys)
    assert {r["outcome"] for r in toys} == {"passed", "skipped"}  # skipped: rows not on this profile
    assert "<th>toy</th>" in html.read_text(encoding="utf-8").replace(" ", "")
