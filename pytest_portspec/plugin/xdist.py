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

from collections.abc import Callable, Iterable, Sequence
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


def scheduler(config: pytest.Config, log: Any, group_of: Callable[[str], str | None]) -> Any:
    """xdist's loadgroup scheduler, with portspec's items grouped by `group_of(nodeid)` (None:
    not portspec's, xdist's own rule). None if this xdist has no such scheduler to extend."""
    try:
        from xdist.scheduler import LoadGroupScheduling
    except ImportError:
        return None
    if not callable(getattr(LoadGroupScheduling, "_split_scope", None)):
        return None

    class DeviceGroups(LoadGroupScheduling):  # type: ignore[misc]  # xdist has no type information
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

    return DeviceGroups(config, log)


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
