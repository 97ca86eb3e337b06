"""Runs spread over pytest-xdist workers: how devices map to workers, and what the header says.

pytest-xdist is optional: only its options (`-n`, `--dist`), hooks (`pytest_xdist_make_scheduler`,
`pytest_testnodedown`), `config.workerinput`/`workeroutput` and its scheduler classes are used.
With `--dist loadgroup`, the items of one group run on one worker; every item of a device is
in the device's group (`items.group_name`), so each worker takes the snapshots of its own
devices only, once. Each worker sends its part of the results to the controller, which merges
them (`results.merge`).

xdist's own loadgroup reads the group from a suffix it appends to the node ids on the workers,
which pytest 9.2's structured node ids silently ignore (pytest-xdist issue #1386): every item
then is a group of its own. So the controller schedules portspec's items by their device group
itself (`scheduler`), and everything else as xdist's loadgroup does.

xdist's scheduler also does work that grows with the whole run for every item (pytest-xdist
#1212): `list.index` over the collection for each item it sends, and a count of the pending
items over every unit a worker was ever given, for each event of every item. A fleet of 1,000
devices (96,000 items) made that quadratic; `DeviceGroups` keeps both at a constant cost
(`Positions`, `Workload`) and schedules exactly as xdist does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import pytest

WORKER_OUTPUT = "portspec"  # the key of a worker's part of the results in config.workeroutput
CHOSEN = pytest.StashKey[bool]()  # portspec asked for --dist loadgroup (-n was given alone)


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def distributed(config: pytest.Config) -> bool:
    """On the controller of an xdist run: the items run on workers (xdist's own condition)."""
    return (
        not is_worker(config)
        and config.getoption("dist", "no") != "no"
        and bool(config.getoption("tx", None))
    )


def prefer_loadgroup(config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    """`-n N` alone (xdist's `load`) would scatter a device's items over every worker, each taking
    the device's snapshot: ask for `--dist loadgroup` instead, on the command line itself (the
    workers parse the same arguments, and read loadgroup from them). A --dist given is kept."""
    known = parser.parse_known_args(args)
    if (
        not getattr(known, "numprocesses", None)
        or getattr(known, "dist", "no") != "no"
        or getattr(known, "distload", False)
    ):
        return
    if known.portspec_devices or known.portspec_inventory or config.getini("portspec_inventory"):
        args.insert(0, "--dist=loadgroup")  # first: after "--", it would be a path
        config.stash[CHOSEN] = True


def header(config: pytest.Config) -> list[str]:
    if not distributed(config):
        return []
    dist = config.getoption("dist")
    if dist == "loadgroup":
        chosen = " (chosen by portspec for -n)" if config.stash.get(CHOSEN, False) else ""
        return [
            f"portspec: pytest-xdist --dist loadgroup{chosen}: each device's items run on one worker, "
            "which takes its snapshot once"
        ]
    return [
        f"portspec: pytest-xdist --dist {dist}: a device's items may run on several workers, each taking "
        "the device's snapshot (more remote commands); --dist loadgroup avoids it"
    ]


def received_part(node: Any) -> dict[str, Any] | None:
    """A finished worker's part of the results (None if it crashed before sending any)."""
    output = getattr(node, "workeroutput", None)
    part = output.get(WORKER_OUTPUT) if isinstance(output, dict) else None
    return part if isinstance(part, dict) else None


def scheduler(
    config: pytest.Config,
    log: Any,
    group_of: Callable[[str], str | None],
    pinned: Mapping[str, str] | None = None,
) -> Any:
    """xdist's loadgroup scheduler, with portspec's items grouped by `group_of(nodeid)` (None:
    not portspec's, xdist's own rule), and each group `pinned` to its tester's worker (group ->
    worker id, xdist_pins.py; none: xdist's own schedule). None if this xdist has no such
    scheduler to extend: a run that pins groups is then a usage error."""
    try:
        from xdist.scheduler import LoadGroupScheduling
    except ImportError:
        LoadGroupScheduling = None
    if not callable(getattr(LoadGroupScheduling, "_split_scope", None)):
        if pinned:
            raise pytest.UsageError(
                "this pytest-xdist has no loadgroup scheduler to keep devices on their testers"
            )
        return None

    class DeviceGroups(LoadGroupScheduling):  # type: ignore[misc]  # xdist has no type information
        pins: Any = None  # xdist_pins.Pins, set when devices name their testers

        def schedule(self) -> None:
            if self.pins is None or self.collection is not None:
                super().schedule()
            else:
                self._schedule_pinned(self.pins)

        def _schedule_pinned(self, pins: Any) -> None:
            """xdist's first distribution, but a worker with nothing it may take shuts down, not
            the last ones started (xdist's rule would stop a tester with its site still to do)."""
            if not self._check_nodes_have_same_collection():
                self.log("**Different tests collected, aborting run**")
                return
            self.collection = list(next(iter(self.registered_collections.values())))
            units: dict[str, dict[str, bool]] = {}
            for nodeid in self.collection:
                units.setdefault(self._split_scope(nodeid), {})[nodeid] = False
            if self.config.option.loadscopereorder:  # the largest units first, as xdist does
                units = dict(sorted(units.items(), key=lambda u: -len(u[1])))
            self.workqueue.update(units)
            pins.stale()
            for _ in range(2):  # two units each to start with, where there are (xdist #277)
                for node in self.nodes:
                    self._reschedule(node)

        def _assign_work_unit(self, node: Any) -> None:
            if self.pins is not None:
                scope = self.pins.next_for(node.gateway.id, self.workqueue)
                if scope is None:
                    return
                self.workqueue.move_to_end(scope, last=False)  # xdist gives the first unit
            super()._assign_work_unit(node)

        def _reschedule(self, node: Any) -> None:
            pins = self.pins
            if pins is not None and not node.shutting_down and pins.idle(node.gateway.id, self.workqueue):
                node.shutdown()  # nothing left it may take: it finishes what it has
                return
            super()._reschedule(node)

        def remove_node(self, node: Any) -> str | None:
            if self.pins is not None:
                self.pins.stale()  # a crashed worker's units go back to the queue
            return super().remove_node(node)  # type: ignore[no-any-return]

        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid) or str(super()._split_scope(nodeid))

        def add_node(self, node: Any) -> None:
            super().add_node(node)
            self.assigned_work[node] = Workload()

        def add_node_collection(self, node: Any, collection: Sequence[str]) -> None:
            super().add_node_collection(node, collection)
            if node in self.registered_collections:  # else refused: not the run's collection
                self.registered_collections[node] = Positions(self.registered_collections[node])

        def mark_test_complete(self, node: Any, item_index: int, duration: float = 0) -> None:
            workload = self.assigned_work[node]
            nodeid = self.registered_collections[node][item_index]
            if isinstance(workload, Workload):
                workload.complete(self._split_scope(nodeid), nodeid)
            super().mark_test_complete(node, item_index, duration)

        def _pending_of(self, workload: dict[str, dict[str, bool]]) -> int:
            if isinstance(workload, Workload):
                return workload.pending
            return int(super()._pending_of(workload))

    groups = DeviceGroups(config, log)
    if pinned:
        from pytest_portspec.plugin.xdist_pins import Pins  # only a run whose devices name testers

        groups.pins = Pins(pinned)
    return groups


class Positions(list[str]):
    """A worker's collection (node ids by index) whose `index` is a look-up, not a scan."""

    def __init__(self, nodeids: Iterable[str]) -> None:
        super().__init__(nodeids)
        self._at: dict[str, int] = {}
        for i, nodeid in enumerate(self):
            self._at.setdefault(nodeid, i)  # the first, as list.index finds it

    def index(self, nodeid: str, *args: Any) -> int:
        if args or nodeid not in self._at:
            return super().index(nodeid, *args)  # list's own answer (and its ValueError)
        return self._at[nodeid]


class Workload(dict[str, dict[str, bool]]):
    """The units (scope -> {nodeid: completed}) given to a worker, with its count of pending items
    kept as units are given and items complete (xdist counts them anew over every unit)."""

    def __init__(self) -> None:
        super().__init__()
        self.pending = 0

    def __setitem__(self, scope: str, unit: dict[str, bool]) -> None:
        if scope in self:
            self.pending -= _open(self[scope])
        super().__setitem__(scope, unit)
        self.pending += _open(unit)

    def __delitem__(self, scope: str) -> None:
        self.pending -= _open(self[scope])
        super().__delitem__(scope)

    def complete(self, scope: str, nodeid: str) -> None:
        """An item is done (before xdist marks it so in its unit)."""
        if self.get(scope, {}).get(nodeid) is False:
            self.pending -= 1


def _open(unit: dict[str, bool]) -> int:
    return sum(not done for done in unit.values())
