"""Shared helpers of the per-spec tests: load a shipped spec, compute its effective policy
(the JSON `portspec show --format json` prints) and find rows in it.

Plain functions, no fixtures: each test module keeps its own `spec` fixture and imports
what it needs (`from spectools import ...`; pytest puts tests/ on sys.path).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytest_portspec.spec import Spec, load_spec
from pytest_portspec.spec.policy import effective_policy

SPECS = Path(__file__).resolve().parents[1] / "specs"

Row = dict[str, Any]
Policy = dict[str, Any]


def load(name: str) -> Spec:
    """The spec specs/NAME.yaml of this repository."""
    return load_spec(SPECS / f"{name}.yaml")


def policy(
    spec: Spec,
    *,
    profile: str | None = None,
    enable: Sequence[str] = (),
    disable: Sequence[str] = (),
    firmware: str | None = None,
    role: str | None = None,
) -> Policy:
    """The effective policy as the JSON object of `portspec show --format json`."""
    return effective_policy(
        spec, profile=profile, enable=list(enable), disable=list(disable), firmware=firmware, role=role
    ).as_dict()


def rows(
    pol: Policy,
    row_id: str | None = None,
    *,
    direction: str | None = None,
    proto: str | None = None,
    role: str | None = None,
) -> list[Row]:
    """The expanded rows of spec row `row_id` (any row if None) on the sides given; None matches all."""
    wanted = {"id": row_id, "direction": direction, "proto": proto, "role": role}
    return [r for r in pol["rows"] if all(v is None or r[k] == v for k, v in wanted.items())]


def one(
    pol: Policy,
    row_id: str,
    *,
    direction: str | None = None,
    proto: str | None = None,
    role: str | None = None,
) -> Row:
    """The single expanded row of `row_id` on the sides given; fails unless exactly one matches."""
    found = rows(pol, row_id, direction=direction, proto=proto, role=role)
    sides = {"direction": direction, "proto": proto, "role": role}
    where = ", ".join(f"{k}={v}" for k, v in sides.items() if v is not None) or "any side"
    keys = [r["key"] for r in found]
    assert len(found) == 1, f"row {row_id} ({where}): {len(found)} rows {keys}, expected 1"
    return found[0]


def applying(
    pol: Policy, *, direction: str | None = None, proto: str | None = None, role: str | None = None
) -> list[Row]:
    """Every row that applies in this policy, on the sides given."""
    return [r for r in rows(pol, direction=direction, proto=proto, role=role) if r["applies"]]


def hosts(row: Row) -> list[str]:
    """The host names of a row's destinations, in order."""
    return [d["host"] for d in row["destinations"]]


def assert_applies(row: Row, action: str = "allow") -> None:
    assert row["applies"] is True, f"{row['key']}: {row['decision']}"
    assert row["action"] == action, row["key"]


def assert_condition_off(row: Row, condition: str) -> None:
    """The row's condition is off: it does not apply, and the decision says how to turn it on."""
    assert row["applies"] is False, row["key"]
    assert row["condition"] == condition, row["key"]
    assert f"condition {condition} is off" in row["decision"], row["decision"]
    assert f"pass --enable {condition}" in row["decision"], row["decision"]


def assert_not_in_profile(row: Row) -> None:
    """The row does not exist in the chosen profile: it does not apply and requires nothing."""
    assert row["applies"] is False, row["key"]
    assert row["action"] is None, row["key"]
