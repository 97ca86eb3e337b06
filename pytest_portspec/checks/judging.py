"""All checks of one device: which exist for a policy (collection) and their verdicts (pure).

planned(policy) -> [(expectation, key, check)]   known before any device is contacted
evaluate(policy, facts, declared) -> {(key, check): Verdict}
judge(policy, facts, declared) -> Judgement   the verdicts, and which reading of the document
                                              each self-contradicting decision was decided by

The kinds of check and their declarations come from the registry (kinds.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pytest_portspec.checks import kinds, readings
from pytest_portspec.checks.context import Declarations, Facts
from pytest_portspec.checks.verdict import Check, Verdict, for_row, row_skip
from pytest_portspec.spec.policy import EffectivePolicy, Expectation


def checks_for(e: Expectation, declared: list[tuple[str, kinds.RowCheck]] | None = None) -> list[Check]:
    """The checks a row has on a device, whether or not it applies there (skips are reported too)."""
    declared = kinds.row_checks() if declared is None else declared
    found = [name for name, check in declared if check.applies(e)]
    return found or [name for name, check in declared if check.otherwise is not None and check.otherwise(e)]


def planned(policy: EffectivePolicy) -> list[tuple[Expectation | None, str, Check]]:
    declared = kinds.row_checks()  # once per policy: a fleet plans thousands of rows
    found: list[tuple[Expectation | None, str, Check]] = [
        (e, e.key, c) for e in policy.rows for c in checks_for(e, declared)
    ]
    return found + [(None, key, check) for key, check, _ in kinds.device_items()]


@dataclass(frozen=True)
class Judgement:
    verdicts: dict[tuple[str, Check], Verdict]  # by the items' (key, check), as collected
    readings: tuple[readings.ReadingChoice, ...]  # per decision with alternatives, on this device
    policy: EffectivePolicy  # the policy under the readings the device follows


def evaluate(
    policy: EffectivePolicy, facts: Facts, declared: Declarations
) -> dict[tuple[str, Check], Verdict]:
    return judge(policy, facts, declared).verdicts


def judge(policy: EffectivePolicy, facts: Facts, declared: Declarations) -> Judgement:
    row_checks = dict(kinds.row_checks())

    def rows(p: EffectivePolicy, ids: frozenset[str] | None = None) -> list[readings.Judged]:
        return [
            (e, c, _row_check(row_checks[c], e, c, facts, declared))
            for e, _, c in planned(p)
            if e is not None and (ids is None or e.row.id in ids)
        ]

    settled = readings.settle(policy, rows(policy), rows)
    final = settled.policy or policy
    verdicts = {(e.key, c): v for e, c, v in settled.rows}
    followed = [f"{c.reading} (decision {c.decision})" for c in settled.choices if c.reading_id]
    for key, check, device_check in kinds.device_items():
        verdict = device_check.evaluate(final, facts, declared, key)
        if followed:  # the ports rows document depend on the reading
            note = f"judged under the reading(s) the device follows: {', '.join(followed)}"
            verdict = replace(verdict, notes=(*verdict.notes, note))
        verdicts[(key, check)] = verdict
    return Judgement(verdicts, tuple(settled.choices), final)


def _row_check(
    declared_check: kinds.RowCheck, e: Expectation, check: Check, facts: Facts, declared: Declarations
) -> Verdict:
    if not e.applies:
        return row_skip(e, check, e.decision)
    if e.row.manual:
        return row_skip(e, check, f"manual check: {e.row.manual}")
    try:
        return declared_check.evaluate(e, facts, declared)
    except Exception as exc:  # a bug must show as an error of this item, never as a pass
        return for_row(e, check, "error", "a verdict", f"internal error while checking: {exc!r}")
