"""The results file (--portspec-json, format 2) as typed records (pure: no pytest, no I/O).

    Outcome.to_json()       the file's data: the keys, their order and their values the schema
                            (pytest_portspec/schema/results-v2.schema.json) publishes
    Outcome.from_json(data) the records of data already checked against that schema
                            (`outcome.read.load_results` checks it; never call this on raw input)

Field names are the file's keys, so the schema documents the records too. A record reads only
what the schema requires or allows: a key it lacks raises KeyError (a writer bug, never a
default that reads as a pass). Sequences are tuples, so a record is not changed by its readers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Final, Literal

from pytest_portspec.outcome.device_records import (
    Citation,
    Condition,
    Device,
    Fingerprint,
    FirewallFinding,
    Node,
    Reading,
    Record,
    Row,
    Site,
    UfwRule,
    device_from_json,
)

__all__ = [
    "FORMAT",
    "NOT_RUN",
    "Citation",
    "Condition",
    "Device",
    "Fingerprint",
    "FirewallFinding",
    "Node",
    "Outcome",
    "Reading",
    "Result",
    "Row",
    "RunInfo",
    "Site",
    "UfwRule",
    "UnusedWaiver",
]

FORMAT: Final = 2  # the shape written; the schema file carries the same number
NOT_RUN = "not run"  # an item collected and never run (another worker's, or the run stopped)
# a result's keys that only an item with a verdict has (see Result.has_verdict)
VERDICT_KEYS = ("row", "direction", "proto", "port", "expected", "evidence", "notes", "citation")


@dataclass(frozen=True, kw_only=True)
class RunInfo(Record):
    """How the run was made: who, when, by which version, and what the selection left out."""

    operator: str
    created: str
    tool_version: str
    deselected: int  # checks left out by -k, -m, --deselect: no sign-off when above 0
    selection: str  # the narrowing as typed ("-k 'ssh'"), "" for none

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunInfo:
        return cls(**{f.name: data[f.name] for f in fields(cls)})


@dataclass(frozen=True, kw_only=True)
class Result(Record):
    """One item's final outcome: a check of a row on a device, or a site's node-to-node flow."""

    nodeid: str  # LABEL::KEY::CHECK (a flow: SITE::SOURCE->PEER::PORT-PROTO)
    device: str  # the label of its device (or site)
    outcome: str  # passed, failed, skipped, error, accepted, not run
    source: str | None = None  # node-to-node flows only: the node that connects
    peer: str | None = None  # node-to-node flows only: the node connected to
    key: str
    check: str  # a check kind: ufw, listening, outbound, inbound, exposure, default, pair, or registered
    row: str | None = None
    direction: str | None = None
    proto: str | None = None
    port: str | None = None
    failure_class: str | None
    expected: str = ""
    observed: str | None
    evidence: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    citation: Citation | None = None
    # False: the item reached no verdict (never ran, or its device failed): the file then has no
    # row, direction, proto, port, expected, evidence, notes or citation for it
    has_verdict: bool = True

    def to_json(self) -> dict[str, Any]:
        data = super().to_json()
        del data["has_verdict"]
        for name in ("source", "peer"):
            if data[name] is None:
                del data[name]
        if not self.has_verdict:
            for name in VERDICT_KEYS:
                del data[name]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Result:
        citation = data.get("citation")
        return cls(
            nodeid=data["nodeid"],
            device=data["device"],
            outcome=data["outcome"],
            source=data.get("source"),
            peer=data.get("peer"),
            key=data["key"],
            check=data["check"],
            row=data.get("row"),
            direction=data.get("direction"),
            proto=data.get("proto"),
            port=data.get("port"),
            failure_class=data["failure_class"],
            expected=data.get("expected", ""),
            observed=data["observed"],
            evidence=tuple(data.get("evidence", ())),
            notes=tuple(data.get("notes", ())),
            citation=None if citation is None else Citation.from_json(citation),
            has_verdict=any(name in data for name in VERDICT_KEYS),
        )


@dataclass(frozen=True, kw_only=True)
class UnusedWaiver(Record):
    """A waiver (--accept) that accepted no failure of the run, and why."""

    where: str  # FILE:LINE of the waiver
    why: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> UnusedWaiver:
        return cls(where=data["where"], why=data["why"])


@dataclass(frozen=True, kw_only=True)
class Outcome(Record):
    """The whole results file: the run, its devices and sites, every item's result."""

    format: Literal[2] = FORMAT
    run: RunInfo
    devices: tuple[Device | Site, ...] = ()
    results: tuple[Result, ...] = ()
    unused_waivers: tuple[UnusedWaiver, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Outcome:
        """The records of a format-2 file's data (a format-1 file upgraded by `outcome.read`)."""
        return cls(
            run=RunInfo.from_json(data["run"]),
            devices=tuple(device_from_json(d) for d in data["devices"]),
            results=tuple(Result.from_json(r) for r in data["results"]),
            unused_waivers=tuple(UnusedWaiver.from_json(w) for w in data["unused_waivers"]),
        )

    def device(self, label: str) -> Device | Site | None:
        """The device or site of that label (the first: labels are unique in a file written)."""
        return next((d for d in self.devices if d.device == label), None)

    def results_of(self, label: str) -> tuple[Result, ...]:
        """The items of one device or site, in the file's order."""
        return tuple(r for r in self.results if r.device == label)

    def by_device(self) -> dict[str, tuple[Result, ...]]:
        """Every device's items, in the file's order: grouped in one pass over the results (a
        pass per device was quadratic: 1,000 devices times 96,000 items)."""
        grouped: dict[str, list[Result]] = {}
        for r in self.results:
            grouped.setdefault(r.device, []).append(r)
        return {label: tuple(items) for label, items in grouped.items()}

    def sites(self) -> tuple[Site, ...]:
        return tuple(d for d in self.devices if isinstance(d, Site))

    def changed(self) -> list[str]:
        """The devices whose firewall state changed during the run: the session fails."""
        return [d.device for d in self.devices if d.read_only is False]
