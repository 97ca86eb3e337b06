"""`portspec diff OLD.json NEW.json`: what changed between two runs (pure over results files).

For nightly regression runs: items that newly fail or error, items that were fixed, items the
new run no longer checked (absent, or not run: a narrower selection, a run cut short), devices
that newly cannot be checked, and what changed on the device itself (ufw rules added or
removed, listening sockets that appeared or went away). Both files are checked against the
results schema first (`outcome.read.load_results`, which gives the file's records): an invalid
file is an error, never "no regression".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from pytest_portspec.outcome.records import NOT_RUN, Device, Outcome, Result, Site
from pytest_portspec.parse.sockets import read_listening
from pytest_portspec.text import printable

BAD = ("failed", "error")
CHECKED = ("passed", "accepted", "failed", "error")  # outcomes of an item that ran
ABSENT = "absent"  # an item one of the files does not have


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


@dataclass(frozen=True)
class Change:
    """An item whose outcome changed between the two runs."""

    nodeid: str
    device: str
    check: str
    before: str  # an outcome, or "absent"
    now: str
    failure_class: str | None
    observed: str | None


@dataclass
class Diff:
    regressions: list[Change] = field(default_factory=list)
    fixed: list[Change] = field(default_factory=list)
    dropped: list[Change] = field(default_factory=list)  # checked before, not now
    devices: list[DeviceChanges] = field(default_factory=list)

    @property
    def regressed(self) -> bool:
        return bool(self.regressions or self.dropped) or any(
            d.error_now and not d.error_before for d in self.devices
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "regressed": self.regressed,
            "regressions": [asdict(c) for c in self.regressions],
            "fixed": [asdict(c) for c in self.fixed],
            "dropped": [asdict(c) for c in self.dropped],
            "devices": [vars(d) for d in self.devices if not d.empty()],
        }


def _change(item: Result, before: str, now: str) -> Change:
    return Change(item.nodeid, item.device, item.check, before, now, item.failure_class, item.observed)


def diff_results(old: Outcome, new: Outcome) -> Diff:
    result = Diff()
    before = {r.nodeid: r.outcome for r in old.results}
    for item in new.results:
        was, now = before.get(item.nodeid, ABSENT), item.outcome
        if now in BAD and was not in BAD:
            result.regressions.append(_change(item, was, now))
        elif was in BAD and now == "passed":
            result.fixed.append(_change(item, was, now))
        elif was in CHECKED and now == NOT_RUN:
            result.dropped.append(_change(item, was, now))
    now_ids = {r.nodeid for r in new.results}
    for item in old.results:
        if item.nodeid not in now_ids and item.outcome in CHECKED:
            result.dropped.append(_change(item, item.outcome, ABSENT))
    first_of = {d.device: d for d in reversed(old.devices)}  # the first of a label, as Outcome.device
    for device in new.devices:
        result.devices.append(_device_changes(first_of.get(device.device), device))
    return result


def _rules(device: Device | Site) -> set[str]:
    return {r.rule for r in device.ufw_rules} if isinstance(device, Device) else set()


def _sockets(device: Device | Site) -> set[str]:
    text = device.snapshot.get("sockets", "") if isinstance(device, Device) else ""
    found, _ = read_listening(text)
    return {s.describe() for s in found}


def _device_changes(old: Device | Site | None, new: Device | Site) -> DeviceChanges:
    changes = DeviceChanges(new.device, error_before=old.error if old else None, error_now=new.error)
    if old is not None and not old.error and not new.error:
        changes.rules_added = sorted(_rules(new) - _rules(old))
        changes.rules_removed = sorted(_rules(old) - _rules(new))
        changes.sockets_added = sorted(_sockets(new) - _sockets(old))
        changes.sockets_removed = sorted(_sockets(old) - _sockets(new))
    return changes


def diff_text(result: Diff) -> str:
    lines = [_headline(result)]
    for title, items in (
        ("newly failing", result.regressions),
        ("no longer checked", result.dropped),
        ("fixed", result.fixed),
    ):
        if items:
            lines += ["", f"{title}:"]
            lines += [
                f"  {i.nodeid}: {i.before} -> {i.now}"
                + (f" ({i.failure_class}: {i.observed})" if i.now in BAD else "")
                for i in items
            ]
    for d in result.devices:
        if d.empty():
            continue
        lines += ["", f"{d.device}:"]
        if d.error_now != d.error_before:
            lines.append(f"  device error: {d.error_before or 'none'} -> {d.error_now or 'none'}")
        lines += [f"  + ufw rule   {r}" for r in d.rules_added] + [
            f"  - ufw rule   {r}" for r in d.rules_removed
        ]
        lines += [f"  + listening  {s}" for s in d.sockets_added]
        lines += [f"  - listening  {s}" for s in d.sockets_removed]
    return "\n".join(map(printable, lines))  # every value came from a file: no raw escapes


def _headline(result: Diff) -> str:
    if not result.regressed:
        return "no regression"
    dropped = f", {len(result.dropped)} no longer checked" if result.dropped else ""
    return f"REGRESSED: {len(result.regressions)} item(s) newly failing{dropped}"
