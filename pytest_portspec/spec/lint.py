"""`portspec lint`: validate specs, check citations against the documents, list judgement calls.

Problems make a spec unusable (exit 1). Notes are what a reviewer should know but
that is not wrong: contradictions inside the vendor document and how the spec decided
them, rows that another row overrides, conditions no row uses.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pytest_portspec.errors import Problem, SpecError
from pytest_portspec.spec import Spec, load_spec
from pytest_portspec.spec.model import Decision, ports_label
from pytest_portspec.spec.policy import ALL, effective_policy
from pytest_portspec.spec.readings import describe
from pytest_portspec.text import quoted

_WHITESPACE = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Fold every run of whitespace (non-breaking spaces included) into one space."""
    return _WHITESPACE.sub(" ", text.replace("\u00a0", " ")).strip()


@dataclass
class LintResult:
    specs: list[Spec] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def lint(files: Sequence[Path], docs_dir: Path | None = None) -> LintResult:
    result = LintResult()
    names: dict[str, Path] = {}
    for path in files:
        try:
            spec = load_spec(path)
        except SpecError as exc:
            result.problems += exc.problems
            continue
        if spec.name in names:
            result.problems.append(
                Problem(
                    str(path), None, "name", f"spec name {spec.name!r} is also used by {names[spec.name]}"
                )
            )
        names[spec.name] = path
        result.specs.append(spec)
        if docs_dir is not None:
            result.problems += check_citations(spec, docs_dir)
        result.notes += spec_notes(spec)
    return result


def check_citations(spec: Spec, docs_dir: Path) -> list[Problem]:
    """Every quote must occur, whitespace-normalised, in the document it cites."""
    problems: list[Problem] = []
    texts: dict[str, str | None] = {}
    for label, cite in spec.citations():
        if cite.doc not in texts:
            doc_path = docs_dir / cite.doc
            texts[cite.doc] = normalize(doc_path.read_text(encoding="utf-8")) if doc_path.is_file() else None
        doc_text = texts[cite.doc]
        where = f"{label}.citation"
        if doc_text is None:
            problems.append(
                Problem(str(spec.path), cite.line, where, f"cited document {cite.doc!r} is not in {docs_dir}")
            )
        elif normalize(cite.quote) not in doc_text:
            problems.append(
                Problem(
                    str(spec.path),
                    cite.line,
                    f"{where}.quote",
                    f"quote not found in {cite.doc}: {quoted(cite.quote)}",
                )
            )
    return problems


def spec_notes(spec: Spec) -> list[str]:
    where = str(spec.path)
    notes = [
        f"{where}:{d.line}: note: {spec.name}: decision {d.id} (rows {', '.join(d.rows)}): "
        f"{d.issue} Decided: {d.decision}{_readings(d)}"
        for d in spec.decisions
    ]
    notes += _override_notes(spec)
    used = {row.condition for row in spec.rows}
    notes += [
        f"{where}: note: {spec.name}: condition {name} is used by no row"
        for name in spec.conditions
        if name not in used
    ]
    return notes


def _readings(d: Decision) -> str:
    """A decision's readings of the document, each with what it changes: a device may follow any."""
    if not d.alternatives:
        return ""
    others = "; ".join(
        f"{a.title} ({'; '.join(f'{row}: {describe(o)}' for row, o in a.rows.items())})"
        for a in d.alternatives
    )
    return f" Readings: reading: {d.reading}; also accepted: {others}."


def _override_notes(spec: Spec) -> list[str]:
    """Rows whose block another row's allow overrides, per profile (every condition on)."""
    profiles: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    lines: dict[tuple[str, str, str], int] = {}
    for profile in spec.profiles:
        policy = effective_policy(spec, profile=profile, enable=[ALL])
        for e in policy.rows:
            if not e.superseded_by:
                continue
            role = f"{e.side.role}: " if e.side.role else ""
            outcome = (
                "allow wins"
                if e.overridden
                else (
                    f"allow wins where they overlap; the block holds for {ports_label(e.blocked_ports or ())}"
                )
            )
            what = f"is block, but {', '.join(e.superseded_by)} allow(s) the same traffic"
            key = (f"{role}{e.key} (row {e.row.id}) {what}", outcome, e.row.id)
            profiles[key].append(profile)
            lines[key] = e.row.line
    return [
        f"{spec.path}:{lines[key]}: note: {spec.name}: {key[0]} in profile(s) {', '.join(names)}: {key[1]}"
        for key, names in profiles.items()
    ]
