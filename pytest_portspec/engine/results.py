"""The results of a run as data (the results file, format 2): built from the fleet, no pytest.

The data is built where the checks ran. A run spread over pytest-xdist workers builds a part
per worker (the devices it read, every check: `not run` where another worker ran it) and the
controller merges them (outcome/merge.py), so a spread run writes what a run in one process writes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection
from typing import Any

from pytest_portspec import __version__
from pytest_portspec.checks.flow_plan import Pair
from pytest_portspec.device.contract import offline_of
from pytest_portspec.device.reached import jump_of
from pytest_portspec.engine.device_run import DeviceRun
from pytest_portspec.engine.fleet import Fleet, Planned
from pytest_portspec.engine.waivers import unused_waivers
from pytest_portspec.outcome.records import FORMAT, NOT_RUN
from pytest_portspec.scan.model import describe_scan
from pytest_portspec.spec.model import ports_label
from pytest_portspec.spec.policy import Expectation

SNAPSHOT_SECTIONS = (
    "ufw-status",
    "sockets",
    "iptables",
    "ip6tables",
    "nft",
    "resolv",
    "time-servers",
    "processes",
)  # raw evidence for the report; the kernel sections are kept whole apart ("kernel")
RAW_CAP = 1024 * 1024  # characters of each raw section copied: a device may answer with megabytes


def results_data(
    fleet: Fleet, *, operator: str, selection: str = "", used_waivers: Collection[str] = ()
) -> dict[str, Any]:
    """The whole results file of a run: its devices, sites and every selected check's outcome."""
    devices = [_device(run) for run in fleet.runs]
    devices += [_site(group, pairs) for group, pairs in fleet.groups().items()]
    meta = {
        "operator": operator,
        "created": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "tool_version": __version__,
        "deselected": fleet.deselected,
        "selection": selection,
    }
    unused = [{"where": w, "why": why} for w, why in _unused_waivers(fleet, used_waivers)]
    rows = [_result(fleet, p) for p in fleet.selected]
    return {"format": FORMAT, "run": meta, "devices": devices, "results": rows, "unused_waivers": unused}


def worker_part(
    fleet: Fleet, *, operator: str, selection: str = "", used_waivers: Collection[str] = ()
) -> dict[str, Any]:
    """A worker's part: the devices it read, and every check (`not run` where another ran it).

    As plain JSON values: execnet carries builtin types only (no enums, paths or subclasses), and
    the controller writes the same values a run in one process writes.
    """
    data = results_data(fleet, operator=operator, selection=selection, used_waivers=used_waivers)
    done = fleet.scheduler.done
    data["devices"] = [d for d in data["devices"] if d["device"] in done or d.get("kind") == "site"]
    part: dict[str, Any] = json.loads(json.dumps(data))
    return part


def _device(run: DeviceRun) -> dict[str, Any]:
    policy = run.policy
    return {
        "device": run.label,
        "spec": policy.spec.name,
        "spec_revision": policy.spec.revision,
        "source_doc": policy.spec.source_doc,
        "profile": policy.profile.name,
        "role": policy.role,
        "host": run.host,
        "enabled": policy.enabled,
        "conditions": {c.name: {"enabled": c.enabled, "decided_by": c.decided_by} for c in policy.conditions},
        "remote_commands": run.remote_commands,
        "snapshot_s": round(run.seconds, 3),
        "read_only": run.read_only,
        "read_only_problem": run.proof_problem,
        "host_key": run.host_key,
        "host_key_policy": run.host_key_policy,
        "host_key_verified": run.host_key_verified,
        "host_key_note": run.host_key_note,
        "sudo_mode": run.sudo_mode if run.sudo else "none",
        "error": run.error.reason if run.error else None,
        "ufw_rules": [r.as_dict() for r in run.rules],
        "firewall_findings": [f.as_dict() for f in run.findings],
        "kernel_notes": run.facts.kernel.notes if run.facts and run.facts.kernel else [],
        "readings": [c.as_dict() for c in run.readings],  # which reading each contradiction took
        "snapshot": {k: capped(run.raw[k]) for k in SNAPSHOT_SECTIONS if k in run.raw},
        "kernel": run.kernel_texts,  # what `portspec packet --snapshot` and `matrix` read
        "rows": [_row(e) for e in policy.rows],
        "fingerprint": {"start": run.fingerprint, "end": run.fingerprint_after},
        **_capture(run),
        **({"checked_from": run.checked_from} if run.checked_from else {}),  # a spread run's worker
        **({"reached_through": via.through} if run.host_key and (via := jump_of(run.transport)) else {}),
        **({"scanned": describe_scan(run.facts.scan)} if run.facts and run.facts.scan else {}),  # --scan
    }


def _capture(run: DeviceRun) -> dict[str, Any]:
    """A capture's time, host, user and hash (device/bundle.py); nothing for a live device."""
    offline = offline_of(run.transport)
    return {"capture": dict(offline.record)} if offline is not None else {}


def _result(fleet: Fleet, p: Planned) -> dict[str, Any]:
    """One check's entry: its outcome as shown, with its verdict (or why there is none)."""
    shown = fleet.shown.get(p.id)
    entry: dict[str, Any] = {
        "nodeid": p.id,
        "device": p.device,
        "outcome": shown.outcome if shown else NOT_RUN,
    }
    if p.pair is not None:
        entry |= {"source": p.pair.source.name, "peer": p.pair.peer.name}
    if shown is not None and shown.verdict is not None:
        return entry | {k: v for k, v in shown.verdict.as_dict().items() if k != "outcome"}
    error = p.run.error if p.run is not None else None
    return entry | {
        "key": p.key,
        "check": p.check,
        "failure_class": "device-error" if error else None,
        "observed": error.reason if error else None,
    }


def _unused_waivers(fleet: Fleet, used: Collection[str]) -> list[tuple[str, str]]:
    """The waivers this process saw accept no failure (see outcome/merge.py for a spread run)."""
    rows = {run.label: {r.id for r in run.policy.spec.rows} for run in fleet.runs}
    for group, pairs in fleet.groups().items():
        rows[group] = {r.id for r in pairs[0].source.policy.spec.rows}
    return unused_waivers(fleet.settings.waivers, used, rows)


def capped(text: str, limit: int = RAW_CAP) -> str:
    """A raw section as the results file keeps it: whole up to `limit` characters, else its first
    whole lines and a last line saying how much was cut (a cut line would read as another one)."""
    if len(text) <= limit:
        return text
    kept = text[: text.rfind("\n", 0, limit) + 1] or text[:limit]
    cut = len(text) - len(kept)
    return f"{kept}[portspec: {cut} more characters cut: a raw section keeps its first {limit} characters]\n"


def _site(group: str, pairs: list[Pair]) -> dict[str, Any]:
    """A site's node-to-node flows, shown in the report like a device whose rows are the flows."""
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
