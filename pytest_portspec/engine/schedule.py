"""When each device is read: its snapshot taken once per process, concurrently, when first needed."""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from pytest_portspec.engine.device_run import DeviceRun, progress_line
from pytest_portspec.probe import remote_program

Progress = Callable[[str, bool], None]  # writes a progress line (text, is it bad news)


def group_name(run: DeviceRun) -> str:
    """The group of a device's checks: one worker of a spread run takes a whole group's snapshots.

    A device is its own group. Checks that need several devices (flows between two nodes of a
    site) put them in one group. No '@' or brackets: pytest-xdist reads a group from the node
    id's last '@' after its last ']'.
    """
    return (run.group or run.label).translate(str.maketrans("@[]", "-()"))


@dataclass(eq=False)
class Scheduler:
    """Takes the snapshots of the devices: each once, at most `max_parallel` at a time.

    In one process, the first check asked for starts every selected device's snapshot at once;
    on a worker of a spread run (`own_groups_only`), those of the devices in the same groups as
    the ones asked for (the worker runs whole groups). A check waits only for its own devices:
    a device that does not answer costs its own checks its connect timeout, not the others'.
    """

    runs: Sequence[DeviceRun]
    max_parallel: int = 32
    own_groups_only: bool = False  # a worker of a spread run: its own groups of devices only
    selected: Collection[str] = ()  # labels of the devices whose checks this run runs
    progress: Progress | None = None
    _futures: dict[str, Future[None]] = field(default_factory=dict)  # device label -> its snapshot
    _executor: ThreadPoolExecutor | None = None
    _submit: threading.Lock = field(default_factory=threading.Lock)
    _lock_out: threading.Lock = field(default_factory=threading.Lock)
    _groups: dict[str, list[DeviceRun]] | None = None  # group name -> its devices (a worker's scope)

    def ensure(self, runs: Sequence[DeviceRun]) -> None:
        """Wait for the snapshots of `runs`, starting them (and their companions') if not yet started."""
        if any(run.label not in self._futures for run in runs):  # not per check: _scope walks the fleet
            with self._submit:
                for run in self._scope(runs):
                    if run.label not in self._futures:
                        self._futures[run.label] = self._pool().submit(self._take, run)
        for run in runs:
            self._futures[run.label].result()

    @property
    def done(self) -> set[str]:
        """The devices whose snapshot this process took, or is taking (or tried)."""
        return set(self._futures)

    def finish(self) -> None:
        """The read-only proofs of every device this process read, at once; then the threads end."""
        read = [run for run in self.runs if run.facts is not None or run.fingerprint is not None]
        list(self._pool().map(lambda run: run.finish(), read))
        self._pool().shutdown(wait=True)

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            remote_program()  # built here, in the main thread: see probe/program.py
            self._executor = ThreadPoolExecutor(max(1, self.max_parallel), "portspec-device")
        return self._executor

    def _take(self, run: DeviceRun) -> None:
        run.run()
        if self.progress is not None:
            with self._lock_out:
                self.progress(progress_line(run), run.error is not None)

    def _scope(self, runs: Sequence[DeviceRun]) -> list[DeviceRun]:
        asked = {id(run) for run in runs}
        if not self.own_groups_only:  # once per process: the first check starts every selected device
            return [r for r in self.runs if r.label in self.selected or id(r) in asked]
        # a worker: once per group it is given, so a look-up, not a walk of the fleet (quadratic)
        if self._groups is None:
            self._groups = {}
            for r in self.runs:
                self._groups.setdefault(group_name(r), []).append(r)
        groups = dict.fromkeys(group_name(run) for run in runs)
        return [
            r for g in groups for r in self._groups.get(g, ()) if id(r) in asked or r.label in self.selected
        ]
