"""The sign-off report from a results file (plain data): verdict, matrix, evidence, escaping."""

from __future__ import annotations

import json
from html import unescape
from pathlib import Path
from typing import Any

import pytest
import resultstools as rt

from pytest_portspec.cli import main
from pytest_portspec.outcome.records import Outcome
from pytest_portspec.report.data import build
from pytest_portspec.report.html import page

DEVICE = "smartserver[enhanced]@198.18.1.2"


def results(
    outcome: str = "passed", read_only: bool | None = True, error: str | None = None
) -> dict[str, Any]:
    citation = {
        "doc": "001_1f41fa5c7f5e2425.txt",
        "quote": "502Modbus TCPTCPBlocked/Allowed",
        "reading": None,
    }
    return {
        "format": 2,
        "run": dict(rt.RUN),
        "devices": [
            {
                "device": DEVICE,
                "spec": "smartserver",
                "source_doc": "001_1f41fa5c7f5e2425.txt",
                "profile": "enhanced",
                "role": None,
                "host": "198.18.1.2",
                "host_key": "ssh-ed25519 SHA256:abc",
                "host_key_policy": "strict",
                "host_key_verified": True,
                "spec_revision": 1,
                "enabled": [],
                "conditions": {"bacnet": {"enabled": False, "decided_by": "default"}},
                "remote_commands": 3,
                "snapshot_s": 2.5,
                "read_only": read_only,
                "read_only_problem": None,
                "fingerprint": {"start": "3a5f", "end": "3a5f" if read_only is not False else "9bc1"},
                "error": error,
                "firewall_findings": [],
                "kernel_notes": [],
                "readings": [],
                "kernel": {},
                "ufw_rules": [
                    {
                        "rule": "502/tcp ALLOW IN Anywhere",
                        "line": "### tuple ### allow tcp 502 0.0.0.0/0 any 0.0.0.0/0 in",
                        "kind": "contradicts",
                        "explanation": "502/tcp: row modbus-tcp requires inbound 502/tcp blocked",
                    }
                ],
                "snapshot": {"ufw-status": "Status: active <script>"},
                "rows": [
                    {
                        "id": "modbus-tcp",
                        "key": "in-502-tcp",
                        "direction": "in",
                        "proto": "tcp",
                        "ports": "502",
                        "action": "block",
                        "service": "Modbus TCP",
                        "applies": True,
                        "decision": "always applies",
                        "manual": None,
                        "citation": citation,
                    },
                    {
                        "id": "bacnet-47808",
                        "key": "in-47808-udp",
                        "direction": "in",
                        "proto": "udp",
                        "ports": "47808",
                        "action": "allow",
                        "service": "BACnet",
                        "applies": False,
                        "decision": "condition bacnet is off (default): pass --enable bacnet",
                        "manual": None,
                        "citation": citation,
                    },
                ],
            }
        ],
        "results": [
            {
                "nodeid": f"{DEVICE}::in-502-tcp::ufw",
                "device": DEVICE,
                "key": "in-502-tcp",
                "check": "ufw",
                "outcome": outcome,
                "expected": "ufw must block inbound 502/tcp",
                "observed": "ufw permits it",
                "evidence": ["502/tcp: rule 502/tcp ALLOW IN Anywhere"],
                "failure_class": "permitted-by-ufw",
                "citation": citation,
                "notes": [],
            },
            {
                "nodeid": f"{DEVICE}::in-47808-udp::ufw",
                "device": DEVICE,
                "key": "in-47808-udp",
                "check": "ufw",
                "outcome": "skipped",
                "failure_class": None,
                "observed": "condition bacnet is off",
                "citation": citation,
                "notes": [],
            },
            {
                "nodeid": f"{DEVICE}::exposure::exposure",
                "device": DEVICE,
                "key": "exposure",
                "check": "exposure",
                "outcome": "passed",
                "failure_class": None,
                "observed": "4 reachable socket(s), every one documented",
                "notes": ["tcp 198.18.1.2:22 (sshd): management access used by this test"],
            },
        ],
        "unused_waivers": [],
    }


def render(data: dict[str, Any]) -> str:
    return page(
        build(
            Outcome.from_json(data),
            title="Acceptance",
            operator="J. Engineer",
            created="now",
            tool_version="0.1.0",
        )
    )


def test_a_clean_run_is_accepted_with_the_matrix_and_conditions() -> None:
    html = render(results())
    assert "ACCEPTED — 2 passed, 1 skipped" in html and "NOT ACCEPTED" not in html
    assert "in-502-tcp" in html and "“502Modbus TCPTCPBlocked/Allowed”" in html
    assert "condition bacnet is off (default): pass --enable bacnet" in html
    assert "bacnet=off (default)" in html
    assert "management access used by this test" in html
    assert "ssh-ed25519 SHA256:abc" in html


def test_a_skipped_check_of_an_applying_row_is_listed_with_its_reason() -> None:
    """A skip is never a silent gap in the sign-off: the row applies, so the reader learns why."""
    data = results()
    assert "Every check of every applying row was made." in render(data)  # the bacnet row does not apply
    data["results"].append(
        {
            "nodeid": f"{DEVICE}::in-502-tcp::inbound",
            "device": DEVICE,
            "key": "in-502-tcp",
            "check": "inbound",
            "outcome": "skipped",
            "failure_class": None,
            "observed": "cannot verify that udp is blocked: no protocol <known>",
            "notes": [],
        }
    )
    html = render(data)
    section = html.split("Checks not made, and why", 1)[1].split("</table>", 1)[0]
    assert f"{DEVICE}::in-502-tcp::inbound" in section and "no protocol &lt;known&gt;" in section
    assert "in-47808-udp" not in section  # a row that does not apply says why in the matrix already


def test_a_partial_run_is_never_a_sign_off() -> None:
    """-k, -m or --deselect left checks out: the report says so instead of ACCEPTED."""
    data = results()
    data["run"] |= {"deselected": 32, "selection": "-m 'not inbound'"}
    html = page(build(Outcome.from_json(data), title="t", operator="o", created="c", tool_version="v"))
    assert "NOT ACCEPTED" in html
    banner = html.split("NOT ACCEPTED", 1)[1].split("</div>", 1)[0]
    assert "partial run: 32 check(s) not selected (-m 'not inbound')" in unescape(banner)


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"outcome": "failed"}, "1 failed"),
        ({"outcome": "error"}, "1 error"),
        ({"read_only": False}, "read-only proof failed"),
        ({"read_only": None}, "read-only proof missing"),
        ({"error": "198.18.1.2:22 refused the SSH connection"}, "refused the SSH connection"),
    ],
)
def test_anything_wrong_makes_it_not_accepted(kwargs: dict[str, Any], reason: str) -> None:
    html = render(results(**kwargs))
    assert "NOT ACCEPTED" in html
    assert reason in html.split("NOT ACCEPTED", 1)[1].split("</div>", 1)[0]


def test_the_cover_says_why_the_read_only_proof_could_not_be_made() -> None:
    data = results(read_only=None)
    data["devices"][0]["read_only_problem"] = "sha256sum is not installed"
    html = render(data)
    assert "read-only proof missing (sha256sum is not installed)" in html
    assert "not made: sha256sum is not installed" in html


def test_failures_carry_their_evidence_and_values_are_escaped() -> None:
    html = render(results(outcome="failed"))
    assert "FAILED: smartserver[enhanced]@198.18.1.2::in-502-tcp::ufw" in html
    assert "502/tcp: rule 502/tcp ALLOW IN Anywhere" in html and "permitted-by-ufw" in html
    assert "<script>" not in html and "Status: active &lt;script&gt;" in html
    assert "@page { size: A4" in html


def test_portspec_report_re_renders_a_results_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "run.json"
    source.write_text(json.dumps(results(outcome="failed")), encoding="utf-8")
    out = tmp_path / "out" / "report.html"
    assert main(["report", str(source), "-o", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"{out}: NOT ACCEPTED (1 failed)"
    html = out.read_text(encoding="utf-8")
    assert "J. Engineer" in html and "2026-11-24 21:00:00 UTC" in html


def with_site(outcome: str) -> dict[str, Any]:
    data = results()
    citation = {
        "doc": "002_41be44c79507ffab.txt",
        "quote": "Database access database TCP 27017",
        "reading": None,
    }
    key = "application-1->database-1::27017-tcp"
    data["devices"].append(
        {
            "device": "voss@site-a",
            "kind": "site",
            "spec": "voss",
            "spec_revision": 1,
            "source_doc": "002_41be44c79507ffab.txt",
            "profile": "cluster",
            "role": None,
            "host": "site-a",
            "enabled": [],
            "conditions": {},
            "remote_commands": 0,
            "read_only": None,  # a site takes no snapshot of its own: its nodes carry the proof
            "host_key": None,
            "error": None,
            "nodes": [
                {"name": "database-1", "role": "database", "device": "voss@db", "address": "198.18.251.3"}
            ],
            "rows": [
                {
                    "id": "app-db-database",
                    "key": key,
                    "direction": "node-to-node",
                    "proto": "tcp",
                    "ports": "27017",
                    "action": "allow",
                    "service": "Database access",
                    "applies": True,
                    "decision": "always applies",
                    "manual": None,
                    "citation": citation,
                }
            ],
        }
    )
    data["results"].append(
        {
            "nodeid": f"voss@site-a::{key}",
            "device": "voss@site-a",
            "key": key,
            "check": "pair",
            "outcome": outcome,
            "expected": "application-1 reaches database-1",
            "observed": "27017/tcp is closed on database-1",
            "evidence": [],
            "failure_class": "service-stopped",
            "citation": citation,
        }
    )
    return data


def test_a_site_has_its_own_section_and_its_flows_count_for_acceptance() -> None:
    html = render(with_site("passed"))
    assert "ACCEPTED — 3 passed, 1 skipped" in html and "NOT ACCEPTED" not in html
    assert "Node-to-node flows: voss@site-a" in html and "198.18.251.3" in html
    assert "application-1-&gt;database-1::27017-tcp" in html
    html = render(with_site("failed"))
    assert "NOT ACCEPTED" in html and "service-stopped" in html


def test_the_cover_lists_sites_and_no_empty_device_table() -> None:
    data = with_site("failed")
    data["devices"] = [d for d in data["devices"] if d.get("kind") == "site"]
    html = render(data)
    assert "site (node-to-node flows)" in html and "database-1 (database)" in html
    assert "SSH host key" not in html  # no device of its own: no empty device table


def test_the_device_section_explains_its_rules_and_the_firewall_findings() -> None:
    data = results()
    finding = {"finding": "ufw says 502 blocked", "ufw": "DENY 502/tcp", "kernel": "ACCEPT tcp dpt:502"}
    data["devices"][0]["firewall_findings"] = [finding]
    html = render(data)
    assert "502/tcp: row modbus-tcp requires inbound 502/tcp blocked" in html  # the rule's explanation
    assert all(text in html for text in finding.values())
    assert "ufw's view and the kernel's ruleset agree." not in html
