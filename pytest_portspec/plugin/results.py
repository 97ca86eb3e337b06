"""The results file (--portspec-json): devices and verdicts as data, for reports and other tools.

The engine builds the data (engine/results.py) from what its fleet kept; this module adds what
only pytest knows (the selection as typed, the waivers the hook used). Under pytest-xdist each
worker sends its part and the controller merges the parts (`merge`, pure); the terminal summary
and the exit status are read from the merged data, so a spread run says what one process says.
"""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Collection
from pathlib import Path
from typing import Any

import pytest

from pytest_portspec import __version__
from pytest_portspec.engine import results as engine_results
from pytest_portspec.outcome.merge import merge
from pytest_portspec.outcome.records import Outcome
from pytest_portspec.plugin.session import Registry
from pytest_portspec.report.data import TITLE, ReportData, build


def results_data(reg: Registry, session: pytest.Session) -> dict[str, Any]:
    """The session's results: the engine's (engine/results.py), with the selection as the user typed it."""
    selection = _selection(session.config)
    return engine_results.results_data(
        reg.fleet, operator=reg.settings.operator, selection=selection, used_waivers=_used(session)
    )


def worker_part(reg: Registry, session: pytest.Session) -> dict[str, Any]:
    """An xdist worker's part of the results (engine/results.py), sent to the controller."""
    selection = _selection(session.config)
    return engine_results.worker_part(
        reg.fleet, operator=reg.settings.operator, selection=selection, used_waivers=_used(session)
    )


def _used(session: pytest.Session) -> Collection[str]:
    """The waivers this process saw concern a failure (outcome/merge.py: over workers)."""
    return getattr(session.config.pluginmanager.get_plugin("portspec-waivers"), "used", ())


def _selection(config: pytest.Config) -> str:
    """How the user narrowed the run, as they typed it."""
    keyword, marks = config.getoption("keyword", ""), config.getoption("markexpr", "")
    deselect = config.getoption("deselect", None) or []
    return " ".join(
        [f"-k {shlex.quote(keyword)}"] * bool(keyword)
        + [f"-m {shlex.quote(marks)}"] * bool(marks)
        + [f"--deselect {shlex.quote(d)}" for d in deselect]
    )


def session_outcome(reg: Registry, session: pytest.Session, parts: list[dict[str, Any]]) -> Outcome:
    """The whole run's outcome: this process's data completed by the workers' parts, as records."""
    return Outcome.from_json(merge(results_data(reg, session), parts))


def report_data(outcome: Outcome, operator: str) -> ReportData:
    return build(
        outcome,
        title=TITLE,
        operator=operator,
        created=time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        tool_version=__version__,
    )


def write(outcome: Outcome, path: Path | None) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(outcome.to_json(), indent=2), encoding="utf-8")


def write_sarif(outcome: Outcome, reg: Registry, root: Path) -> None:
    """The failed and errored checks as SARIF (--portspec-sarif), located in the spec files this
    run read (named relative to pytest's rootdir, the repository)."""
    path = reg.settings.sarif_path
    if path is None:
        return
    from pytest_portspec.report import sarif

    sources: dict[str, sarif.SpecSource] = {}
    for run in reg.runs:
        sources.setdefault(run.policy.spec.name, sarif.SpecSource.of(run.policy.spec))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(sarif.build(outcome, sources, root), indent=2), encoding="utf-8")
