"""Which reading of a self-contradicting document a device follows (pure).

Where a decision lists `alternatives:`, a device that satisfies any reading passes, and its items
say which one. The items are collected from the rows as written (the primary reading); when they
do not all pass, each alternative is judged in turn, and the first under which every item of the
decision's rows passes or skips is the device's reading. Its verdicts are shown on the primary
items, matched by (row, role, direction, check), with both readings quoted. The device-level
checks (exposure, defaults) are judged under the readings the device follows.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol, TypeVar

from pytest_portspec.checks.cluster_rows import OPEN_CLASS
from pytest_portspec.checks.verdict import Check, Verdict
from pytest_portspec.spec.model import Decision, Reading, RowOverride
from pytest_portspec.spec.policy import EffectivePolicy, Expectation, effective_policy
from pytest_portspec.spec.readings import apply


class _Probe(Protocol):
    @property
    def id(self) -> str: ...


P = TypeVar("P", bound=_Probe)

Judged = tuple[Expectation, Check, Verdict]
RowJudge = Callable[[EffectivePolicy, frozenset[str]], list[Judged]]  # the items of some rows
HOLDS = ("passed", "skipped")
RANK = {"passed": 0, "skipped": 1, "accepted": 2, "failed": 3, "error": 4}
MAX_COMBINATIONS = 16  # readings planned together for probes; beyond, each alone


@dataclass(frozen=True)
class ReadingChoice:
    """The reading of one decision a device was judged by, for the results file and the report."""

    decision: str
    reading: str  # its title
    reading_id: str | None  # None: the rows as written
    held: bool  # False: no reading holds, the rows as written were kept
    quote: str
    tried: tuple[tuple[str, str], ...] = ()  # (title, first reason) of every reading that does not hold

    def as_dict(self) -> dict[str, object]:
        return {
            "decision": self.decision,
            "reading": self.reading,
            "reading_id": self.reading_id,
            "held": self.held,
            "quote": self.quote,
            "tried": [f"{title}: {why}" for title, why in self.tried],
        }


@dataclass
class Settled:
    rows: list[Judged]
    choices: list[ReadingChoice] = field(default_factory=list)
    policy: EffectivePolicy | None = None


def under(policy: EffectivePolicy, overrides: dict[str, RowOverride]) -> EffectivePolicy:
    """The policy of the same device (profile, conditions, role) under another reading: superseded
    and blocked ports are worked out again from the rows that reading gives."""
    if not overrides:
        return policy
    return effective_policy(
        apply(policy.spec, overrides),
        profile=policy.profile.name,
        enable=[c.name for c in policy.conditions if c.enabled],
        disable=[c.name for c in policy.conditions if not c.enabled],
        firmware=policy.firmware,
        role=policy.role,
        decided_by={c.name: c.decided_by for c in policy.conditions},
    )


def reading_policies(policy: EffectivePolicy) -> list[EffectivePolicy]:
    """The policy under every reading the device might follow: what probes are planned from, as they
    run before any verdict says which reading holds."""
    options = [[None, *d.alternatives] for d in policy.spec.decisions if d.alternatives]
    combos: list[tuple[Reading | None, ...]] = list(
        itertools.islice(itertools.product(*options), MAX_COMBINATIONS + 1)
    )
    if len(combos) > MAX_COMBINATIONS:  # too many to plan together: each reading alone
        combos = [(reading,) for readings in options for reading in readings[1:]]
    found = [policy]
    for combo in combos:
        overrides: dict[str, RowOverride] = {}
        for reading in combo:
            overrides |= dict(reading.rows) if reading is not None else {}
        if overrides:
            found.append(under(policy, overrides))
    return found


def settle(policy: EffectivePolicy, primary: list[Judged], judge_rows: RowJudge) -> Settled:
    """Each decision's reading, and the row verdicts the items show."""
    settled = Settled(list(primary))
    overrides: dict[str, RowOverride] = {}
    picked: list[tuple[Decision, Reading, str]] = []
    for d in policy.spec.decisions:
        mine = [j for j in primary if j[0].row.id in d.rows]
        if not d.alternatives or not mine:
            continue
        choice, reading, why = _choose(policy, d, mine, judge_rows)
        settled.choices.append(choice)
        if reading is not None:
            overrides |= dict(reading.rows)
            picked.append((d, reading, why))
    settled.policy = under(policy, overrides)
    held = {c.decision: c for c in settled.choices}
    for d in policy.spec.decisions:
        if d.id in held and held[d.id].reading_id is None:
            settled.rows = [
                _primary_note(j, d, held[d.id]) if j[0].row.id in d.rows else j for j in settled.rows
            ]
    for d, reading, why in picked:
        redone = judge_rows(settled.policy, frozenset(d.rows))
        settled.rows = _shown(settled.rows, d, reading, why, redone)
    return settled


def _first_bad(judged: list[Judged]) -> Verdict | None:
    """The first item a reading fails. A cluster-only port open too widely says nothing of which
    reading the device follows (its port is there): that failure stays, whatever the reading."""
    return next((v for _, _, v in judged if v.outcome not in HOLDS and v.failure_class != OPEN_CLASS), None)


def _reason(v: Verdict) -> str:
    return f"{v.key} {v.check}: {v.observed}"


def _choose(
    policy: EffectivePolicy, d: Decision, mine: list[Judged], judge_rows: RowJudge
) -> tuple[ReadingChoice, Reading | None, str]:
    primary = d.reading or "the rows as written"
    quote = mine[0][0].row.citation.quote
    bad = _first_bad(mine)
    if bad is None:
        return ReadingChoice(d.id, primary, None, True, quote), None, ""
    tried = [(primary, _reason(bad))]
    for reading in d.alternatives:
        alt_bad = _first_bad(judge_rows(under(policy, dict(reading.rows)), frozenset(d.rows)))
        if alt_bad is None:
            choice = ReadingChoice(
                d.id, reading.title, reading.id, True, reading.citation.quote, tuple(tried)
            )
            return choice, reading, _reason(bad)
        tried.append((reading.title, _reason(alt_bad)))
    return ReadingChoice(d.id, primary, None, False, quote, tuple(tried)), None, ""


def _primary_note(j: Judged, d: Decision, choice: ReadingChoice) -> Judged:
    e, check, v = j
    if choice.held and v.outcome == "passed":
        others = "; ".join(
            f"the reading {a.title} ({a.citation.quote!r}) is also accepted" for a in d.alternatives
        )
        return (
            e,
            check,
            replace(v, notes=(*v.notes, f"reading: {choice.reading} (decision {d.id}); {others}")),
        )
    if not choice.held and v.outcome not in HOLDS:
        quotes = [e.row.citation.quote, *(a.citation.quote for a in d.alternatives)]
        quoted = "; ".join(
            f"{title} ({quote!r}): {why}" for quote, (title, why) in zip(quotes, choice.tried, strict=False)
        )
        note = f"the document contradicts itself (decision {d.id}) and no reading of it holds: {quoted}"
        return e, check, replace(v, notes=(*v.notes, note))
    return j


def _group(j: Judged) -> tuple[str, str | None, str, str]:
    e, check, _ = j
    return (e.row.id, e.side.role, e.side.direction, check)


def _shown(rows: list[Judged], d: Decision, reading: Reading, why: str, redone: list[Judged]) -> list[Judged]:
    """The primary items of the decision's rows, showing the verdicts of the reading that holds."""
    groups: dict[tuple[str, str | None, str, str], list[Verdict]] = {}
    for j in redone:
        groups.setdefault(_group(j), []).append(j[2])
    mine = [j for j in rows if j[0].row.id in d.rows]
    sizes = {g: sum(1 for j in mine if _group(j) == g) for g in map(_group, mine)}
    seen: dict[tuple[str, str | None, str, str], int] = {}
    extra: dict[object, list[Verdict]] = {}  # checks only this reading has: on an item of their side
    for g, vs in groups.items():
        if g not in sizes:
            side = next((k for k in (g[:3], g[0]) if any(_group(j)[: len(k)] == k for j in mine)), None)
            extra.setdefault(side or mine[0][0].row.id, []).extend(vs)
    out: list[Judged] = []
    for j in rows:
        e, check, v = j
        if e.row.id not in d.rows:
            out.append(j)
            continue
        g = _group(j)
        index = seen[g] = seen.get(g, -1) + 1
        found = groups.get(g, [])
        if len(found) == sizes[g]:
            shown = _combined([found[index]])
        elif found:
            shown = _combined(found)
        else:
            shown = replace(
                v,
                outcome="skipped",
                observed=f"not a requirement under the reading {reading.title}",
                failure_class=None,
                evidence=(),
            )
        for side in (_group(j)[:3], e.row.id):
            shown = _with_extra(shown, extra.pop(side, []))
        quote = e.row.citation.quote
        note = (
            f"the document contradicts itself (decision {d.id}): the device matched the reading "
            f"{reading.title} ({reading.citation.quote!r}); the reading {d.reading or 'as written'} "
            f"({quote!r}) does not hold: {why}"
        )
        out.append((e, check, replace(shown, key=v.key, check=check, notes=(*shown.notes, note))))
    return out


def _with_extra(shown: Verdict, extra: list[Verdict]) -> Verdict:
    """A check only the reading has: a failure or error counts on the item, the rest is a note."""
    bad = [v for v in extra if v.outcome not in HOLDS]
    notes = tuple(
        f"also judged under this reading: {v.check} {v.key}: {v.outcome}: {v.observed}"
        for v in extra
        if v.outcome in HOLDS
    )
    return replace(_combined([shown, *bad]) if bad else shown, notes=(*shown.notes, *notes))


def _combined(verdicts: list[Verdict]) -> Verdict:
    """One verdict for several: the worst outcome, every expectation, observation and line of evidence."""
    worst = max(verdicts, key=lambda v: RANK[v.outcome])
    if len(verdicts) == 1:
        return worst

    def joined(texts: list[str]) -> str:
        return "; ".join(dict.fromkeys(texts))

    return replace(
        worst,
        expected=joined([v.expected for v in verdicts]),
        observed=joined([v.observed for v in verdicts]),
        evidence=tuple(line for v in verdicts for line in v.evidence),
        notes=tuple(dict.fromkeys(n for v in verdicts for n in v.notes)),
    )


def probes_of_every_reading(plan: Callable[[EffectivePolicy], list[P]], policy: EffectivePolicy) -> list[P]:
    """The probes of every reading of the document the device may follow, each once: they run before
    the verdicts say which reading it follows (`judge` below)."""
    found: dict[str, P] = {}
    for each in reading_policies(policy):
        found |= {p.id: p for p in plan(each) if p.id not in found}
    return list(found.values())
