"""What a `pytest_portspec_verdict` hook may do to a verdict: record a deviation, never a pass."""

from __future__ import annotations

import dataclasses

from pytest_portspec.checks.verdict import Verdict, altered_by_hook

FAILED = Verdict(
    key="in-502-tcp",
    check="ufw",
    outcome="failed",
    expected="ufw must block inbound 502/tcp",
    observed="ufw permits inbound 502/tcp",
    failure_class="permitted-by-ufw",
)


def test_no_hook_answer_keeps_the_verdict() -> None:
    assert altered_by_hook(FAILED, None) is FAILED


def test_a_hook_cannot_turn_a_failure_into_a_pass() -> None:
    verdict = altered_by_hook(FAILED, dataclasses.replace(FAILED, outcome="passed", observed="fine"))
    assert verdict.outcome == "error" and verdict.failure_class is None
    assert "turned this failed verdict into a pass, which only the checks can give" in verdict.observed
    assert verdict.observed.endswith("the check observed: ufw permits inbound 502/tcp")


def test_another_change_of_outcome_is_written_on_the_verdict() -> None:
    skipped = dataclasses.replace(FAILED, outcome="skipped", observed="the BMS polls us (ticket 42)")
    verdict = altered_by_hook(FAILED, skipped)
    assert verdict.outcome == "skipped" and verdict.notes == ("failed changed to skipped by a hook",)


def test_a_waiver_s_accepted_deviation_carries_its_own_note() -> None:
    waived = dataclasses.replace(
        FAILED, outcome="accepted", notes=("accepted deviation W1 until 2027-01-01",)
    )
    assert altered_by_hook(FAILED, waived) is waived


def test_a_hook_may_reword_a_verdict_without_changing_its_outcome() -> None:
    reworded = dataclasses.replace(FAILED, observed="ufw permits inbound 502/tcp (see ticket 42)")
    assert altered_by_hook(FAILED, reworded) is reworded
