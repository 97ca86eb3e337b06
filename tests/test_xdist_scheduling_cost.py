"""The controller's scheduler under pytest-xdist (`plugin.xdist.scheduler`) costs the same per item
at any fleet size, and schedules exactly as xdist's own loadgroup does.

xdist's loadscope scheduler scans the whole collection (`list.index`) for each item it sends and
recounts every unit a worker was given for each event (pytest-xdist #1212): quadratic in a fleet.
The tests drive the scheduler with fake workers, as xdist's controller does, through whole runs.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from xdist.scheduler import LoadGroupScheduling, LoadScopeScheduling

from pytest_portspec.plugin import xdist as parallel


class Config:
    """Enough of a controller's config for xdist's schedulers."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.option = type("Option", (), {"loadscopereorder": True})()

    def getvalue(self, name: str) -> object:
        return {"tx": ["popen"] * self.workers}.get(name)


class Worker:
    """A fake worker: records the indices it is sent, in order."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.gateway = SimpleNamespace(id=name)  # xdist names a worker by it
        self.shutting_down = False
        self.sent: list[int] = []

    def send_runtest_some(self, indices: list[int]) -> None:
        self.sent += indices

    def shutdown(self) -> None:
        self.shutting_down = True

    def __repr__(self) -> str:
        return self.name


def collection(devices: int, items: int) -> list[str]:
    return [f"smartserver[enhanced]@198.18.0.{d}::row-{i}::ufw" for d in range(devices) for i in range(items)]


def group_of(nodeid: str) -> str:
    return nodeid.split("::")[0]


class Reference(LoadGroupScheduling):  # type: ignore[misc]  # xdist's own, grouped by device: the model
    def _split_scope(self, nodeid: str) -> str:
        return group_of(nodeid)


def ours() -> Any:
    """portspec's scheduler on a controller of two workers."""
    return parallel.scheduler(Config(2), None, group_of)  # type: ignore[arg-type]  # enough of a Config


def drive(sched: Any, workers: list[Worker], nodeids: list[str], check: Any = None) -> list[list[int]]:
    """xdist's controller, in short: workers come up, collect, and run what they are sent in order,
    one completion at a time, round robin; `check(sched)` after every event."""
    for w in workers:
        sched.add_node(w)
    for w in workers:
        sched.add_node_collection(w, list(nodeids))
    sched.schedule()
    done = {w: 0 for w in workers}
    while not sched.tests_finished:
        progressed = False
        for w in list(sched.nodes):
            if done[w] < len(w.sent):
                sched.mark_test_complete(w, w.sent[done[w]])
                done[w] += 1
                progressed = True
                if check is not None:
                    check(sched)
        assert progressed, "nothing left to run, yet the scheduler is not finished"
    return [w.sent for w in workers]


def same_counts(sched: Any) -> None:
    for workload in sched.assigned_work.values():
        assert sched._pending_of(workload) == LoadScopeScheduling._pending_of(sched, dict(workload))


def test_it_sends_the_same_items_in_the_same_order_as_xdists_loadgroup() -> None:
    nodeids = collection(devices=30, items=7)
    sent = drive(ours(), [Worker("gw0"), Worker("gw1")], nodeids, same_counts)
    assert sent == drive(Reference(Config(2)), [Worker("gw0"), Worker("gw1")], nodeids)
    assert sorted(i for indices in sent for i in indices) == list(range(len(nodeids)))  # each item once


def test_a_crashed_workers_unfinished_group_goes_to_another() -> None:
    nodeids = collection(devices=6, items=5)
    sched = ours()
    gw0, gw1 = Worker("gw0"), Worker("gw1")
    for w in (gw0, gw1):
        sched.add_node(w)
        sched.add_node_collection(w, list(nodeids))
    sched.schedule()
    sched.mark_test_complete(gw0, gw0.sent[0])
    same_counts(sched)
    crashed = sched.remove_node(gw0)
    assert crashed == nodeids[gw0.sent[1]]  # the item it was running: xdist reports it
    done = 0
    while not sched.tests_finished:
        sched.mark_test_complete(gw1, gw1.sent[done])
        done += 1
        same_counts(sched)
    assert sorted(gw1.sent) == sorted(set(range(len(nodeids))) - {gw0.sent[0]})  # the rest, once each


def test_the_scheduler_never_scans_the_whole_run_per_item(monkeypatch: pytest.MonkeyPatch) -> None:
    """The costs that grow with the run: a scan of the collection per item sent, a recount of every
    unit given per event. With 96,000 items (1,000 devices) each was billions of steps."""
    scanned = {"index": 0, "recount": 0}

    def recount(self: Any, workload: dict[str, dict[str, bool]]) -> int:
        scanned["recount"] += sum(len(unit) for unit in workload.values())
        return sum(not done for unit in workload.values() for done in unit.values())

    monkeypatch.setattr(LoadScopeScheduling, "_pending_of", recount)
    sched = ours()
    nodeids = collection(devices=40, items=96)
    workers = [Worker("gw0"), Worker("gw1")]
    drive(sched, workers, nodeids)
    for positions in sched.registered_collections.values():
        scanned["index"] += 0 if type(positions).index is not list.index else len(positions)
    assert scanned == {"index": 0, "recount": 0}
