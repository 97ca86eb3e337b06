"""The `portspec` command: exit codes, messages without tracebacks, the JSON contract."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_portspec.cli import main
from pytest_portspec.spec.catalog import packaged_spec_dir

ROW_KEYS = {
    "id",
    "key",
    "direction",
    "proto",
    "ports",
    "configurable",
    "action",
    "scope",
    "service",
    "process",
    "listener",
    "destinations",
    "reach",
    "sources",
    "condition",
    "role",
    "manual",
    "applies",
    "decision",
    "superseded_by",
    "blocked_ports",
    "note",
    "citation",
}
PROFILES = {
    "coppercube": ["fw-1.23", "fw-1.6", "pre-1.6"],
    "smartserver": ["enhanced", "standard"],
    "voss": ["cluster"],
    "digi-device-cloud": ["linux", "nds-ssl", "nds-legacy"],
    "syncsign-sops": ["internet", "lan"],
}


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def show_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    code, out, err = run(capsys, "show", *args, "--format", "json")
    assert (code, err) == (0, "")
    result = json.loads(out)
    assert isinstance(result, dict)
    return result


def test_lint_of_the_shipped_specs_is_clean_and_prints_the_documents_contradictions(
    capsys: pytest.CaptureFixture[str], vendor_docs: Path
) -> None:
    code, out, err = run(capsys, "lint", "--docs", str(vendor_docs))
    assert (code, err) == (0, "")
    assert "5 spec file(s), 0 problem(s)" in out
    assert "citations checked" in out
    notes = out.splitlines()
    required = {
        "smartserver": "2541/udp",
        "voss": "27019",
        "coppercube": "TCP",
    }
    for spec, word in required.items():
        assert any(f"note: {spec}: decision" in n and word in n for n in notes), spec
    assert any("note: coppercube: decision" in n and "5672" in n for n in notes)


def test_lint_reports_every_problem_with_file_and_line_and_exits_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    text = (packaged_spec_dir() / "smartserver.yaml").read_text(encoding="utf-8")
    text = text.replace("    ports: 502\n", "    ports: 5020000\n").replace("proto: udp", "proto: icmp", 1)
    bad = tmp_path / "smartserver.yaml"
    bad.write_text(text, encoding="utf-8")
    code, _, err = run(capsys, "lint", str(bad))
    assert code == 1
    lines = err.splitlines()
    assert any(
        f"{bad}:" in line and "ports: expected a port number 1-65535, found '5020000'" in line
        for line in lines
    )
    assert any("proto: expected one of tcp, udp, both, found str 'icmp'" in line for line in lines)
    assert "Traceback" not in err


def test_lint_without_docs_says_citations_were_not_checked(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PORTSPEC_DOCS", raising=False)
    code, out, _ = run(capsys, "lint", "--quiet")
    assert code == 0
    assert "citations not checked (no --docs)" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["show", "smartservr"], "portspec: error: no spec named 'smartservr' (did you mean 'smartserver'?)"),
        (
            ["show", "smartserver", "--profile", "enhnaced"],
            "portspec: error: spec 'smartserver' has no profile 'enhnaced' (did you mean 'enhanced'?)",
        ),
        (
            ["show", "smartserver", "--enable", "bacnett"],
            "portspec: error: spec 'smartserver' has no condition 'bacnett' (did you mean 'bacnet'?)",
        ),
        (["show", "voss", "--role", "db"], "portspec: error: spec 'voss' has no role 'db'"),
        (["show", "missing/spec.yaml"], "portspec: error: spec file missing/spec.yaml does not exist"),
        (["lint", "no-such-dir"], "portspec: error: no-such-dir: no such file or directory"),
    ],
)
def test_usage_mistakes_are_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, out, err = run(capsys, *args)
    assert code == 2
    assert out == ""
    assert err.startswith(message)
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(("spec", "profile"), [(s, p) for s, ps in PROFILES.items() for p in ps])
def test_show_json_is_one_object_in_the_documented_shape(
    capsys: pytest.CaptureFixture[str], spec: str, profile: str
) -> None:
    policy = show_json(capsys, spec, "--profile", profile, "--enable", "all")
    assert set(policy) == {
        "spec",
        "product",
        "revision",
        "source",
        "profile",
        "firmware",
        "role",
        "enabled",
        "conditions",
        "default",
        "rows",
        "notes",
    }
    assert (policy["spec"], policy["profile"]) == (spec, profile)
    assert set(policy["default"]) == {"in", "out", "citation", "dynamic"}
    assert policy["default"]["in"] in ("allow", "block", "unspecified")
    assert policy["rows"]
    for row in policy["rows"]:
        assert set(row) == ROW_KEYS
        assert row["direction"] in ("in", "out")
        assert row["proto"] in ("tcp", "udp")
        assert row["action"] in ("allow", "block", None)
        assert all(1 <= lo <= hi <= 65535 for lo, hi in row["ports"])
        assert set(row["citation"]) == {"doc", "quote", "reading"}
        assert row["citation"]["quote"]


@pytest.mark.parametrize("spec", list(PROFILES))
def test_show_json_lists_every_row_of_the_spec(capsys: pytest.CaptureFixture[str], spec: str) -> None:
    from pytest_portspec.spec.catalog import find_spec

    ids = [row.id for row in find_spec(spec).rows]
    policy = show_json(capsys, spec)
    assert sorted({r["id"] for r in policy["rows"]}) == sorted(ids)


def test_show_table_says_why_a_row_is_skipped(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "show", "smartserver")
    assert code == 0
    assert "profile: enhanced (Enhanced security)" in out
    assert "skipped: condition bacnet is off (default): pass --enable bacnet" in out
    assert "default: in block, out block" in out


def test_show_by_path_and_by_role(capsys: pytest.CaptureFixture[str]) -> None:
    policy = show_json(capsys, str(packaged_spec_dir() / "voss.yaml"), "--role", "database")
    assert policy["role"] == "database"
    assert {r["role"] for r in policy["rows"]} == {"database"}


def test_show_spec_dir_is_searched_before_the_packaged_specs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    text = (packaged_spec_dir() / "coppercube.yaml").read_text(encoding="utf-8")
    (tmp_path / "coppercube.yaml").write_text(
        text.replace("product: CopperCube", "product: Site copy"), encoding="utf-8"
    )
    policy = show_json(capsys, "coppercube", "--spec-dir", str(tmp_path))
    assert policy["product"] == "Site copy"


def test_show_firmware_selects_the_profile(capsys: pytest.CaptureFixture[str]) -> None:
    policy = show_json(capsys, "coppercube", "--firmware", "1.5")
    assert (policy["profile"], policy["firmware"]) == ("pre-1.6", "1.5")


def test_list_json_names_documents_profiles_conditions_and_row_counts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "list", "--format", "json")
    assert code == 0
    specs = {s["name"]: s for s in json.loads(out)}
    assert set(specs) == set(PROFILES)
    smart = specs["smartserver"]
    assert smart["source"]["doc"] == "001_1f41fa5c7f5e2425.txt"
    assert [p["name"] for p in smart["profiles"] if p["default"]] == ["enhanced"]
    assert {"name": "bacnet", "title": "BACnet server enabled", "default": False} in smart["conditions"]
    assert smart["rows"] == 36
    assert [r["name"] for r in specs["voss"]["roles"]] == ["webproxy", "application", "database", "unified"]


def test_the_console_script_is_installed() -> None:
    exe = shutil.which("portspec", path=str(Path(sys.executable).parent))
    assert exe is not None
    done = subprocess.run([exe, "list"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "smartserver" in done.stdout
