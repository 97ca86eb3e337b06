"""All checks of one device: which exist for a policy (collection) and their verdicts (pure).

planned(policy) -> [(key, check)]          known before any device is contacted
evaluate(policy, facts, declared) -> {(key, check): Verdict}
"""

from __future__ import annotations

from collections.abc import Callable

from pytest_portspec.checks import defaults, firewall, reach, sockets
from pytest_portspec.checks.context import Declarations, Facts
from pytest_portspec.policy import EffectivePolicy, Expectation
from pytest_portspec.verdict import Check, Verdict, for_row, row_skip

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


def evaluate(
    policy: EffectivePolicy, facts: Facts, declared: Declarations
) -> dict[tuple[str, Check], Verdict]:
    verdicts: dict[tuple[str, Check], Verdict] = {}
    for e, key, check in planned(policy):
        if e is None:
            verdicts[(key, check)] = _device_check(policy, facts, declared, key)
        else:
            verdicts[(key, check)] = _row_check(e, check, facts, declared)
    return verdicts


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
