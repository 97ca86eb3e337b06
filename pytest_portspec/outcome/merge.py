"""Merging the results of a run spread over pytest-xdist workers (pure, plain JSON values).

Each worker builds its part of the results (`results.worker_part`: the devices it read, every
item, `not run` where another worker ran it) and the controller merges them with its own data,
so a run spread over workers writes what a run in one process writes.
"""

from __future__ import annotations

from typing import Any

from pytest_portspec.outcome.records import NOT_RUN as NOT_RUN  # results.py and the tests read it here


def merge(base: dict[str, Any], parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The controller's data (every device, unread) completed by the workers' parts.

    A device read by a worker replaces the controller's entry; an item's entry from the worker
    that ran it replaces `not run`. Order: the controller's devices, the items as collected.
    """
    devices = {d["device"]: d for d in base["devices"]}
    read: dict[str, list[dict[str, Any]]] = {}
    for part in parts:
        for device in part["devices"]:
            read.setdefault(device["device"], []).append(device)
    for label, entries in read.items():
        devices[label] = _combine(entries)
    results = {r["nodeid"]: r for r in base["results"]}
    for part in parts:
        for entry in part["results"]:
            known = results.get(entry["nodeid"])
            if known is None or known["outcome"] == NOT_RUN:
                results[entry["nodeid"]] = entry
    run = base["run"] | {  # every worker collects and deselects the same items; the controller none
        "deselected": max(
            [base["run"].get("deselected", 0)] + [p["run"].get("deselected", 0) for p in parts]
        ),
    }
    merged = base | {"run": run, "devices": list(devices.values()), "results": list(results.values())}
    if "unused_waivers" in base:
        merged["unused_waivers"] = _still_unused(base, parts)
    return merged


def _still_unused(base: dict[str, Any], parts: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The waivers no process used: one a worker used is used (the controller runs no item)."""
    unused: list[dict[str, str]] = base.get("unused_waivers", [])
    for part in parts:
        elsewhere = {w["where"] for w in part.get("unused_waivers", [])}
        unused = [w for w in unused if w["where"] in elsewhere]
    return unused


def _combine(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """One device read by several workers (a --dist other than loadgroup): every command counts,
    and the proof fails if any worker's failed."""
    if len(entries) == 1:
        return entries[0]
    proofs = [e["read_only"] for e in entries]
    worst = min(
        entries, key=lambda e: (e["read_only"] is not False, e["error"] is None, e["read_only"] is not None)
    )
    return worst | {
        "remote_commands": sum(e["remote_commands"] for e in entries),
        "read_only": False if False in proofs else None if None in proofs else True,
    }
