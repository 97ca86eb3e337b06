"""Testers per site: which pytest-xdist worker checks which device (no pytest here).

Inbound probes leave from the machine that checks a device, so a fleet spread over sites runs
one worker per site, on a tester there (`--tx ssh=user@tester-a//id=tester-a//python=python3`).
A device that names its `tester:` is checked only by the worker of that id; its whole group
(a site's nodes with node-to-node flows) with it. A device that names none is checked by a
worker that is no device's tester: a site's tester would probe it from the wrong network.

Every mismatch is a ConfigurationError naming the device and the tester, raised before any
device is contacted; a worker asked to check another tester's device refuses it (tester_guard.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pytest_portspec.engine.device_run import DeviceRun
from pytest_portspec.engine.schedule import group_name
from pytest_portspec.errors import ConfigurationError

ANYWHERE = ""  # the pin of a group no device of which names a tester: any worker that is no tester


def worker_ids(specs: Sequence[str]) -> list[str]:
    """The ids xdist gives the workers of these --tx specs (expanded): execnet's gateway ids, which
    xdist passes on as `workerinput["workerid"]`: a spec's `id=` or, in order, gw0, gw1, ..."""
    ids, counter = [], 0
    for spec in specs:
        given = next((kv[3:] for kv in spec.split("//") if kv.startswith("id=")), None)
        if given is None:
            given, counter = f"gw{counter}", counter + 1
        ids.append(given)
    return ids


def group_testers(runs: Iterable[DeviceRun]) -> dict[str, str | None]:
    """Each group's tester (None: its devices name none). A group's devices name one tester or none."""
    testers: dict[str, str | None] = {}
    first: dict[str, DeviceRun] = {}
    for run in runs:
        group = group_name(run)
        if group in first and testers[group] != run.tester:
            other = first[group]
            raise ConfigurationError(
                f"{run.label} names tester {run.tester!r} but {other.label} of the same site names "
                f"{other.tester!r}: a site's nodes are checked together, from one tester"
            )
        first.setdefault(group, run)
        testers[group] = run.tester
    return testers


def pins(runs: Sequence[DeviceRun], workers: Sequence[str]) -> dict[str, str]:
    """Group -> the id of the worker that must run it (ANYWHERE: any worker that is no tester).

    Empty when no device names a tester: the run is scheduled as before."""
    testers = group_testers(runs)
    if not any(testers.values()):
        return {}
    named = {t for t in testers.values() if t}
    listed = ", ".join(workers)
    for run in runs:
        if run.tester is not None and run.tester not in workers:
            raise ConfigurationError(
                f"{run.label} names tester {run.tester!r}, but no --tx worker has that id "
                f"(workers: {listed}; give one with --tx ssh=USER@HOST//id={run.tester}//python=python3)"
            )
    free = [w for w in workers if w not in named]
    lone = next((run for run in runs if run.tester is None), None)
    if lone is not None and not free:
        raise ConfigurationError(
            f"{lone.label} names no tester, and every worker is a site's tester ({listed}): "
            "give it its tester, or a worker of its own network (e.g. --tx popen)"
        )
    return {group: tester or ANYWHERE for group, tester in testers.items()}


def outside_xdist(runs: Iterable[DeviceRun]) -> None:
    """A run in one process sends inbound probes from this machine: not from a device's tester."""
    run = next((r for r in runs if r.tester is not None), None)
    if run is not None:
        raise ConfigurationError(
            f"{run.label} names tester {run.tester!r}: its inbound probes must leave from that tester, "
            f"not from this machine. Run pytest-xdist with a worker of that id: --tx "
            f"ssh=USER@HOST//id={run.tester}//python=python3 --dist loadgroup (on the tester itself: "
            f"--tx popen//id={run.tester})"
        )
