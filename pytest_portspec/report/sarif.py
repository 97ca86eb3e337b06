"""SARIF 2.1.0 from a run's results records, for code scanning and vulnerability managers (pure but
`load_sources`, which reads spec files).

    build(outcome, sources, root)  the SARIF log as data (json.dumps it): one result per failed or
                                   errored item, and per accepted one a result with its suppression
    SpecSource.of(spec)            where a spec's rows are written: its file and each row's line
    load_sources(outcome, dirs)    the SpecSources of a results file's specs, found by name

A result's rule is the row key (`in-502-tcp`, the middle of the node id), its message the
sentence the pytest item printed, its location the spec file and line of the row, so GitHub code
scanning and DefectDojo show each failure against the requirement it breaks. Passes, skips and
deselected checks are not results; items not run and what makes the run no sign-off (a partial
run, a device changed or unproven) are the invocation's notifications. The text is data, escaped
by JSON only; long evidence is clipped as elsewhere (`text.clip`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

from pytest_portspec.errors import SpecError, SpecNotFoundError
from pytest_portspec.outcome.records import NOT_RUN, Device, Outcome, Result, Row, Site
from pytest_portspec.report.explain import sentence
from pytest_portspec.report.terminal import summary
from pytest_portspec.text import clip

if TYPE_CHECKING:
    from pytest_portspec.spec.model import Spec

SCHEMA: Final = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
TOOL: Final = "pytest-portspec"
SRCROOT: Final = "%SRCROOT%"
REPORTED: Final = ("failed", "error", "accepted")
VALUE_LIMIT: Final = 1000  # characters of one evidence line, note or observation
EVIDENCE_LIMIT: Final = 50  # evidence lines of one result (the results file has them all)
# the failure classes of a required flow or service that does not work: a "warning". Every other
# class (the device lets in or serves what the document blocks or does not document: permitted-by-*,
# undocumented-open, unused-range-open, forbidden-listener, exposed*, reachable), a class added
# later, and an item the tool could not decide are an "error": never a lower level than it may be
AVAILABILITY: Final = frozenset(
    {
        "blocked-by-ufw",
        "blocked-by-kernel",
        "restricted",
        "default-policy",
        "not-listening",
        "loopback-only",
        "wrong-process",
        "blocked-locally",
        "dns-failure",
        "refused",
        "timeout",
        "no-route",
        "error",
        "wrong-reply",
        "blocked-by-peer-ufw",
        "service-stopped",
        "blocked-in-path",
    }
)


@dataclass(frozen=True)
class SpecSource:
    """Where a spec is written: its file, the revision read there, the line of each row and of
    its default policy (the device items: exposure, default-in, default-out)."""

    path: Path
    revision: int
    rows: Mapping[str, int]
    default_line: int

    @classmethod
    def of(cls, spec: Spec) -> SpecSource:
        rows = {r.id: r.line for r in spec.rows}
        return cls(spec.path, spec.revision, rows, spec.default.citation.line)


def load_sources(outcome: Outcome, spec_dirs: Sequence[Path] = ()) -> dict[str, SpecSource]:
    """The spec file of each spec the results name, looked up by name as `--device` does (the
    spec directories, then the packaged specs); a spec not found has no entry (no line shown)."""
    from pytest_portspec.spec.catalog import find_spec

    sources: dict[str, SpecSource] = {}
    for name in dict.fromkeys(d.spec for d in outcome.devices):
        try:
            sources[name] = SpecSource.of(find_spec(name, spec_dirs))
        except (SpecError, SpecNotFoundError):  # named by a run elsewhere, or no longer valid
            continue
    return sources


def level(result: Result) -> str:
    """SARIF's level of a reported item: an item the tool could not decide is an "error" (the
    device may be exposed), as is an exposure; a required flow that does not work a "warning"."""
    if result.outcome != "error" and result.failure_class in AVAILABILITY:
        return "warning"
    return "error"


def build(outcome: Outcome, sources: Mapping[str, SpecSource], root: Path | None = None) -> dict[str, Any]:
    """The SARIF log of a run: spec files under `root` (the repository) are named relative to
    it (`%SRCROOT%`), others by their absolute file URI."""
    reported = [r for r in outcome.results if r.outcome in REPORTED]
    entries = {d.device: d for d in outcome.devices}  # looked up once per item: fleets are large
    rules, index = _rules(entries, outcome.results)
    run: dict[str, Any] = {
        "tool": {"driver": {"name": TOOL, "version": outcome.run.tool_version, "rules": rules}},
        "invocations": [_invocation(outcome)],
        "results": [_result(r, entries.get(r.device), sources, root, index[r.key]) for r in reported],
        "properties": {"operator": outcome.run.operator, "created": outcome.run.created},
    }
    if root is not None:
        run["originalUriBaseIds"] = {SRCROOT: {"uri": _absolute(root).as_uri().rstrip("/") + "/"}}
    return {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}


def _invocation(outcome: Outcome) -> dict[str, Any]:
    """What makes the run no sign-off besides its results: items not run, a partial run, a device
    changed or without its read-only proof (the terminal summary's bad news)."""
    not_run = sum(r.outcome == NOT_RUN for r in outcome.results)
    lines = [line for line, bad in summary(outcome) if bad]
    lines += [f"portspec: {not_run} item(s) not run: the run is not complete"] * bool(not_run)
    return {
        "executionSuccessful": not not_run,
        "toolExecutionNotifications": [{"level": "error", "message": {"text": line}} for line in lines],
        "properties": {"deselected": outcome.run.deselected, "selection": outcome.run.selection},
    }


def _rules(
    entries: Mapping[str, Device | Site], results: tuple[Result, ...]
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """A rule per row key the run checked, failed or not (a reader then tells a requirement met
    from one not checked), described by the rows of that key (a key may be a row of several
    specs) or, for a device item, by what its check requires. One pass over rows, one over items."""
    about: dict[str, dict[str, None]] = {}
    for entry in entries.values():
        for row in entry.rows:
            about.setdefault(row.key, {})[f"{entry.spec} row {row.id} ({row.service})"] = None
    described: dict[str, dict[str, None]] = {}
    for r in results:
        if r.key not in described:
            described[r.key] = dict(about.get(r.key, {}))
        if r.key not in about and r.expected:
            described[r.key][r.expected] = None
    rules = [_rule(key, list(texts)) for key, texts in described.items()]
    return rules, {key: i for i, key in enumerate(described)}


def _rule(key: str, texts: list[str]) -> dict[str, Any]:
    about = "; ".join(texts) or "a check of the device as a whole"
    return {
        "id": key,
        "shortDescription": {"text": f"{key}: {clip(about, VALUE_LIMIT)}"},
        "fullDescription": {"text": f"The vendor document's requirement {key}: {about}"},
        "properties": {"tags": ["portspec"]},
    }


def _result(
    r: Result, entry: Device | Site | None, sources: Mapping[str, SpecSource], root: Path | None, rule: int
) -> dict[str, Any]:
    shown = _clipped(r)
    found: dict[str, Any] = {
        "ruleId": r.key,
        "ruleIndex": rule,
        "kind": "fail",
        "level": level(r),
        "message": {"text": sentence(shown)},
        "locations": [_location(r, entry, sources, root)],
        # one alert per item: the same row failing on two devices is two findings, not one
        "partialFingerprints": {"portspecItem/v1": hashlib.sha256(r.nodeid.encode()).hexdigest()},
        "properties": _properties(shown, entry),
    }
    if r.outcome == "accepted":
        why = next((n for n in r.notes if n.startswith("accepted deviation")), "accepted deviation")
        found["suppressions"] = [{"kind": "external", "status": "accepted", "justification": why}]
    return found


def _clipped(r: Result) -> Result:
    """The result as SARIF shows it: each value at most VALUE_LIMIT characters, at most
    EVIDENCE_LIMIT evidence lines (and one saying how many more the results file has)."""
    evidence = [clip(e, VALUE_LIMIT) for e in r.evidence[:EVIDENCE_LIMIT]]
    if len(r.evidence) > EVIDENCE_LIMIT:
        evidence.append(f"… {len(r.evidence) - EVIDENCE_LIMIT} more evidence line(s) in the results file")
    citation = r.citation and replace(r.citation, quote=clip(r.citation.quote, VALUE_LIMIT))
    return replace(
        r,
        observed=None if r.observed is None else clip(r.observed, VALUE_LIMIT),
        expected=clip(r.expected, VALUE_LIMIT),
        evidence=tuple(evidence),
        notes=tuple(clip(n, VALUE_LIMIT) for n in r.notes),
        citation=citation,
    )


def _properties(r: Result, entry: Device | Site | None) -> dict[str, Any]:
    found: dict[str, Any] = {
        "device": r.device,
        "nodeid": r.nodeid,
        "spec": entry.spec if entry is not None else None,
        "specRevision": entry.spec_revision if entry is not None else None,
        "check": r.check,
        "outcome": r.outcome,
        "failureClass": r.failure_class,
        "row": r.row,
        "expected": r.expected,
        "observed": r.observed,
        "evidence": list(r.evidence),
        "notes": list(r.notes),
        "citation": None if r.citation is None else r.citation.to_json(),
    }
    found.update({k: v for k, v in (("source", r.source), ("peer", r.peer)) if v is not None})
    return found


def _location(
    r: Result, entry: Device | Site | None, sources: Mapping[str, SpecSource], root: Path | None
) -> dict[str, Any]:
    """The spec file and line of the item's row; the file alone when the spec found is of another
    revision than the run's; a logical location only when its file is not found."""
    row = _row_id(r, entry)
    spec = entry.spec if entry is not None else "?"
    location: dict[str, Any] = {
        "logicalLocations": [{"name": row or r.key, "fullyQualifiedName": f"{spec}/{row or r.key}"}]
    }
    source = sources.get(spec)
    if source is None:
        return location
    physical: dict[str, Any] = {"artifactLocation": _artifact(source.path, root)}
    line = source.rows.get(row) if row is not None else source.default_line
    if line is not None and entry is not None and source.revision == entry.spec_revision:
        physical["region"] = {"startLine": line}
    location["physicalLocation"] = physical
    return location


def _row_id(r: Result, entry: Device | Site | None) -> str | None:
    """The item's row id (a flow's first side); for an item without a verdict, its key's row."""
    ids = r.row or next((row.id for row in _rows(entry) if row.key == r.key), None)
    return ids.split(",")[0] if ids else None


def _rows(entry: Device | Site | None) -> tuple[Row, ...]:
    return entry.rows if entry is not None else ()


def _artifact(path: Path, root: Path | None) -> dict[str, str]:
    where, base = _absolute(path), _absolute(root) if root is not None else None
    if base is not None and where.is_relative_to(base):
        return {"uri": quote(where.relative_to(base).as_posix()), "uriBaseId": SRCROOT}
    return {"uri": where.as_uri()}


def _absolute(path: Path) -> Path:
    """The path from the file system's root, `..` resolved by name (no file is read)."""
    return Path(os.path.normpath(path.absolute()))
