"""The results file as typed records (outcome.records): every file the plugin writes reads into
records that write it back key for key, in the same order, so the records are the file's contract
and no reader needs the file's string keys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import resultstools as rt
from fakerun import fake_run

from pytest_portspec.outcome.read import first_problem, load_data, load_results
from pytest_portspec.outcome.records import Device, Outcome, Result, Site

A = "smartserver[enhanced]@198.18.1.2"
SITE = "voss@s"


def ordered(value: object) -> object:
    """The data with every object's key order made visible (== on dicts ignores the order)."""
    if isinstance(value, dict):
        return [(k, ordered(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [ordered(v) for v in value]
    return value


def round_trip(data: dict[str, Any]) -> None:
    assert first_problem(data) is None
    written = Outcome.from_json(data).to_json()
    assert written == data
    assert ordered(written) == ordered(data)
    assert first_problem(written) is None


def test_a_file_the_plugin_writes_reads_into_records_that_write_it_back(pytester: pytest.Pytester) -> None:
    _, out = fake_run(pytester)
    data = json.loads(out.read_text(encoding="utf-8"))
    round_trip(data)
    outcome = load_results(out)
    device = outcome.devices[0]
    assert isinstance(device, Device) and device.read and device.read_only is True
    assert device.sudo_mode in ("commands", "shell", "none") and device.rows and device.kernel
    assert {r.device for r in outcome.results} == {device.device}
    assert all(r.has_verdict for r in outcome.results if r.outcome != "not run")


def test_a_partial_run_and_its_not_run_items_round_trip(pytester: pytest.Pytester) -> None:
    _, out = fake_run(pytester, "-m", "ufw and not outbound")
    data = json.loads(out.read_text(encoding="utf-8"))
    round_trip(data)
    assert load_results(out).run.deselected > 0


def test_a_device_that_cannot_be_reached_round_trips(pytester: pytest.Pytester) -> None:
    out = pytester.path / "down.json"
    pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--device", "smartserver@127.0.0.1:1", "--portspec-json", str(out)
    )
    data = json.loads(out.read_text(encoding="utf-8"))
    round_trip(data)
    device = load_results(out).devices[0]
    assert isinstance(device, Device) and device.error and device.read


def test_a_site_run_round_trips_with_its_flows(pytester: pytest.Pytester) -> None:
    """Nodes that refuse the connection: the site, its node-to-node items and their devices."""
    site = pytester.path / "site.yaml"
    site.write_text(
        "site: s\ndefaults: {port: 1}\ndevices:\n"
        "  - {name: app, spec: voss, role: application, host: 127.0.0.1}\n"
        "  - {name: db, spec: voss, role: database, host: 127.0.0.1}\n",
        encoding="utf-8",
    )
    out = pytester.path / "site.json"
    pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", f"--inventory={site}", "--portspec-json", str(out)
    )
    data = json.loads(out.read_text(encoding="utf-8"))
    round_trip(data)
    outcome = load_results(out)
    (found,) = outcome.sites()
    assert found.device == SITE and {n.name for n in found.nodes} == {"app", "db"} and found.rows
    flows = [r for r in outcome.results if r.device == SITE]
    assert flows and all(r.source and r.peer and r.check == "pair" for r in flows)


def test_every_optional_shape_of_a_result_round_trips() -> None:
    items = [
        rt.result(A, "in-502-tcp", "ufw", "failed"),
        {  # an item that reached no verdict (its device failed, or it never ran)
            "nodeid": f"{A}::in-22-tcp::listening",
            "device": A,
            "outcome": "not run",
            "key": "in-22-tcp",
            "check": "listening",
            "failure_class": None,
            "observed": None,
        },
        {  # a node-to-node flow without a verdict
            "nodeid": f"{SITE}::app->db::27017-tcp",
            "device": SITE,
            "outcome": "error",
            "source": "app",
            "peer": "db",
            "key": "node-to-node-27017-tcp",
            "check": "pair",
            "failure_class": None,
            "observed": None,
        },
    ]
    site = rt.site(SITE, rows=[rt.row("db", "node-to-node-27017-tcp", direction="node-to-node")])
    site["nodes"] = [{"name": "app", "role": "application", "device": "voss@198.18.0.11", "address": "x"}]
    device: dict[str, Any] = {}  # as format 2 writes it: with the two keys format 1 lacked
    for key, value in rt.device(A).items():
        device[key] = value
        if key == "host_key_verified":
            device |= {"host_key_note": None, "sudo_mode": "commands"}
    data = rt.results([device, site], items)
    data["unused_waivers"] = [{"where": "accept.yaml:3", "why": "matched nothing"}]
    round_trip(data)
    outcome = Outcome.from_json(data)
    assert [r.has_verdict for r in outcome.results] == [True, False, False]
    assert isinstance(outcome.devices[1], Site) and outcome.devices[1].read_only is None


def test_a_device_without_the_keys_format_1_lacked_writes_no_sudo_mode() -> None:
    device = rt.device(A)
    assert "sudo_mode" not in device  # resultstools writes what format 1 upgraded carries
    written = Outcome.from_json(rt.results([device], [])).to_json()
    assert "sudo_mode" not in written["devices"][0] and written["devices"][0]["host_key_note"] is None
    assert first_problem(written) is None


def test_a_format_1_file_reads_into_records_with_what_it_lacks_unknown(tmp_path: Path) -> None:
    old = rt.results([rt.device(A)], [rt.result(A, "in-502-tcp", "ufw", "passed")]) | {"format": 1}
    del old["unused_waivers"]
    for key in ("host_key_policy", "host_key_verified", "readings", "kernel_notes", "firewall_findings"):
        del old["devices"][0][key]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old), encoding="utf-8")
    outcome = load_results(path)
    device = outcome.devices[0]
    assert isinstance(device, Device)
    assert (device.host_key_policy, device.host_key_verified, device.sudo_mode) == (None, None, None)
    assert outcome.format == 2 and outcome.unused_waivers == ()
    written = outcome.to_json()  # what format 2 writes of it: valid, with the unknown as null
    assert first_problem(written) is None and written["devices"][0]["host_key_note"] is None
    assert load_data(path)["devices"][0]["host_key_policy"] is None


def test_a_result_record_is_read_only() -> None:
    result = Result.from_json(rt.result(A, "in-502-tcp", "ufw", "passed"))
    with pytest.raises(AttributeError):
        result.outcome = "failed"  # type: ignore[misc]
