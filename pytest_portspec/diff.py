"""`portspec diff OLD.json NEW.json`: what changed between two runs (pure over results files).

For nightly regression runs: items that newly fail or error, items that were fixed, devices
that newly cannot be checked, and what changed on the device itself (ufw rules added or
removed, listening sockets that appeared or went away).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_portspec.errors import PortspecError
from pytest_portspec.parse.sockets import read_listening

BAD = ("failed", "error")


@dataclass
class DeviceChanges:
    device: str
    rules_added: list[str] = field(default_factory=list)
    rules_removed: list[str] = field(default_factory=list)
    sockets_added: list[str] = field(default_factory=list)
    sockets_removed: list[str] = field(default_factory=list)
    error_before: str | None = None
    error_now: str | None = None

    def empty(self) -> bool:
        return not (
            self.rules_added
            or self.rules_removed
            or self.sockets_added
            or self.sockets_removed
            or self.error_before != self.error_now
        )


@dataclass
class Diff:
    regressions: list[dict[str, Any]] = field(default_factory=list)
    fixed: list[dict[str, Any]] = field(default_factory=list)
    devices: list[DeviceChanges] = field(default_factory=list)

    @property
    def regressed(self) -> bool:
        return bool(self.regressions) or any(d.error_now and not d.error_before for d in self.devices)

    def as_dict(self) -> dict[str, Any]:
        return {
            "regressed": self.regressed,
            "regressions": self.regressions,
            "fixed": self.fixed,
            "devices": [vars(d) for d in self.devices if not d.empty()],
        }


def load_results(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PortspecError(f"{path}: cannot read the results file: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise PortspecError(f"{path}: not a results file (invalid JSON: {exc})") from None
    if not isinstance(data, dict) or data.get("format") != 1 or not isinstance(data.get("results"), list):
        raise PortspecError(f"{path}: not a portspec results file (written by --portspec-json, format 1)")
    return data


def _change(item: dict[str, Any], before: str, now: str) -> dict[str, Any]:
    return {
        "nodeid": item["nodeid"],
        "device": item.get("device"),
        "check": item.get("check"),
        "before": before,
        "now": now,
        "failure_class": item.get("failure_class"),
        "observed": item.get("observed"),
    }


def diff_results(old: dict[str, Any], new: dict[str, Any]) -> Diff:
    result = Diff()
    before = {r["nodeid"]: r for r in old["results"]}
    for item in new["results"]:
        was = before.get(item["nodeid"], {}).get("outcome", "absent")
        now = item["outcome"]
        if now in BAD and was not in BAD:
            result.regressions.append(_change(item, was, now))
        elif was in BAD and now == "passed":
            result.fixed.append(_change(item, was, now))
    old_devices = {d["device"]: d for d in old.get("devices", [])}
    for device in new.get("devices", []):
        result.devices.append(_device_changes(old_devices.get(device["device"], {}), device))
    return result


def _rules(device: dict[str, Any]) -> set[str]:
    return {r["rule"] for r in device.get("ufw_rules", [])}


def _sockets(device: dict[str, Any]) -> set[str]:
    text = device.get("snapshot", {}).get("sockets", "")
    found, _ = read_listening(text)
    return {s.describe() for s in found}


def _device_changes(old: dict[str, Any], new: dict[str, Any]) -> DeviceChanges:
    changes = DeviceChanges(new["device"], error_before=old.get("error"), error_now=new.get("error"))
    if old and not old.get("error") and not new.get("error"):
        changes.rules_added = sorted(_rules(new) - _rules(old))
        changes.rules_removed = sorted(_rules(old) - _rules(new))
        changes.sockets_added = sorted(_sockets(new) - _sockets(old))
        changes.sockets_removed = sorted(_sockets(old) - _sockets(new))
    return changes


def diff_text(result: Diff) -> str:
    lines = [
        f"REGRESSED: {len(result.regressions)} item(s) newly failing" if result.regressed else "no regression"
    ]
    for title, items in (("newly failing", result.regressions), ("fixed", result.fixed)):
        if items:
            lines.append(f"\n{title}:")
            lines += [
                f"  {i['nodeid']}: {i['before']} -> {i['now']}"
                + (f" ({i['failure_class']}: {i['observed']})" if i["now"] in BAD else "")
                for i in items
            ]
    for d in result.devices:
        if d.empty():
            continue
        lines.append(f"\n{d.device}:")
        if d.error_now != d.error_before:
            lines.append(f"  device error: {d.error_before or 'none'} -> {d.error_now or 'none'}")
        lines += [f"  + ufw rule   {r}" for r in d.rules_added] + [
            f"  - ufw rule   {r}" for r in d.rules_removed
        ]
        lines += [f"  + listening  {s}" for s in d.sockets_added]
        lines += [f"  - listening  {s}" for s in d.sockets_removed]
    return "\n".join(lines)
