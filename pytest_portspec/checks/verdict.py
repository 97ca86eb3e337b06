"""Verdicts: what one check of one requirement row concluded on one device, with its evidence (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from pytest_portspec.spec.model import Citation, ports_label
from pytest_portspec.spec.policy import Expectation

Outcome = Literal["passed", "failed", "skipped", "error", "accepted"]  # accepted: a waived failure
# a check kind's name: the registry (kinds.py) is where names are declared and validated, so a new
# kind is its module and one registration line, and no type here lists them
Check = str


@dataclass(frozen=True)
class Verdict:
    key: str  # the expectation key, or "exposure" / "default-in" / "default-out"
    check: Check
    outcome: Outcome
    expected: str  # what the vendor document requires, as a sentence
    observed: str  # what the device showed, as a sentence
    evidence: tuple[str, ...] = ()  # the deciding ufw rule or default, ss lines, probe outcomes with timing
    failure_class: str | None = None  # e.g. "blocked-by-ufw", "not-listening", "exposed", "dns-failure"
    row: str | None = None
    direction: str | None = None
    proto: str | None = None
    ports: str | None = None
    citation: Citation | None = None
    notes: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, object]:
        return {
            "key": self.key,
            "check": self.check,
            "row": self.row,
            "direction": self.direction,
            "proto": self.proto,
            "port": self.ports,
            "outcome": self.outcome,
            "failure_class": self.failure_class,
            "expected": self.expected,
            "observed": self.observed,
            "evidence": list(self.evidence),
            "notes": list(self.notes),
            "citation": self.citation.as_dict() if self.citation else None,
        }


def for_row(
    e: Expectation,
    check: Check,
    outcome: Outcome,
    expected: str,
    observed: str,
    *,
    evidence: tuple[str, ...] | list[str] = (),
    failure_class: str | None = None,
    notes: tuple[str, ...] | list[str] = (),
) -> Verdict:
    """A verdict about one expectation, carrying its row, direction, ports and citation."""
    return Verdict(
        key=e.key,
        check=check,
        outcome=outcome,
        expected=expected,
        observed=observed,
        evidence=tuple(evidence),
        failure_class=failure_class if outcome == "failed" else None,
        row=e.row.id,
        direction=e.side.direction,
        proto=e.side.proto,
        ports=ports_label(e.row.ports),
        citation=e.row.citation,
        notes=(*_decision_note(e), *notes),
    )


def _decision_note(e: Expectation) -> tuple[str, ...]:
    return (e.decision,) if e.row.condition else ()


def row_skip(e: Expectation, check: Check, reason: str) -> Verdict:
    return for_row(e, check, "skipped", _requirement(e), reason)


def _requirement(e: Expectation) -> str:
    what = "permitted" if e.action == "allow" else "blocked"
    return f"{e.side.direction}bound {ports_label(e.row.ports)}/{e.side.proto} ({e.row.service}) {what}"


def altered_by_hook(original: Verdict, altered: Verdict | None) -> Verdict:
    """What a `pytest_portspec_verdict` hook returned, kept honest: a hook may record a deviation
    (accepted, skipped with its reason) but never make a pass the checks did not make, and every
    change of outcome is written on the verdict for the reader of the report."""
    if altered is None or altered.outcome == original.outcome:
        return original if altered is None else altered
    if altered.outcome == "passed":
        return replace(
            original,
            outcome="error",
            observed=(
                f"a pytest_portspec_verdict hook turned this {original.outcome} verdict into a pass, "
                f"which only the checks can give (return outcome 'accepted' with a note to record a "
                f"deviation); the check observed: {original.observed}"
            ),
            failure_class=None,
        )
    if any(n.startswith("accepted deviation") for n in altered.notes):
        return altered  # the waiver file's own note says what happened
    return replace(
        altered, notes=(*altered.notes, f"{original.outcome} changed to {altered.outcome} by a hook")
    )
