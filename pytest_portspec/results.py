"""The results file (--portspec-json): devices and verdicts as data, for reports and other tools."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from pytest_portspec import __version__
from pytest_portspec.items import CheckItem, PairItem
from pytest_portspec.pairs import Pair
from pytest_portspec.policy import Expectation
from pytest_portspec.registry import Registry
from pytest_portspec.report.data import ReportData, build
from pytest_portspec.spec.model import ports_label

FORMAT = 1
TITLE = "Port and firewall acceptance report"
SNAPSHOT_SECTIONS = ("ufw-status", "sockets", "resolv", "time-servers")  # raw evidence for the report


def results_data(reg: Registry, session: pytest.Session) -> dict[str, Any]:
    devices, rows = [], []
    for run in reg.runs:
        policy = run.policy
        devices.append(
            {
                "device": run.label,
                "spec": policy.spec.name,
                "spec_revision": policy.spec.revision,
                "source_doc": policy.spec.source_doc,
                "profile": policy.profile.name,
                "role": policy.role,
                "host": run.host,
                "enabled": policy.enabled,
                "conditions": {
                    c.name: {"enabled": c.enabled, "decided_by": c.decided_by} for c in policy.conditions
                },
                "remote_commands": run.remote_commands,
                "snapshot_s": round(run.seconds, 3),
                "read_only": run.read_only,
                "host_key": run.host_key,
                "error": run.error.reason if run.error else None,
                "ufw_rules": [r.as_dict() for r in run.rules],
                "snapshot": {k: run.raw[k] for k in SNAPSHOT_SECTIONS if k in run.raw},
                "rows": [_row(e) for e in policy.rows],
                "fingerprint": {"start": run.fingerprint, "end": run.fingerprint_after},
            }
        )
    devices += [_site(reg, group, pairs) for group, pairs in (reg.site.groups() if reg.site else {}).items()]
    for item in session.items:
        if isinstance(item, PairItem):
            rows.append(_pair_result(reg, item))
        if not isinstance(item, CheckItem):
            continue
        run = item.run
        outcome, _ = reg.outcomes.get(item.nodeid, ("not run", run.label))
        verdict = item.verdict
        entry: dict[str, Any] = {"nodeid": item.nodeid, "device": run.label, "outcome": outcome}
        if verdict is not None:
            entry |= {k: v for k, v in verdict.as_dict().items() if k != "outcome"}
        else:
            entry |= {
                "key": item.key,
                "check": item.check,
                "failure_class": "device-error" if run.error else None,
                "observed": run.error.reason if run.error else None,
            }
        rows.append(entry)
    meta = {
        "operator": reg.settings.operator,
        "created": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "tool_version": __version__,
    }
    return {"format": FORMAT, "run": meta, "devices": devices, "results": rows}


def _site(reg: Registry, group: str, pairs: list[Pair]) -> dict[str, Any]:
    """A site's node-to-node flows, shown in the report like a device whose rows are the pairs."""
    spec = pairs[0].source.policy.spec
    nodes = {n.name: n for p in pairs for n in (p.source, p.peer)}
    return {
        "device": group,
        "kind": "site",
        "spec": spec.name,
        "spec_revision": spec.revision,
        "source_doc": spec.source_doc,
        "profile": ", ".join(sorted({n.policy.profile.name for n in nodes.values()})),
        "role": None,
        "host": pairs[0].site,
        "enabled": [],
        "conditions": {},
        "remote_commands": 0,
        "read_only": None,
        "host_key": None,
        "error": None,
        "nodes": [
            {"name": n.name, "role": n.role, "device": n.device, "address": n.address} for n in nodes.values()
        ],
        "rows": [_pair_row(p) for p in pairs],
    }


def _pair_row(pair: Pair) -> dict[str, Any]:
    e = (pair.peer_rows or pair.source_rows)[0]
    return {
        "id": ",".join(dict.fromkeys(r.row.id for r in pair.rows)),
        "key": pair.key,
        "direction": "node-to-node",
        "proto": pair.proto,
        "ports": str(pair.port),
        "action": "allow",
        "service": pair.services,
        "applies": pair.applies,
        "decision": "; ".join(dict.fromkeys(r.decision for r in pair.rows)),
        "manual": None,
        "citation": e.row.citation.as_dict(),
    }


def _pair_result(reg: Registry, item: PairItem) -> dict[str, Any]:
    outcome, _ = reg.outcomes.get(item.nodeid, ("not run", item.device))
    entry: dict[str, Any] = {"nodeid": item.nodeid, "device": item.device, "outcome": outcome}
    entry |= {"source": item.pair.source.name, "peer": item.pair.peer.name}
    if item.verdict is not None:
        return entry | {k: v for k, v in item.verdict.as_dict().items() if k != "outcome"}
    return entry | {"key": item.pair.key, "check": "pair", "failure_class": None, "observed": None}


def _row(e: Expectation) -> dict[str, Any]:
    """One requirement row of the document as the device's policy reads it (the report's matrix)."""
    return {
        "id": e.row.id,
        "key": e.key,
        "direction": e.side.direction,
        "proto": e.side.proto,
        "ports": ports_label(e.row.ports),
        "action": e.action,
        "service": e.row.service,
        "applies": e.applies,
        "decision": e.decision,
        "manual": e.row.manual,
        "citation": e.row.citation.as_dict(),
    }


def report_data(reg: Registry, session: pytest.Session) -> ReportData:
    return build(
        results_data(reg, session),
        title="Port and firewall acceptance report",
        operator=reg.settings.operator,
        created=time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        tool_version=__version__,
    )


def write(reg: Registry, session: pytest.Session) -> None:
    path = reg.settings.json_path
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results_data(reg, session), indent=2), encoding="utf-8")
