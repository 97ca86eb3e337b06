"""A tester per site under pytest-xdist: each device group runs on its tester's worker.

engine/testers.py decides which worker must run each group (`--tx ...//id=NAME` names a
worker, an inventory device's `tester: NAME` names the worker it needs); this module wires that
into the run: the controller checks it before any device is contacted and keeps the pins for
the scheduler (plugin/xdist.py), each worker records its id on the devices it checks.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from pytest_portspec.engine import testers
from pytest_portspec.engine.device_run import DeviceRun
from pytest_portspec.errors import ConfigurationError

PINS = pytest.StashKey[dict[str, str]]()  # on the controller: group -> worker (testers.pins)


def place(config: pytest.Config, runs: Sequence[DeviceRun], worker: bool, spread: bool) -> None:
    """Where this run's devices are checked: a usage error names a device that cannot be checked
    from its tester."""
    try:
        if worker:
            me = str(config.workerinput["workerid"])  # type: ignore[attr-defined]  # xdist's
            for run in runs:
                run.checked_from = me  # the results say which worker read it
        elif not spread:
            testers.outside_xdist(runs)
        else:
            config.stash[PINS] = _pins(config, runs)
    except ConfigurationError as exc:
        raise pytest.UsageError(str(exc)) from None


def _pins(config: pytest.Config, runs: Sequence[DeviceRun]) -> dict[str, str]:
    from xdist.workermanage import parse_tx_spec_config  # the --tx specs as xdist expands them

    pinned = testers.pins(runs, testers.worker_ids(parse_tx_spec_config(config)))
    dist = config.getoption("dist")
    if pinned and dist != "loadgroup":
        tester = next(run for run in runs if run.tester)
        raise ConfigurationError(
            f"{tester.label} names tester {tester.tester!r}: --dist {dist} would send its items to any "
            "worker; run with --dist loadgroup"
        )
    return pinned


class Pins:
    """Which work units (scopes) each worker may take: a tester's worker its own groups, any other
    worker the groups naming no tester; items that are no device's, any worker. Queues per pin,
    so finding a worker's next unit costs the same at any fleet size."""

    def __init__(self, pinned: Mapping[str, str]) -> None:
        self.pinned = dict(pinned)
        self.testers = {worker for worker in self.pinned.values() if worker}
        self._queues: dict[str | None, deque[str]] | None = None

    def stale(self) -> None:
        """The work queue changed other than by taking units in order (a crashed worker's came back)."""
        self._queues = None

    def idle(self, worker: str, workqueue: Mapping[str, Any]) -> bool:
        """Work is left, none of it for this worker."""
        return bool(workqueue) and self.next_for(worker, workqueue) is None

    def next_for(self, worker: str, workqueue: Mapping[str, Any]) -> str | None:
        """The first unit of the work queue this worker may take (None: none)."""
        if self._queues is None:
            self._queues = {}
            for scope in workqueue:
                self._queues.setdefault(self.pinned.get(scope), deque()).append(scope)
        own = worker if worker in self.testers else testers.ANYWHERE
        for key in (own, None):
            queue = self._queues.get(key)
            while queue and queue[0] not in workqueue:
                queue.popleft()  # given out already
            if queue:
                return queue[0]
        return None
