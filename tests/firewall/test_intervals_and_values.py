"""The exact sets the model works with: intervals, addresses with netmasks, and their limits."""

from __future__ import annotations

import random

import pytest

from pytest_portspec.firewall.intervals import Intervals
from pytest_portspec.firewall.iptables import read_options
from pytest_portspec.firewall.ruleset import Unknown
from pytest_portspec.firewall.values import masked


def as_set(values: Intervals) -> set[int]:
    return {n for lo, hi in values for n in range(lo, hi + 1)}


def test_interval_operations_agree_with_python_sets_on_random_inputs() -> None:
    rng = random.Random(12)
    for _ in range(300):
        a = Intervals.merged((lo, lo + rng.randint(0, 6)) for lo in rng.sample(range(60), rng.randint(0, 6)))
        b = Intervals.merged((lo, lo + rng.randint(0, 6)) for lo in rng.sample(range(60), rng.randint(0, 6)))
        assert as_set(a & b) == as_set(a) & as_set(b)
        assert as_set(a | b) == as_set(a) | as_set(b)
        assert as_set(a - b) == as_set(a) - as_set(b)
        assert all((n in a) == (n in as_set(a)) for n in range(-1, 70))


def test_a_netmask_with_holes_is_every_address_that_masks_to_the_value() -> None:
    found = masked("10.0.0.1/255.255.255.5", 4)  # bits 0 and 2 fixed in the last byte
    last = {n & 0xFF for n in as_set(found)}
    assert last == {b for b in range(256) if b & 5 == 1}
    assert all(n >> 8 == 0x0A0000 for n in as_set(found))


def test_a_netmask_with_too_many_holes_is_an_undecided_match_not_an_error() -> None:
    conds, _ = read_options(["-s", "10.0.0.1/255.0.0.1", "-j", "ACCEPT"], 4, set())
    assert isinstance(conds[0], Unknown) and "holes" in conds[0].what


@pytest.mark.parametrize("words", [["-j", "RETURN", "-m", "limit", "--limit", "3/min"]])
def test_a_match_after_the_target_is_still_a_condition(words: list[str]) -> None:
    conds, target = read_options(words, 4, set())
    assert target.kind == "return" and len(conds) == 1
