"""End to end: `pytest --device SPEC@lab:NAME` against real emulated appliances.

A clean appliance of every spec gives no failure and no error; each drift makes exactly the
expected items fail with the expected failure class, and nothing else fails.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from plugin_runs import run_plugin

from pytest_portspec.lab.fixture import LabSession

TARGETS = [
    ("coppercube", None, None),
    ("smartserver", None, None),
    ("smartserver", None, "standard"),
    ("digi-device-cloud", None, None),
    ("voss", "webproxy", None),
    ("voss", "application", None),
    ("voss", "database", None),
    ("voss", "unified", None),
    ("syncsign-sops", "sops", None),
    ("syncsign-sops", "hub", None),
]


def target_id(target: tuple[str, str | None, str | None]) -> str:
    return "-".join(filter(None, target))


def check(pytester: pytest.Pytester, spec: str, name: str, *args: str) -> dict[str, Any]:
    """Run the plugin against an appliance; return the results file."""
    return run_plugin(pytester, "--device", f"{spec}@lab:{name}", *args)


def by_outcome(data: dict[str, Any], outcome: str) -> dict[str, str | None]:
    return {
        r["nodeid"].split("::", 1)[1]: r.get("failure_class")
        for r in data["results"]
        if r["outcome"] == outcome
    }


@pytest.mark.parametrize("target", TARGETS, ids=target_id)
def test_a_clean_appliance_passes_with_a_few_remote_commands(
    lab: LabSession, pytester: pytest.Pytester, target: tuple[str, str | None, str | None]
) -> None:
    spec, role, profile = target
    name = f"clean-{target_id(target)}"
    lab.up(spec, name=name, role=role, profile=profile, enable=["all"])
    data = check(pytester, spec, name)
    assert by_outcome(data, "failed") == {}
    assert by_outcome(data, "error") == {}
    assert len(by_outcome(data, "passed")) >= 8
    device = data["devices"][0]
    assert device["remote_commands"] <= 4
    assert device["read_only"] is True
    assert device["error"] is None


DRIFT_CASES = [
    # (drifts, {item: failure class}) — everything not listed must not fail
    (
        ["stop:nginx"],
        {"in-443-tcp-https-nginx::listening": "not-listening", "in-443-tcp-https-nginx::inbound": "refused"},
    ),
    # the port lets the tester in: the reset of a port with no listener is the device's own answer
    (["ufw-allow:502/tcp"], {"in-502-tcp::ufw": "permitted-by-ufw", "in-502-tcp::inbound": "reachable"}),
    (["ufw-delete:2541/tcp"], {"in-2541-tcp::ufw": "blocked-by-ufw", "in-2541-tcp::inbound": "timeout"}),
    (["site-block:123/udp"], {"out-123-udp::outbound": "timeout"}),
    (["dns-fail:cms-update.portspec.lab"], {"out-80-tcp::outbound": "dns-failure"}),
    (
        ["listen:8080/tcp:httpd", "ufw-allow:8080/tcp"],
        {"exposure::exposure": "exposed", "default-in::default": "undocumented-open"},
    ),
    (["listen:8080/tcp:httpd"], {}),  # listening, but ufw blocks it: not exposed
    (
        ["expose:6379", "ufw-allow:6379/tcp"],
        {
            "lo-in-6379-tcp::listening": "exposed-internal",
            "exposure::exposure": "exposed",
            # an internal service's port opened to the outside is one of "all other ports"
            "default-in::default": "undocumented-open",
        },
    ),
    (
        ["ufw-default-out:allow"],
        {
            "default-out::default": "undocumented-open",
            # the rows whose Out is Blocked in Enhanced mode: now nothing blocks them
            **{f"out-{port}-tcp::ufw": "permitted-by-ufw" for port in (22, 2541)},
            **{f"out-{port}-udp::ufw": "permitted-by-ufw" for port in (67, 5353)},
        },
    ),
    (
        ["forward:8080/tcp:443"],  # a published port: ufw's rules never show it, the kernel does
        {"exposure::exposure": "exposed", "default-in::default": "undocumented-open"},
    ),
    (
        ["ufw-default-in:allow"],
        {
            "default-in::default": "undocumented-open",
            # (inbound 80 allowed is the port-change procedure's reading: decision http-80-inbound)
            **{f"in-{port}-tcp::ufw": "permitted-by-ufw" for port in (25, 502)},
            **{f"in-53-{proto}::ufw": "permitted-by-ufw" for proto in ("tcp", "udp")},
            "in-123-udp::ufw": "permitted-by-ufw",
            # nothing blocks them: each answers the tester (a reset, an ICMP port unreachable)
            **{f"in-{port}-tcp::inbound": "reachable" for port in (25, 502)},
            **{f"in-53-{proto}::inbound": "reachable" for proto in ("tcp", "udp")},
            "in-123-udp::inbound": "reachable",
        },
    ),
]


@pytest.mark.parametrize(
    ("drifts", "expected"), DRIFT_CASES, ids=lambda v: "+".join(v) if isinstance(v, list) else ""
)
def test_each_drift_fails_exactly_the_affected_items(
    lab: LabSession, pytester: pytest.Pytester, drifts: list[str], expected: dict[str, str]
) -> None:
    appliance = lab.up("smartserver", name="drift", drifts=drifts)
    try:
        data = check(pytester, "smartserver", "drift")
    finally:
        lab.down(appliance)
    assert by_outcome(data, "failed") == expected
    assert by_outcome(data, "error") == {}


def test_ufw_inactive_opens_every_port_which_the_kernel_shows(
    lab: LabSession, pytester: pytest.Pytester
) -> None:
    """An inactive ufw leaves the kernel filtering nothing: the document's open ports are open (their
    items pass), and "all other ports blocked" fails naming everything that gets in."""
    appliance = lab.up("coppercube", name="inactive", drifts=["ufw-inactive"], enable=["all"])
    try:
        data = check(pytester, "coppercube", "inactive")
    finally:
        lab.down(appliance)
    assert by_outcome(data, "failed") == {"default-in::default": "undocumented-open"}
    default = next(r for r in data["results"] if r["nodeid"].endswith("::default-in::default"))
    assert "from any address" in default["observed"] and "filter INPUT policy ACCEPT" in default["observed"]
    assert "ufw's view: ufw is inactive" in default["evidence"]


def test_failures_read_like_an_auditors_sentence(lab: LabSession, pytester: pytest.Pytester) -> None:
    lab.up("smartserver", name="auditor", drifts=["ufw-allow:502/tcp"])
    data = check(pytester, "smartserver", "auditor", "-k", "502")
    text = data["stdout"]
    assert "in-502-tcp [ufw] does not meet the vendor document." in text
    assert "Required: the firewall must block inbound 502/tcp (Modbus TCP (client))" in text
    assert 'Source:   001_1f41fa5c7f5e2425.txt: "502Modbus TCPTCPBlocked/Allowed' in text
    assert (
        "Observed: the kernel lets in 502/tcp from any address (accept via filter ufw-user-input rule" in text
    )
    assert "502/tcp ALLOW IN Anywhere" in text
    assert "Traceback" not in text


def test_items_are_selectable_by_marker_and_keyword(lab: LabSession, pytester: pytest.Pytester) -> None:
    lab.up("coppercube", name="select")
    whole = check(pytester, "coppercube", "select")
    assert whole["run"]["deselected"] == 0 and "partial run" not in whole["stdout"]
    data = check(pytester, "coppercube", "select", "-m", "outbound")
    assert {r["check"] for r in data["results"] if r["outcome"] != "not run"} == {"outbound"}
    left_out = len(whole["results"]) - len(data["results"])
    assert left_out > 0 and (data["run"]["deselected"], data["run"]["selection"]) == (left_out, "-m outbound")
    line = f"portspec: partial run, not a sign-off: {left_out} check(s) not selected (-m outbound)"
    assert line in data["stdout"]
    data = check(pytester, "coppercube", "select", "-k", "5671")
    ran = [r for r in data["results"] if r["outcome"] != "not run"]
    assert ran and all("5671" in r["nodeid"] for r in ran)
    assert data["run"]["selection"] == "-k 5671"
    assert data["run"]["deselected"] == len(whole["results"]) - len(ran)


def test_a_conftest_can_alter_a_verdict_through_the_hook(lab: LabSession, pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import dataclasses

        def pytest_portspec_verdict(device, verdict):
            if verdict.key == "in-502-tcp" and verdict.outcome == "failed":
                return dataclasses.replace(verdict, outcome="skipped",
                                           observed="accepted deviation: the BMS polls us (ticket 42)")
        """
    )
    lab.up("smartserver", name="hooked", drifts=["ufw-allow:502/tcp"])
    data = check(pytester, "smartserver", "hooked", "-k", "502", "-rs")
    assert by_outcome(data, "failed") == {}
    assert "in-502-tcp::ufw" in by_outcome(data, "skipped")
    assert "accepted deviation: the BMS polls us (ticket 42)" in data["stdout"]
    entry = next(r for r in data["results"] if r["nodeid"].endswith("::in-502-tcp::ufw"))
    assert "failed changed to skipped by a hook" in entry["notes"]  # the report's reader learns it


def test_junit_xml_carries_the_traceability_properties(lab: LabSession, pytester: pytest.Pytester) -> None:
    import xml.etree.ElementTree as ET

    lab.up("smartserver", name="junit", drifts=["ufw-allow:502/tcp"])
    junit = pytester.path / "junit.xml"
    check(pytester, "smartserver", "junit", "-k", "in-502-tcp", f"--junitxml={junit}")
    # JUnit splits the node id at its last '::': classname DEVICE.KEY, name CHECK
    cases = {
        (c.get("classname", "").rsplit(".", 1)[-1], c.get("name")): c
        for c in ET.parse(junit).getroot().iter("testcase")
    }
    case = cases[("in-502-tcp", "ufw")]
    properties = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert properties["device"].startswith("smartserver[enhanced]@198.18.")
    assert properties | {"device": "-"} == {
        "device": "-",
        "spec": "smartserver",
        "row": "modbus-tcp",
        "check": "ufw",
        "direction": "in",
        "proto": "tcp",
        "port": "502",
        "outcome": "failed",
        "failure_class": "permitted-by-ufw",
        "citation": "001_1f41fa5c7f5e2425.txt: 502Modbus TCPTCPBlocked/AllowedBlocked/AllowedThis is the "
        "conventional port used for Modbus TCP for clients and simulators.",
    }
    assert case.find("failure") is not None


def test_the_html_report_has_the_sign_off_and_no_secret(lab: LabSession, pytester: pytest.Pytester) -> None:
    import os

    appliance = lab.up("coppercube", name="report", drifts=["sudo-password", "ufw-allow:8080/tcp"])
    password = Path(appliance.state["sudo_password_file"]).read_text()
    os.environ["REPORT_SUDO_PASSWORD"] = password
    html, junit = pytester.path / "report.html", pytester.path / "junit.xml"
    try:
        data = check(
            pytester,
            "coppercube",
            "report",
            "--sudo-password-env",
            "REPORT_SUDO_PASSWORD",
            f"--html={html}",
            "--self-contained-html",
            f"--junitxml={junit}",
            "--signoff-operator",
            "J. Engineer",
        )
    finally:
        del os.environ["REPORT_SUDO_PASSWORD"]
    page = html.read_text()
    assert data["devices"][0]["error"] is None
    assert "Port and firewall acceptance report" in page and "J. Engineer" in page
    assert page.count("ACCEPTED — ") == 1  # one verdict (this one NOT ACCEPTED: 8080 is open)
    assert "Traceability matrix" in page and "out-5671-tcp" in page and "Sign-off" in page
    for text in (page, json.dumps(data), junit.read_text()):
        assert password not in text
        assert "PRIVATE KEY" not in text


def test_accepted_deviations_do_not_block_acceptance(lab: LabSession, pytester: pytest.Pytester) -> None:
    lab.up("smartserver", name="waived", drifts=["ufw-allow:502/tcp"])
    accept = pytester.path / "accept.yaml"
    accept.write_text(
        "waivers:\n"
        "  - id: modbus-bms\n    row: modbus-tcp\n    check: ufw\n"
        "    reason: The BMS polls the SmartServer.\n    accepted_by: J. Owner\n    expires: 2999-12-31\n"
        "  - id: modbus-bms-reach\n    row: modbus-tcp\n    check: inbound\n"
        "    reason: The BMS polls the SmartServer.\n    accepted_by: J. Owner\n    expires: 2999-12-31\n"
    )
    html = pytester.path / "report.html"
    data = check(pytester, "smartserver", "waived", f"--accept={accept}", f"--html={html}", "-rx")
    assert by_outcome(data, "failed") == {}
    assert "in-502-tcp::ufw" in by_outcome(data, "accepted")
    assert "accepted deviation modbus-bms" in data["stdout"]
    page = html.read_text()
    assert "ACCEPTED — " in page and "NOT ACCEPTED" not in page
    assert "Accepted deviations" in page and "modbus-bms" in page
