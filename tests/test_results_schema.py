"""The results file is untrusted input when read back: checked against its published schema.

Every file the plugin writes validates; a crafted, truncated or foreign file is one sentence and
exit 2 for `portspec report` and `portspec diff` (never "no regression", never a traceback); and
`portspec report` gives ACCEPTED only to a file that proves it, never to one that says nothing.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import resultstools as rt
from fakerun import fake_run

from pytest_portspec.cli import main
from pytest_portspec.engine.results import SNAPSHOT_SECTIONS, capped
from pytest_portspec.outcome import read as resultsfile
from pytest_portspec.outcome.read import load_data, load_results
from pytest_portspec.outcome.records import Device, Outcome
from pytest_portspec.report.data import build

A = "smartserver[enhanced]@198.18.1.2"


def clean() -> dict[str, Any]:
    return rt.results([rt.device(A)], [rt.result(A, "in-502-tcp", "ufw", "passed")])


def write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


# --- the schema itself -------------------------------------------------------------------------


def test_the_schema_is_a_valid_draft_2020_12_schema_of_the_format_written() -> None:
    schema = resultsfile.schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["format"]["const"] == resultsfile.FORMAT
    assert f"results-v{resultsfile.FORMAT}.schema.json" == resultsfile.SCHEMA


def test_the_schema_ships_as_package_data() -> None:
    """pyproject's package-data names the schema, so an installed plugin can check what it reads."""
    config = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["pytest_portspec"]
    assert any(fnmatch.fnmatch(f"schema/{resultsfile.SCHEMA}", pattern) for pattern in patterns)
    assert any(d.startswith("jsonschema>=") for d in config["project"]["dependencies"])


def test_the_tests_own_results_files_are_valid() -> None:
    assert resultsfile.first_problem(clean()) is None
    site = rt.results([rt.device(A), rt.site("voss@site-a")], [])
    assert resultsfile.first_problem(site) is None


# --- files the plugin writes -------------------------------------------------------------------


def test_a_run_of_the_plugin_writes_a_valid_file_with_the_new_keys(pytester: pytest.Pytester) -> None:
    result, out = fake_run(pytester)
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    data = load_data(out)  # raises with the first problem if the writer and the schema disagree
    device = data["devices"][0]
    assert {"host_key_policy", "host_key_verified"} <= device.keys()
    assert "processes" in device["snapshot"] and data["unused_waivers"] == []


def test_a_partial_run_writes_a_valid_file_that_is_no_sign_off(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out = fake_run(pytester, "-m", "ufw and not outbound")
    assert load_results(out).run.deselected > 0
    code, said, _ = cli(capsys, "report", str(out), "-o", str(out.with_suffix(".html")))
    assert code == 0 and "NOT ACCEPTED" in said and "partial run" in said


def test_a_device_that_cannot_be_reached_writes_a_valid_file(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    out = pytester.path / "down.json"
    pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--device", "smartserver@127.0.0.1:1", "--portspec-json", str(out)
    )
    assert load_results(out).devices[0].error
    code, said, _ = cli(capsys, "report", str(out), "-o", str(out.with_suffix(".html")))
    assert code == 0 and "NOT ACCEPTED" in said


# --- crafted files: one sentence, exit 2, for report and diff ----------------------------------


def edit(change: Callable[[dict[str, Any]], None]) -> Callable[[Path], Path]:
    def make(path: Path) -> Path:
        data = clean()
        change(data)
        return write(path, data)

    return make


def raw(content: bytes) -> Callable[[Path], Path]:
    def make(path: Path) -> Path:
        path.write_bytes(content)
        return path

    return make


def sparse(path: Path) -> Path:
    with path.open("wb") as stream:
        stream.truncate(resultsfile.MAX_BYTES + 1)  # no disk used: the size is refused before reading
    return path


def set_key(where: str, key: str, value: object) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        data[where][0][key] = value

    return change


def drop_key(where: str, key: str) -> Callable[[dict[str, Any]], None]:
    return lambda data: data[where][0].pop(key)


def _format_1_without_proof(data: dict[str, Any]) -> None:
    data["format"] = 1
    del data["devices"][0]["fingerprint"]  # files from before the read-only proof


CRAFTED: list[tuple[str, Callable[[Path], Path], str]] = [
    ("missing-key", edit(drop_key("devices", "error")), "devices[0]: 'error' is a required property"),
    (
        "wrong-type",
        edit(set_key("devices", "error", 5)),
        "devices[0].error: 5 is not of type 'string', 'null'",
    ),
    (
        "outcome-enum",
        edit(set_key("results", "outcome", "pased")),
        "results[0].outcome: 'pased' is not one of",
    ),
    (
        "typo-key",
        edit(set_key("results", "outcom", "failed")),
        "results[0]: Additional properties are not allowed",
    ),
    (
        "read-only-text",
        edit(set_key("devices", "read_only", "yes")),
        "devices[0].read_only: 'yes' is not of type",
    ),
    (
        "huge-value",
        edit(set_key("devices", "spec_revision", "x" * 100_000)),
        "… (99802 more characters) is not of type 'integer'",
    ),
    ("escape-in-key", edit(set_key("devices", "\x1b[2J", 1)), "('\\x1b[2J' was unexpected)"),
    ("top-level-list", raw(b"[]"), "its top level is a JSON array, not an object"),
    ("deep-array", raw(b"[" * 100_000 + b"]" * 100_000), "nested too deeply to be a results file"),
    (
        "deep-in-object",
        raw(b'{"format": 2, "run": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
        "nested too deeply",
    ),
    ("not-utf8", raw(b'{"format": 2,\n "run": "\xff"}'), "line 2 is not UTF-8 text (byte 0xff)"),
    ("not-json", raw(b'{"format": 2,'), "not a results file (invalid JSON: "),
    ("nan", raw(b'{"format": 2, "x": NaN}'), "NaN is not a JSON number"),
    ("huge-file", sparse, "larger than 256 MiB"),
    ("no-format", edit(lambda d: d.pop("format")), "not a portspec results file (no format key"),
    ("newer-format", edit(lambda d: d.update(format=3)), "written by a newer portspec (results format 3)"),
    ("format-string", edit(lambda d: d.update(format="2")), "format: 2 was expected"),
    ("format-true", edit(lambda d: d.update(format=True)), "format: 2 was expected"),
    ("format-float", edit(lambda d: d.update(format=1.0)), "format: 2 was expected"),
    (
        "old-format-unproven",
        edit(_format_1_without_proof),
        "'fingerprint' is a required property (a format-1 file from an older portspec",
    ),
]


@pytest.mark.parametrize(("make", "message"), [c[1:] for c in CRAFTED], ids=[c[0] for c in CRAFTED])
@pytest.mark.parametrize("command", ["report", "diff-old", "diff-new"])
def test_an_invalid_results_file_is_one_sentence_and_exit_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    make: Callable[[Path], Path],
    message: str,
    command: str,
) -> None:
    bad = str(make(tmp_path / "bad.json"))
    good = str(write(tmp_path / "good.json", clean()))
    args = {
        "report": ["report", bad, "-o", str(tmp_path / "r.html")],
        "diff-old": ["diff", bad, good],
        "diff-new": ["diff", good, bad],
    }[command]
    code, out, err = cli(capsys, *args)
    assert (code, out) == (2, "")  # never "no regression", never a report
    assert err.startswith(f"portspec: error: {bad}: ") and err.count("\n") == 1, err
    assert message in err and "\x1b" not in err and len(err) < 700
    assert not (tmp_path / "r.html").exists()


def test_a_format_1_file_is_read_with_its_host_key_unknown(tmp_path: Path) -> None:
    old = clean() | {"format": 1}
    old.pop("unused_waivers")
    for key in ("host_key_policy", "host_key_verified", "readings", "read_only_problem"):
        old["devices"][0].pop(key)
    outcome = load_results(write(tmp_path / "old.json", old))
    assert outcome.format == 2 and outcome.unused_waivers == ()
    device = outcome.devices[0]
    assert isinstance(device, Device) and device.host_key_verified is None  # never shown as verified


def test_packet_snapshot_refuses_an_invalid_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = write(tmp_path / "bad.json", [])
    code, _, err = cli(
        capsys,
        "packet",
        "--snapshot",
        str(bad),
        "--in",
        "--proto",
        "tcp",
        "--src",
        "10.1.2.3",
        "--dst",
        "198.18.1.2",
        "--dport",
        "22",
    )
    assert code == 2 and "its top level is a JSON array" in err


# --- ACCEPTED only from a file that proves it --------------------------------------------------


def verdict(data: dict[str, Any]) -> tuple[bool, list[str]]:
    report = build(Outcome.from_json(data), title="t", operator="o", created="c", tool_version="v")
    return report.accepted, report.refusals


def test_a_clean_file_is_accepted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert verdict(clean()) == (True, [])
    code, out, _ = cli(
        capsys, "report", str(write(tmp_path / "c.json", clean())), "-o", str(tmp_path / "c.html")
    )
    assert (code, out.strip()) == (0, f"{tmp_path / 'c.html'}: ACCEPTED")


def _without_items(d: dict[str, Any]) -> None:
    d["results"] = []


def _other_device(d: dict[str, Any]) -> None:
    d["results"].append(rt.result("voss@db-1", "in-22-tcp", "ufw", "failed"))


UNPROVEN: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("no-items", _without_items, f"{A}: no check ran"),
    ("no-devices", lambda d: d.update(devices=[], results=[]), "no device"),
    ("device-error", lambda d: d["devices"][0].update(error="refused"), f"{A}: refused"),
    ("partial", lambda d: d["run"].update(deselected=3), "partial run: 3 check(s) not selected"),
    ("not-run", lambda d: d["results"][0].update(outcome="not run"), "1 not run"),
    ("stray-result", _other_device, "1 item(s) of devices the results file does not describe"),
    (
        "proof-mismatch",
        lambda d: d["devices"][0].update(fingerprint={"start": "a", "end": "b"}),
        "does not match",
    ),
    (
        "proof-absent",
        lambda d: d["devices"][0].update(fingerprint={"start": None, "end": None}),
        "does not match",
    ),
    ("proof-null", lambda d: d["devices"][0].update(read_only=None), "read-only proof missing"),
    (
        "host-key-ignored",
        lambda d: d["devices"][0].update(host_key_policy="ignore", host_key_verified=False),
        "host key NOT verified (--host-key-policy ignore)",
    ),
]


def test_a_host_key_ignore_found_matching_and_a_first_use_key_are_accepted() -> None:
    for policy, verified in (("ignore", True), ("accept-new", False)):
        data = copy.deepcopy(clean())
        data["devices"][0].update(
            host_key_policy=policy, host_key_verified=verified, host_key_note=None, sudo_mode="commands"
        )
        assert resultsfile.first_problem(data) is None
        assert verdict(data) == (True, []), policy


@pytest.mark.parametrize(("change", "why"), [u[1:] for u in UNPROVEN], ids=[u[0] for u in UNPROVEN])
def test_a_file_that_does_not_prove_acceptance_is_not_accepted(
    change: Callable[[dict[str, Any]], None], why: str
) -> None:
    data = copy.deepcopy(clean())
    change(data)
    assert resultsfile.first_problem(data) is None  # valid files: the verdict, not the schema, refuses
    accepted, refusals = verdict(data)
    assert not accepted and any(why in r for r in refusals), refusals


# --- diff: what the new run no longer checks is a regression -----------------------------------


def test_items_the_new_run_no_longer_checks_are_a_regression(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = write(tmp_path / "old.json", clean())
    new = clean()
    new["results"] = []
    code, out, _ = cli(capsys, "diff", str(old), str(write(tmp_path / "new.json", new)))
    assert code == 1 and out.startswith("REGRESSED: 0 item(s) newly failing, 1 no longer checked")
    assert f"{A}::in-502-tcp::ufw: passed -> absent" in out
    new["results"] = [rt.result(A, "in-502-tcp", "ufw", "not run")]
    code, out, _ = cli(capsys, "diff", str(old), str(write(tmp_path / "new.json", new)))
    assert code == 1 and "passed -> not run" in out


def test_diff_output_escapes_what_the_files_say(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = write(tmp_path / "old.json", clean())
    new = clean()
    new["results"][0] |= {"outcome": "failed", "observed": "\x1b]0;owned\x07", "failure_class": "x"}
    code, out, _ = cli(capsys, "diff", str(old), str(write(tmp_path / "new.json", new)))
    assert code == 1 and "\x1b" not in out and "\\x1b]0;owned\\x07" in out


# --- raw evidence ------------------------------------------------------------------------------


def test_raw_sections_are_capped_at_whole_lines_and_say_how_much_was_cut() -> None:
    text = "".join(f"tcp LISTEN 0 64 0.0.0.0:{n} 0.0.0.0:*\n" for n in range(60_000))  # ~2.3 MB
    kept = capped(text)
    assert len(kept) <= 1024 * 1024 + 100
    body, marker = kept.rstrip("\n").rsplit("\n", 1)
    assert text.startswith(body + "\n")
    assert (
        marker == f"[portspec: {len(text) - len(body) - 1} more characters cut: "
        "a raw section keeps its first 1048576 characters]"
    )
    assert capped("short\n") == "short\n"
    assert "processes" in SNAPSHOT_SECTIONS
