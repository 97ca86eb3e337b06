"""Results files (format 2) as plain data for tests (`from resultstools import ...`): every key the
schema requires, so a test changes only what it is about."""

from __future__ import annotations

from typing import Any

CITATION = {"doc": "001_1f41fa5c7f5e2425.txt", "quote": "502Modbus TCPTCPBlocked/Allowed", "reading": None}
FINGERPRINT = "ufw files 3a5f... iptables 9bc1..."
RUN = {  # the results file's "run" of a complete run of one process
    "operator": "J. Engineer",
    "created": "2026-11-24 21:00:00 UTC",
    "tool_version": "0.1.0",
    "deselected": 0,
    "selection": "",
}


def row(row_id: str, key: str, **override: Any) -> dict[str, Any]:
    return {
        "id": row_id,
        "key": key,
        "direction": "in",
        "proto": "tcp",
        "ports": key.split("-")[1] if key.count("-") >= 2 else "502",
        "action": "block",
        "service": "Modbus TCP",
        "applies": True,
        "decision": "always applies",
        "manual": None,
        "citation": CITATION,
    } | override


def device(label: str, **override: Any) -> dict[str, Any]:
    """A device read and proven unchanged, as results.results_data writes it."""
    spec = label.split("[")[0].split("@")[0]
    return {
        "device": label,
        "spec": spec,
        "spec_revision": 1,
        "source_doc": CITATION["doc"],
        "profile": "enhanced",
        "role": None,
        "host": label.split("@")[-1],
        "enabled": [],
        "conditions": {"bacnet": {"enabled": False, "decided_by": "default"}},
        "remote_commands": 3,
        "snapshot_s": 2.5,
        "read_only": True,
        "read_only_problem": None,
        "host_key": "ssh-ed25519 SHA256:abc",
        "host_key_policy": "strict",
        "host_key_verified": True,
        "error": None,
        "ufw_rules": [],
        "firewall_findings": [],
        "kernel_notes": [],
        "readings": [],
        "snapshot": {},
        "kernel": {},
        "rows": [row("modbus-tcp", "in-502-tcp")],
        "fingerprint": {"start": FINGERPRINT, "end": FINGERPRINT},
    } | override


def site(label: str, **override: Any) -> dict[str, Any]:
    return {
        "device": label,
        "kind": "site",
        "spec": label.split("@")[0],
        "spec_revision": 1,
        "source_doc": "002_41be44c79507ffab.txt",
        "profile": "cluster",
        "role": None,
        "host": label.split("@")[-1],
        "enabled": [],
        "conditions": {},
        "remote_commands": 0,
        "read_only": None,
        "host_key": None,
        "error": None,
        "nodes": [],
        "rows": [],
    } | override


def result(label: str, key: str, check: str, outcome: str, **override: Any) -> dict[str, Any]:
    failed = outcome == "failed"
    return {
        "nodeid": f"{label}::{key}::{check}",
        "device": label,
        "outcome": outcome,
        "key": key,
        "check": check,
        "row": "modbus-tcp",
        "direction": "in",
        "proto": "tcp",
        "port": "502",
        "failure_class": "permitted-by-ufw" if failed else None,
        "expected": "ufw must block inbound 502/tcp",
        "observed": "ufw permits inbound 502/tcp" if failed else "ufw blocks it",
        "evidence": [],
        "notes": [],
        "citation": CITATION,
    } | override


def results(devices: list[dict[str, Any]], items: list[dict[str, Any]], **run: Any) -> dict[str, Any]:
    return {
        "format": 2,
        "run": RUN | run,
        "devices": devices,
        "results": items,
        "unused_waivers": [],
    }
