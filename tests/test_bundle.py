"""Offline evidence: the bundle format, its transport, and a capture judged like the live device."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from test_runner import MARK, NO_PROBE_TOOLS, PROOF, sections

from pytest_portspec.checks.context import Declarations
from pytest_portspec.checks.verdict import Check, Verdict
from pytest_portspec.cli import main
from pytest_portspec.device.address import parse_device
from pytest_portspec.device.bundle import NOT_CAPTURED, NOT_VERIFIABLE, BundleTransport
from pytest_portspec.device.bundle_format import CAP, read_bundle, render
from pytest_portspec.device.capture import capture_probes
from pytest_portspec.device.contract import Transport
from pytest_portspec.device.exchange import OUTPUT_CAP
from pytest_portspec.engine import Settings, check
from pytest_portspec.engine.device_run import DeviceRun
from pytest_portspec.errors import DeviceError
from pytest_portspec.outcome.read import load_results
from pytest_portspec.outcome.records import Device
from pytest_portspec.probe import payloads
from pytest_portspec.probe.outbound import OutboundProbe, parse_results, shell_command
from pytest_portspec.report.data import build as build_report
from pytest_portspec.report.html import page
from pytest_portspec.spec.catalog import find_spec
from pytest_portspec.spec.policy import effective_policy
from pytest_portspec.transport import CommandResult, FakeTransport

POLICY = effective_policy(find_spec("smartserver"), enable=["all"])
# ntp named too: else the live run takes it from the device's time configuration, which the capture
# script cannot know (that item is then skipped as not captured: the next test)
DESTS = {
    "dns": ("198.19.1.1",),
    "smtp": ("198.19.1.25",),
    "modbus": ("198.19.1.50",),
    "ntp": ("198.19.1.123",),
}
PYTHON_TOOLS = NO_PROBE_TOOLS.replace("python3 no", "python3 yes")
META = "captured_at: 2026-12-03T10:00:00Z\ncaptured_on: smartserver-7\ncaptured_by: root\nspec: smartserver\n"


def report(probes: list[dict[str, Any]]) -> str:
    """What the device's probe program says: port 53 answers, everything else times out."""
    results = [
        {
            "id": p["id"],
            "host": p["host"],
            "proto": p["proto"],
            "port": p["port"],
            "outcome": "ok" if p["port"] == 53 else "timeout",
            "address": p["host"],
            "addresses": [p["host"]],
            "seconds": 0.01,
            "detail": "answered" if p["port"] == 53 else "no answer within 0.2 s",
        }
        for p in probes
    ]
    return json.dumps({"program": payloads.PROGRAM, "version": payloads.VERSION, "results": results})


def answer(command: str, stdin: str | None) -> CommandResult:
    return CommandResult(0, report(json.loads(stdin or "{}")["probes"]), "", 0.0)


def captured(declared: Declarations, **override: str) -> dict[str, str]:
    probes = [vars(p) for p in capture_probes(POLICY, declared)]
    found = {
        "meta": META,
        "state": sections(**{"probe-tools": PYTHON_TOOLS}),
        "outbound-probes": json.dumps(probes),
        "outbound-runner": "python\n",
        "outbound": report(probes),
        "fingerprint-after": f"{MARK}fingerprint\n{PROOF}\n{MARK}rc=0\n",
    }
    return found | override


def judged(transport: Transport, declared: Declarations) -> DeviceRun:
    run = DeviceRun("smartserver[enhanced]@x", "x", POLICY, transport, declared, probe_timeout=0.2)
    run.run()
    run.finish()
    return run


def bundle_file(tmp_path: Path, found: dict[str, str]) -> Path:
    path = tmp_path / "capture.bundle"
    path.write_bytes(render(found))
    return path


def outcomes(verdicts: dict[tuple[str, Check], Verdict], inbound: bool) -> dict[tuple[str, Check], str]:
    return {k: v.outcome for k, v in verdicts.items() if (k[1] == "inbound") == inbound}


def test_a_capture_is_judged_like_the_live_device_except_the_inbound_items(tmp_path: Path) -> None:
    declared = Declarations(destinations=DESTS)
    live = judged(
        FakeTransport(
            {
                "ufw status verbose": CommandResult(0, captured(declared)["state"], "", 0),
                "python3 -I -c": answer,
            },
            address="127.0.0.1",
        ),
        declared,
    )
    path = bundle_file(tmp_path, captured(declared))
    offline = judged(BundleTransport("smartserver[enhanced]@x", str(path)), declared)
    assert live.error is None and offline.error is None
    assert outcomes(offline.verdicts, False) == outcomes(live.verdicts, False)
    out = outcomes(offline.verdicts, False)
    assert out[("out-53-tcp", "outbound")] == "passed" and out[("out-25-tcp", "outbound")] == "failed"
    inbound = [v for (_, check), v in offline.verdicts.items() if check == "inbound"]
    assert inbound and {v.outcome for v in inbound} == {"skipped"}
    probed = [v for v in inbound if NOT_VERIFIABLE in v.observed]
    assert probed, [v.observed for v in inbound]
    assert offline.read_only is True and offline.remote_commands == 3  # state, outbound, proof


def test_an_outbound_probe_the_capture_did_not_run_is_skipped_never_passed(tmp_path: Path) -> None:
    path = bundle_file(tmp_path, captured(Declarations(destinations=DESTS)))
    wider = Declarations(destinations={**DESTS, "licensing": ("198.19.1.80",)})
    run = judged(BundleTransport("smartserver[enhanced]@x", str(path)), wider)
    verdict = run.verdicts[("out-443-tcp-certificates-licensing", "outbound")]
    assert verdict.outcome == "skipped" and NOT_CAPTURED in verdict.observed
    assert run.verdicts[("out-53-tcp", "outbound")].outcome == "passed"


def test_the_proof_compares_the_captures_two_fingerprints(tmp_path: Path) -> None:
    changed = f"{MARK}fingerprint\n{PROOF.replace('320f53e1', '320f53e2')}\n{MARK}rc=0\n"
    path = bundle_file(tmp_path, captured(Declarations(), **{"fingerprint-after": changed}))
    assert judged(BundleTransport("d", str(path)), Declarations()).read_only is False


def test_the_results_record_of_a_capture(tmp_path: Path) -> None:
    path = bundle_file(tmp_path, captured(Declarations()))
    transport = BundleTransport("d", str(path))
    assert isinstance(transport, Transport)  # the contract, as every transport keeps it
    judged(transport, Declarations())
    assert transport.offline is not None
    record = dict(transport.offline.record)
    assert record.pop("bundle_sha256") == read_bundle(path, "d").sha256
    assert record == {
        "captured_at": "2026-12-03T10:00:00Z",
        "captured_on": "smartserver-7",
        "captured_by": "root",
    }


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda data: data[:-40], "is truncated: it lacks its end line and hash"),
        (lambda data: data[: len(data) // 2], "is truncated"),
        (lambda data: data.replace(b"ALLOW IN", b"DENY IN", 1), "was changed after its capture"),
        (lambda data: b"hello\n", "is not a portspec bundle"),
        (lambda data: b"", "is not a portspec bundle"),
    ],
)
def test_a_damaged_bundle_is_the_devices_error_naming_the_file(
    tmp_path: Path, damage: Any, message: str
) -> None:
    path = bundle_file(tmp_path, captured(Declarations()))
    path.write_bytes(damage(path.read_bytes()))
    run = judged(BundleTransport("smartserver@bundle", str(path)), Declarations())
    assert run.error is not None and message in run.error.reason and str(path) in run.error.reason
    assert run.verdicts == {}


@pytest.mark.parametrize(
    "listed", ["[" * 100_000, '[{"id": 1}]', "[7]", '[{"id": "a", "host": 5, "proto": "tcp", "port": 1}]']
)
def test_a_capture_whose_probe_list_is_not_one_is_the_devices_error(tmp_path: Path, listed: str) -> None:
    path = bundle_file(tmp_path, captured(Declarations(), **{"outbound-probes": listed}))
    run = judged(BundleTransport("d", str(path)), Declarations())
    assert run.error is not None and "outbound-probes section is not a probe list" in run.error.reason


def test_a_section_edited_with_a_new_end_hash_still_fails_its_own_hash(tmp_path: Path) -> None:
    data = render(captured(Declarations()))
    body = data[: data.rindex(b"==bundle== end ")].replace(b"ALLOW IN", b"REJCT IN", 1)  # same length

    path = tmp_path / "b"
    path.write_bytes(body + f"==bundle== end {hashlib.sha256(body).hexdigest()}\n".encode())
    with pytest.raises(DeviceError, match="state section does not match its hash"):
        read_bundle(path, "d")


def test_the_size_cap_is_an_ssh_answers(tmp_path: Path) -> None:
    assert CAP == OUTPUT_CAP
    path = bundle_file(tmp_path, captured(Declarations()))
    with pytest.raises(DeviceError, match="is larger than"):
        read_bundle(path, "d", cap=1000)


def test_a_device_string_names_a_bundle_file_that_exists(tmp_path: Path) -> None:
    path = bundle_file(tmp_path, captured(Declarations()))
    assert parse_device(f"smartserver@bundle:{path}").host == f"bundle:{path}"
    with pytest.raises(ValueError, match=r"there is no bundle file .*capture-script"):
        parse_device(f"smartserver@bundle:{tmp_path}/missing.bundle")


def test_the_shell_runners_get_the_captured_results_in_their_own_format(tmp_path: Path) -> None:
    probes = [OutboundProbe("a|out-25-tcp|198.19.1.25|25", "198.19.1.25", "tcp", 25)]
    lines = "portspec-probe 0 refused 198.19.1.25 198.19.1.25 0 connection refused by 198.19.1.25:25\n"
    found = captured(
        Declarations(),
        **{
            "outbound-probes": json.dumps([vars(p) for p in probes]),
            "outbound-runner": "bash\n",
            "outbound": lines + "portspec-probe end\n",
        },
    )
    transport = BundleTransport("d", str(bundle_file(tmp_path, found)))
    answer = transport.run(shell_command(probes, 1.0, tool="nc"))
    (result,) = parse_results("shell", answer.stdout, probes)
    assert (result.outcome, result.detail) == ("refused", "connection refused by 198.19.1.25:25")


def test_capture_script_runs_in_sh_and_writes_a_bundle_the_reader_takes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The script's sh (sha256sum, wc) writes the format `render` writes: run on this machine (its
    reads only read), with one probe to 127.0.0.1; what it found here does not matter."""
    assert main(["capture-script", "smartserver", "--dest", "dns=127.0.0.1"]) == 0
    out = tmp_path / "here.bundle"
    # on its standard input, as `ssh device sh -s < capture.sh` runs it: no command in it may read it
    script = capsys.readouterr().out
    done = subprocess.run(["sh", "-s", str(out)], input=script, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    bundle = read_bundle(out, "d")
    assert bundle.sha256 in done.stderr
    assert (
        bundle.meta["captured_on"]
        == subprocess.run(["uname", "-n"], capture_output=True, text=True).stdout.strip()
    )
    assert (
        f"{MARK}probe-tools" in bundle.sections["state"] and f"{MARK}fingerprint" in bundle.sections["state"]
    )
    probes = json.loads(bundle.sections["outbound-probes"])
    assert {(p["host"], p["port"]) for p in probes} == {("127.0.0.1", 53)}
    assert bundle.sections["outbound-runner"].strip() in ("python", "bash", "nc", "none")
    assert f"{MARK}fingerprint" in bundle.sections["fingerprint-after"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["smartserver", "--dest", "dns=not a host"], "is not a valid host name or address"),
        (["smartserver", "--port", "bacnet-ephemeral=0"], "is not a port number 1-65535"),
        (["voss"], "describes roles (webproxy, application, database, unified): pass --role"),
    ],
)
def test_capture_script_refuses_what_a_live_run_would(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["capture-script", *args]) == 2
    assert message in capsys.readouterr().err


def test_the_engine_judges_a_bundle_and_the_report_cover_says_so(tmp_path: Path) -> None:
    path = bundle_file(tmp_path, captured(Declarations(destinations=DESTS)))
    outcome = check([f"smartserver@bundle:{path}"], Settings(dests=DESTS, enable=["all"], probe_timeout=0.2))
    (device,) = outcome.devices
    assert isinstance(device, Device) and device.error is None and device.capture is not None
    assert device.capture.captured_on == "smartserver-7"
    assert device.capture.bundle_sha256 == read_bundle(path, "d").sha256
    results = tmp_path / "results.json"
    results.write_text(json.dumps(outcome.to_json()))
    assert load_results(results) == outcome  # valid against the schema, read back the same
    data = build_report(outcome, title="t", operator="o", created="now", tool_version="0")
    html = page(data)
    assert "offline evidence captured at 2026-12-03T10:00:00Z on smartserver-7 by root" in html
    assert device.capture.bundle_sha256 in html and "unchanged during the capture" in html
    assert "3 (answered from the capture, nothing sent)" in html
    inbound = [r for r in outcome.results if r.check == "inbound" and r.outcome != "skipped"]
    assert inbound == []
