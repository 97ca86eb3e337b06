"""The results file (--portspec-json): devices and verdicts as data, for reports and other tools.

The data is built where the items ran. Under pytest-xdist each worker builds its part (the
devices it read, the items it ran) and the controller merges the parts (`merge`, pure); the
terminal summary and the exit status are read from the merged data, so a run spread over
workers says what a run in one process says.
"""

from __future__ import annotations

import json
import shlex
import time
from collections import Counter
from collections.abc import Collection
from pathlib import Path
from typing import Any

import pytest

from pytest_portspec import __version__
from pytest_portspec.checks.flow_plan import Pair
from pytest_portspec.engine.waivers import unused_waivers
from pytest_portspec.outcome.merge import NOT_RUN
from pytest_portspec.outcome.merge import merge as merge  # the plugin and the tests read it here
from pytest_portspec.outcome.read import FORMAT
from pytest_portspec.plugin.items import CheckItem, PairItem
from pytest_portspec.plugin.session import Registry
from pytest_portspec.report.data import TITLE, ReportData, build, partial_run
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
            }
        )
    devices += [_site(reg, group, pairs) for group, pairs in (reg.site.groups() if reg.site else {}).items()]
    for item in session.items:
        if isinstance(item, PairItem):
            rows.append(_pair_result(reg, item))
        if not isinstance(item, CheckItem):
            continue
        run = item.run
        outcome, _ = reg.outcomes.get(item.nodeid, (NOT_RUN, run.label))
        verdict = item.verdict
        entry: dict[str, Any] = {"nodeid": item.result_id, "device": run.label, "outcome": outcome}
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
        "deselected": reg.deselected,
        "selection": _selection(session.config),
    }
    unused = [{"where": w, "why": why} for w, why in _unused_waivers(reg, session.config)]
    return {"format": FORMAT, "run": meta, "devices": devices, "results": rows, "unused_waivers": unused}


def _unused_waivers(reg: Registry, config: pytest.Config) -> list[tuple[str, str]]:
    """The waivers this process saw accept no failure (see `merge` for a run over workers)."""
    used: Collection[str] = getattr(config.pluginmanager.get_plugin("portspec-waivers"), "used", ())
    rows = {run.label: {r.id for r in run.policy.spec.rows} for run in reg.runs}
    for group, pairs in (reg.site.groups() if reg.site else {}).items():
        rows[group] = {r.id for r in pairs[0].source.policy.spec.rows}
    return unused_waivers(reg.settings.waivers, used, rows)


def capped(text: str, limit: int = RAW_CAP) -> str:
    """A raw section as the results file keeps it: whole up to `limit` characters, else its first
    whole lines and a last line saying how much was cut (a cut line would read as another one)."""
    if len(text) <= limit:
        return text
    kept = text[: text.rfind("\n", 0, limit) + 1] or text[:limit]
    cut = len(text) - len(kept)
    return f"{kept}[portspec: {cut} more characters cut: a raw section keeps its first {limit} characters]\n"


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


def _selection(config: pytest.Config) -> str:
    """How the user narrowed the run, as they typed it."""
    keyword, marks = config.getoption("keyword", ""), config.getoption("markexpr", "")
    deselect = config.getoption("deselect", None) or []
    return " ".join(
        [f"-k {shlex.quote(keyword)}"] * bool(keyword)
        + [f"-m {shlex.quote(marks)}"] * bool(marks)
        + [f"--deselect {shlex.quote(d)}" for d in deselect]
    )


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


def worker_part(reg: Registry, session: pytest.Session) -> dict[str, Any]:
    """An xdist worker's part: the devices it read, and every item (`not run` where another ran it).

    As plain JSON values: execnet carries builtin types only (no enums, paths or subclasses), and
    the controller writes the same values a run in one process writes.
    """
    data = results_data(reg, session)
    data["devices"] = [d for d in data["devices"] if d["device"] in reg.done or d.get("kind") == "site"]
    part: dict[str, Any] = json.loads(json.dumps(data))
    return part


def read(device: dict[str, Any]) -> bool:
    """Whether the run read the device (its snapshot, or the error that stopped it)."""
    return device["error"] is not None or (device.get("fingerprint") or {}).get("start") is not None


def changed(data: dict[str, Any]) -> list[str]:
    """The devices whose firewall state changed during the run: the session fails."""
    return [d["device"] for d in data["devices"] if d["read_only"] is False]


def _counts(data: dict[str, Any], label: str) -> str:
    counts = Counter(r["outcome"] for r in data["results"] if r["device"] == label)
    counts.pop(NOT_RUN, None)
    return ", ".join(f"{n} {o}" for o, n in sorted(counts.items())) or "not run"


def summary(data: dict[str, Any]) -> list[tuple[str, bool]]:
    """The terminal's lines per device: (line, whether it is bad news)."""
    lines: list[tuple[str, bool]] = []
    for device in filter(read, data["devices"]):
        label = device["device"]
        shown = _counts(data, label)
        state = f"error: {device['error']}" if device["error"] else shown
        lines.append(
            (
                f"portspec {label}: {device['remote_commands']} remote command(s), "
                f"{device['snapshot_s']:.1f} s, {state}",
                device["error"] is not None,
            )
        )
    for site in (d for d in data["devices"] if d.get("kind") == "site"):
        shown = _counts(data, site["device"])
        flows = f"{len(site['rows'])} node-to-node flow(s)"
        lines.append((f"portspec {site['device']}: {flows}, {shown}", "failed" in shown or "error" in shown))
    for device in data["devices"]:
        if (device.get("fingerprint") or {}).get("start") is not None and device["read_only"] is None:
            lines.append(
                (
                    f"portspec {device['device']}: the read-only proof could not be made: "
                    f"{device.get('read_only_problem') or 'the final fingerprint command failed'}",
                    True,
                )
            )
    for waiver in data.get("unused_waivers", []):
        lines.append((f"portspec: warning: unused waiver {waiver['where']}: {waiver['why']}", False))
    partial = partial_run(data["run"])
    if partial:
        lines.append((f"portspec: partial run, not a sign-off: {partial}", True))
    for label in changed(data):
        lines.append(
            (
                f"portspec {label}: SESSION ERROR: the device's firewall state changed during "
                f"the run (ufw files or iptables rules differ from the start)",
                True,
            )
        )
    return lines


def report_data(data: dict[str, Any], operator: str) -> ReportData:
    return build(
        data,
        title=TITLE,
        operator=operator,
        created=time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        tool_version=__version__,
    )


def write(data: dict[str, Any], path: Path | None) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
