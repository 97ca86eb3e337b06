"""All checks of one device: which exist for a policy (collection) and their verdicts (pure).

planned(policy) -> [(key, check)]          known before any device is contacted
evaluate(policy, facts, declared) -> {(key, check): Verdict}
judge(policy, facts, declared) -> Judgement   the verdicts, and which reading of the document
                                              each self-contradicting decision was decided by
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from pytest_portspec.checks import defaults, firewall, reach, readings, sockets
from pytest_portspec.checks.context import Declarations, Facts
from pytest_portspec.checks.verdict import Check, Verdict, for_row, row_skip
from pytest_portspec.spec.policy import EffectivePolicy, Expectation

DEVICE_CHECKS: tuple[tuple[str, Check], ...] = (
    ("default-in", "default"),
    ("default-out", "default"),
    ("exposure", "exposure"),
)


def checks_for(e: Expectation) -> list[Check]:
    """The checks a row has on a device, whether or not it applies there (skips are reported too)."""
    row = e.row
    found: list[Check] = []
    if row.scope == "external" and (row.ports or row.manual):
        found.append("ufw")
    if (
        e.side.direction == "in"
        and e.listener in ("required", "loopback-only", "forbidden")
        and not row.manual
    ):
        found.append("listening")
    if e.side.direction == "out" and e.action == "allow" and row.ports and not row.manual:
        found.append("outbound")
    if (
        e.side.direction == "in"
        and row.scope == "external"
        and row.ports
        and not row.manual
        and ((e.action == "allow" and e.listener == "required") or (e.action == "block" and not e.overridden))
    ):
        found.append("inbound")
    return found or (["ufw"] if row.manual or e.action is None else [])


def planned(policy: EffectivePolicy) -> list[tuple[Expectation | None, str, Check]]:
    found: list[tuple[Expectation | None, str, Check]] = [
        (e, e.key, c) for e in policy.rows for c in checks_for(e)
    ]
    return found + [(None, key, check) for key, check in DEVICE_CHECKS]


Evaluator = Callable[[Expectation, Facts, Declarations], Verdict]
ROW_CHECKS: dict[Check, Evaluator] = {
    "ufw": firewall.check_row,
    "listening": sockets.check_listening,
    "outbound": reach.check_outbound,
    "inbound": reach.check_inbound,
}


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
    def rows(p: EffectivePolicy, ids: frozenset[str] | None = None) -> list[readings.Judged]:
        return [
            (e, c, _row_check(e, c, facts, declared))
            for e, _, c in planned(p)
            if e is not None and (ids is None or e.row.id in ids)
        ]

    settled = readings.settle(policy, rows(policy), rows)
    final = settled.policy or policy
    verdicts = {(e.key, c): v for e, c, v in settled.rows}
    followed = [f"{c.reading} (decision {c.decision})" for c in settled.choices if c.reading_id]
    for key, check in DEVICE_CHECKS:
        verdict = _device_check(final, facts, declared, key)
        if followed:  # the ports rows document depend on the reading
            note = f"judged under the reading(s) the device follows: {', '.join(followed)}"
            verdict = replace(verdict, notes=(*verdict.notes, note))
        verdicts[(key, check)] = verdict
    return Judgement(verdicts, tuple(settled.choices), final)


def _row_check(e: Expectation, check: Check, facts: Facts, declared: Declarations) -> Verdict:
    if not e.applies:
        return row_skip(e, check, e.decision)
    if e.row.manual:
        return row_skip(e, check, f"manual check: {e.row.manual}")
    try:
        return ROW_CHECKS[check](e, facts, declared)
    except Exception as exc:  # a bug must show as an error of this item, never as a pass
        return for_row(e, check, "error", "a verdict", f"internal error while checking: {exc!r}")


def _device_check(policy: EffectivePolicy, facts: Facts, declared: Declarations, key: str) -> Verdict:
    if key == "exposure":
        return sockets.check_exposure(policy, facts, declared)
    return defaults.check_default(policy, facts, declared, "in" if key == "default-in" else "out")
