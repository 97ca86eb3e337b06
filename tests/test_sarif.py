"""SARIF 2.1.0 (--portspec-sarif, `portspec report --format sarif`): one result per failed or
errored item, against the spec row it breaks, valid against the official schema
(tests/data/sarif/, from oasis-tcs/sarif-spec)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import jsonschema
import pytest
import resultstools as rt
from fakerun import fake_run

from pytest_portspec.cli import main
from pytest_portspec.outcome.read import load_results
from pytest_portspec.outcome.records import Outcome
from pytest_portspec.report.explain import sentence
from pytest_portspec.report.sarif import AVAILABILITY, SpecSource, build
from pytest_portspec.spec.catalog import find_spec
from pytest_portspec.text import printable_lines

SCHEMA = json.loads(
    (Path(__file__).parent / "data/sarif/sarif-schema-2.1.0.json").read_text(encoding="utf-8")
)
VALIDATOR = jsonschema.Draft4Validator(SCHEMA, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)
DOCS = Path(__file__).parent.parent / "docs/plugin.md"
A = "smartserver[enhanced]@198.18.1.2"
SPEC = Path("/repo/specs/smartserver.yaml")
SOURCES = {"smartserver": SpecSource(SPEC, 1, {"modbus-tcp": 40, "ssh": 12}, 7)}
# the failure classes where the device lets in or serves what the document blocks or leaves out
EXPOSURE = {
    "permitted-by-ufw",
    "permitted-by-kernel",
    "undocumented-open",
    "unused-range-open",
    "forbidden-listener",
    "exposed-internal",
    "exposed",
    "cluster-open",
    "reachable",
    "device-error",  # results file only: the device could not be checked
}


def valid(log: dict[str, Any]) -> dict[str, Any]:
    """The log's one run, once the log is proven valid SARIF 2.1.0 (and its URIs URIs: the schema's
    `format: uri` needs a package jsonschema lacks here)."""
    errors = sorted(VALIDATOR.iter_errors(log), key=lambda e: list(e.absolute_path))
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]]
    json.dumps(log, allow_nan=False)
    (run,) = log["runs"]
    for result in run["results"]:
        for location in result["locations"]:
            artifact = location.get("physicalLocation", {}).get("artifactLocation")
            if artifact is not None:
                parsed = urlparse(artifact["uri"])
                assert parsed.scheme == ("" if "uriBaseId" in artifact else "file"), artifact
    return run


def by_nodeid(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["properties"]["nodeid"]: r for r in run["results"]}


def spec_file(artifact: dict[str, str], root: Path) -> Path:
    uri = unquote(urlparse(artifact["uri"]).path)
    return (root / uri if artifact.get("uriBaseId") == "%SRCROOT%" else Path(uri)).resolve()


def test_the_plugin_writes_each_failed_and_errored_item_against_its_spec_row(
    pytester: pytest.Pytester,
) -> None:
    run_result, out = fake_run(pytester, "--portspec-sarif", "reports/run.sarif")
    outcome = load_results(out)
    run = valid(json.loads((pytester.path / "reports/run.sarif").read_text(encoding="utf-8")))
    reported = {r.nodeid: r for r in outcome.results if r.outcome in ("failed", "error")}
    assert {"failed", "error", "passed", "skipped"} <= {r.outcome for r in outcome.results}
    assert set(by_nodeid(run)) == set(reported) and len(run["results"]) == len(reported)
    spec = find_spec("smartserver")
    lines = {row.id: row.line for row in spec.rows}
    terminal = run_result.stdout.str()
    for nodeid, found in by_nodeid(run).items():
        r = reported[nodeid]
        assert found["ruleId"] == r.key and run["tool"]["driver"]["rules"][found["ruleIndex"]]["id"] == r.key
        assert found["level"] == (
            "warning" if r.outcome == "failed" and r.failure_class in AVAILABILITY else "error"
        )
        assert found["message"]["text"] == sentence(r)
        assert printable_lines(found["message"]["text"]) in terminal  # the sentence the item printed
        physical = found["locations"][0]["physicalLocation"]
        assert spec_file(physical["artifactLocation"], pytester.path) == spec.path.resolve()
        line = lines[r.row] if r.row else spec.default.citation.line  # device items: the default policy
        assert physical["region"] == {"startLine": line}
        props = found["properties"]
        assert props["device"] == r.device and props["evidence"] == list(r.evidence)
        assert props["citation"] == (r.citation.to_json() if r.citation else None)
    levels = {f["properties"]["failureClass"]: f["level"] for f in run["results"]}
    assert levels["refused"] == "warning" and levels["permitted-by-kernel"] == levels["exposed"] == "error"
    assert run["invocations"][0]["executionSuccessful"] is True
    assert [rule["id"] for rule in run["tool"]["driver"]["rules"]] == list(
        dict.fromkeys(r.key for r in outcome.results)
    )

    # `portspec report --format sarif` says the same of the results file later, spec by name
    cli_out = pytester.path / "later.sarif"
    assert main(["report", str(out), "--format", "sarif", "-o", str(cli_out)]) == 0
    later = valid(json.loads(cli_out.read_text(encoding="utf-8")))
    assert later["results"] == run["results"] or _same_but_root(later, run, pytester.path)


def test_a_spec_in_the_rootdir_is_named_relative_to_it_for_code_scanning(pytester: pytest.Pytester) -> None:
    """The repository holding the site's specs: `specs/smartserver.yaml` under `%SRCROOT%`."""
    (pytester.path / "specs").mkdir()
    (pytester.path / "specs/smartserver.yaml").write_bytes(find_spec("smartserver").path.read_bytes())
    fake_run(pytester, "--spec-dir", "specs", "--portspec-sarif", "run.sarif")
    run = valid(json.loads((pytester.path / "run.sarif").read_text(encoding="utf-8")))
    assert run["originalUriBaseIds"] == {"%SRCROOT%": {"uri": pytester.path.as_uri() + "/"}}
    artifacts = {
        json.dumps(f["locations"][0]["physicalLocation"]["artifactLocation"]) for f in run["results"]
    }
    assert artifacts == {json.dumps({"uri": "specs/smartserver.yaml", "uriBaseId": "%SRCROOT%"})}


def _same_but_root(later: dict[str, Any], run: dict[str, Any], root: Path) -> bool:
    """The same results when read from another directory: only the spec's URI may differ."""
    for a, b in zip(later["results"], run["results"], strict=True):
        where_a = a["locations"][0].pop("physicalLocation")
        where_b = b["locations"][0].pop("physicalLocation")
        assert spec_file(where_a["artifactLocation"], Path.cwd()) == spec_file(
            where_b["artifactLocation"], root
        )
        assert where_a["region"] == where_b["region"] and a == b
    return True


def outcome_of(items: list[dict[str, Any]], **device: Any) -> Outcome:
    return Outcome.from_json(rt.results([rt.device(A, **device)], items))


def test_passes_skips_and_items_not_run_are_no_results_but_not_run_is_said() -> None:
    items = [
        rt.result(A, "in-502-tcp", "ufw", "passed"),
        rt.result(A, "in-502-tcp", "listening", "skipped"),
        {"nodeid": f"{A}::in-22-tcp::ufw", "device": A, "outcome": "not run", "key": "in-22-tcp",
         "check": "ufw", "failure_class": None, "observed": None},
    ]  # fmt: skip
    run = valid(build(outcome_of(items), SOURCES))
    assert run["results"] == []
    # the rules are the keys checked, met or not: a reader tells a requirement met from one not checked
    assert [rule["id"] for rule in run["tool"]["driver"]["rules"]] == ["in-502-tcp", "in-22-tcp"]
    invocation = run["invocations"][0]
    assert invocation["executionSuccessful"] is False
    assert [n["message"]["text"] for n in invocation["toolExecutionNotifications"]] == [
        "portspec: 1 item(s) not run: the run is not complete"
    ]


def test_a_partial_run_is_a_notification_not_a_clean_log() -> None:
    data = rt.results(
        [rt.device(A)], [rt.result(A, "in-502-tcp", "ufw", "passed")], deselected=3, selection="-m ufw"
    )
    run = valid(build(Outcome.from_json(data), SOURCES))
    notes = [n["message"]["text"] for n in run["invocations"][0]["toolExecutionNotifications"]]
    assert notes == ["portspec: partial run, not a sign-off: 3 check(s) not selected (-m ufw)"]
    assert run["invocations"][0]["properties"] == {"deselected": 3, "selection": "-m ufw"}


def test_an_accepted_deviation_is_a_suppressed_result_with_the_waivers_sentence() -> None:
    """Shown, as the report's sign-off block shows it, but suppressed: code scanning and DefectDojo
    then list it as accepted, not as an open finding."""
    note = "accepted deviation W-1 (site-a.yaml:3) by J. Engineer until 2027-01-01: Modbus for the SCADA"
    item = rt.result(A, "in-502-tcp", "ufw", "accepted", failure_class="permitted-by-ufw", notes=[note])
    (found,) = valid(build(outcome_of([item]), SOURCES))["results"]
    assert found["suppressions"] == [{"kind": "external", "status": "accepted", "justification": note}]
    assert found["level"] == "error" and "does not meet the vendor document" in found["message"]["text"]
    assert found["locations"][0]["physicalLocation"]["region"] == {"startLine": 40}


def test_a_device_that_cannot_be_checked_is_an_error_at_each_rows_line() -> None:
    error = "SSH authentication as admin failed on 198.18.1.2:22 (check --ssh-user and --ssh-key)"
    items = [
        {"nodeid": f"{A}::in-502-tcp::ufw", "device": A, "outcome": "error", "key": "in-502-tcp",
         "check": "ufw", "failure_class": "device-error", "observed": error},
        {"nodeid": f"{A}::exposure::exposure", "device": A, "outcome": "error", "key": "exposure",
         "check": "exposure", "failure_class": "device-error", "observed": error},
    ]  # fmt: skip
    run = valid(build(outcome_of(items, error=error), SOURCES))
    row, whole = run["results"]
    assert row["message"]["text"] == f"{A}: {error}" and row["level"] == whole["level"] == "error"
    assert row["locations"][0]["physicalLocation"]["region"] == {"startLine": 40}  # the key's row
    assert whole["locations"][0]["physicalLocation"]["region"] == {"startLine": 7}  # the default policy
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == ["in-502-tcp", "exposure"]


def test_a_spec_of_another_revision_gives_the_file_without_a_line() -> None:
    item = rt.result(A, "in-502-tcp", "ufw", "failed")
    (found,) = valid(build(outcome_of([item], spec_revision=2), SOURCES))["results"]
    assert found["locations"][0]["physicalLocation"] == {"artifactLocation": {"uri": SPEC.as_uri()}}


def test_a_spec_not_found_gives_a_logical_location_only() -> None:
    (found,) = valid(build(outcome_of([rt.result(A, "in-502-tcp", "ufw", "failed")]), {}))["results"]
    assert found["locations"] == [
        {"logicalLocations": [{"name": "modbus-tcp", "fullyQualifiedName": "smartserver/modbus-tcp"}]}
    ]


def test_portspec_report_writes_sarif_when_a_spec_is_not_found_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    label = "site-spec@198.18.1.2"  # a spec the run found in its --spec-dir, not given here
    data = rt.results([rt.device(label)], [rt.result(label, "in-502-tcp", "ufw", "failed")])
    (tmp_path / "results.json").write_text(json.dumps(data), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["report", "results.json", "--format", "sarif", "-o", "out/run.sarif"]) == 0
    assert capsys.readouterr().out == "out/run.sarif: 1 SARIF result(s)\n"
    (found,) = valid(json.loads((tmp_path / "out/run.sarif").read_text(encoding="utf-8")))["results"]
    assert found["locations"] == [
        {"logicalLocations": [{"name": "modbus-tcp", "fullyQualifiedName": "site-spec/modbus-tcp"}]}
    ]


def test_a_spec_in_the_repository_is_named_relative_to_it(tmp_path: Path) -> None:
    sources = {
        "smartserver": SpecSource(tmp_path / "site specs/../specs/smart server.yaml", 1, {"modbus-tcp": 4}, 1)
    }
    run = valid(build(outcome_of([rt.result(A, "in-502-tcp", "ufw", "failed")]), sources, tmp_path))
    artifact = run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert artifact == {"uri": "specs/smart%20server.yaml", "uriBaseId": "%SRCROOT%"}
    assert run["originalUriBaseIds"] == {"%SRCROOT%": {"uri": tmp_path.as_uri() + "/"}}


def test_the_same_row_failing_on_two_devices_is_two_findings() -> None:
    b = "smartserver[enhanced]@198.18.1.3"
    data = rt.results(
        [rt.device(A), rt.device(b)],
        [rt.result(A, "in-502-tcp", "ufw", "failed"), rt.result(b, "in-502-tcp", "ufw", "failed")],
    )
    run = valid(build(Outcome.from_json(data), SOURCES))
    first, second = run["results"]
    assert first["ruleId"] == second["ruleId"] == "in-502-tcp" and len(run["tool"]["driver"]["rules"]) == 1
    assert first["partialFingerprints"] != second["partialFingerprints"]


def test_a_site_flow_is_located_at_its_first_row() -> None:
    key = "application-1->database-1::27017-tcp"
    site = rt.site("voss@site-a", rows=[rt.row("app-db,db-app", key, direction="node-to-node")])
    flow = rt.result(
        "voss@site-a", key, "pair", "failed", row="app-db,db-app", failure_class="service-stopped"
    )
    flow |= {"nodeid": f"voss@site-a::{key}", "source": "application-1", "peer": "database-1"}
    sources = {"voss": SpecSource(Path("/repo/specs/voss.yaml"), 1, {"app-db": 30, "db-app": 50}, 3)}
    (found,) = valid(build(Outcome.from_json(rt.results([site], [flow])), sources))["results"]
    assert found["locations"][0]["physicalLocation"]["region"] == {"startLine": 30}
    assert found["level"] == "warning" and found["properties"]["peer"] == "database-1"


def test_huge_evidence_is_clipped_and_device_text_is_kept_as_data() -> None:
    hostile = "\x1b[2J<script>" + "x" * 5000
    item = rt.result(A, "in-502-tcp", "ufw", "failed", observed=hostile, evidence=[hostile] * 60)
    (found,) = valid(build(outcome_of([item]), SOURCES))["results"]
    evidence = found["properties"]["evidence"]
    assert len(evidence) == 51 and evidence[-1] == "… 10 more evidence line(s) in the results file"
    assert all(len(e) < 1100 for e in evidence) and evidence[0].startswith("\x1b[2J<script>")
    assert "(4012 more characters)" in found["properties"]["observed"]
    assert len(found["message"]["text"]) < 60_000


def test_every_documented_failure_class_has_a_deliberate_level() -> None:
    """A class of docs/plugin.md's table is an availability failure (warning) or an exposure
    (error): a new class must be placed, and one unknown to both is an error."""
    table = DOCS.read_text(encoding="utf-8").split("## Failure classes", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([a-z-]+)` \|", table, re.M))
    assert documented and documented == AVAILABILITY | EXPOSURE and not AVAILABILITY & EXPOSURE
    item = rt.result(A, "in-502-tcp", "ufw", "failed", failure_class="new-class")
    assert valid(build(outcome_of([item]), SOURCES))["results"][0]["level"] == "error"
