"""Runs spread over pytest-xdist workers: merging the workers' parts (plain data), scoping the
snapshots a worker takes, the device groups, and how the plugin picks --dist loadgroup."""

from __future__ import annotations

import copy
import threading
from typing import Any

import pytest
import resultstools as rt

from pytest_portspec.checks.context import Declarations
from pytest_portspec.engine import schedule as schedule_module
from pytest_portspec.engine.device_run import DeviceRun
from pytest_portspec.engine.fleet import Fleet
from pytest_portspec.engine.schedule import Scheduler, group_name
from pytest_portspec.engine.settings import Settings
from pytest_portspec.outcome.merge import merge
from pytest_portspec.outcome.records import NOT_RUN, Outcome
from pytest_portspec.plugin import xdist as parallel
from pytest_portspec.plugin.session import Registry
from pytest_portspec.report import terminal
from pytest_portspec.spec.catalog import find_spec
from pytest_portspec.spec.policy import effective_policy
from pytest_portspec.transport import CommandResult, FakeTransport

A, B, C = (f"smartserver[enhanced]@198.18.1.{n}" for n in (2, 3, 4))
NOT_TAKEN = {"start": None, "end": None}  # the fingerprint of a device no process read


def device(label: str, *, read: bool = True, read_only: bool | None = True) -> dict[str, Any]:
    """A device entry as results_data writes it (read by this process, or not contacted)."""
    rule = {"rule": "22/tcp ALLOW IN Anywhere", "line": "", "kind": "documented", "explanation": ""}
    return rt.device(
        label,
        remote_commands=3 if read else 0,
        snapshot_s=2.345 if read else 0.0,
        read_only=read_only if read else None,
        ufw_rules=[rule] if read else [],
        snapshot={"ufw-status": f"Status: active ({label})"} if read else {},
        fingerprint={"start": "abc", "end": "abc" if read_only else "def"} if read else NOT_TAKEN,
    )


def result(label: str, key: str, outcome: str) -> dict[str, Any]:
    return rt.result(label, key, "ufw", outcome)


KEYS = {A: {"in-22-tcp": "passed", "in-502-tcp": "failed"}, B: {"in-22-tcp": "passed"}, C: {}}


def plain_run() -> dict[str, Any]:
    """What one process writes for A and B checked, C not contacted (nothing of it selected)."""
    return {
        "format": 1,
        "run": dict(rt.RUN),
        "unused_waivers": [],
        "devices": [device(A), device(B), device(C, read=False)],
        "results": [result(label, key, o) for label, keys in KEYS.items() for key, o in keys.items()],
    }


def controller() -> dict[str, Any]:
    """The controller of an xdist run: every device unread, no items (it collects none)."""
    data = plain_run()
    return data | {"devices": [device(label, read=False) for label in (A, B, C)], "results": []}


def worker(*labels: str) -> dict[str, Any]:
    """A worker that ran the groups of `labels`: their devices, and every item (the rest not run)."""
    data = copy.deepcopy(plain_run())
    data["devices"] = [d for d in data["devices"] if d["device"] in labels]
    for entry in data["results"]:
        if entry["device"] not in labels:
            entry["outcome"] = NOT_RUN
    return data


def test_the_workers_parts_merge_into_what_one_process_writes() -> None:
    assert merge(controller(), [worker(B), worker(A)]) == plain_run()
    assert merge(controller(), [worker(A), worker(B)]) == plain_run()
    assert merge(controller(), [worker(A, B), worker()]) == plain_run()  # an idle worker sends nothing read


def test_the_workers_deselection_reaches_the_controller_which_collects_nothing() -> None:
    parts = [worker(A), worker(B)]
    for part in parts:
        part["run"] |= {"deselected": 7, "selection": "-m 'not inbound'"}
    base = controller()
    base["run"] |= {"selection": "-m 'not inbound'"}
    assert merge(base, parts)["run"]["deselected"] == 7


def test_without_workers_the_data_is_unchanged() -> None:
    assert merge(plain_run(), []) == plain_run()


def test_an_item_no_worker_ran_stays_not_run_and_a_device_no_worker_read_stays_unread() -> None:
    merged = merge(controller(), [worker(A)])
    assert [d["remote_commands"] for d in merged["devices"]] == [3, 0, 0]
    assert {r["outcome"] for r in merged["results"] if r["device"] == B} == {NOT_RUN}


def test_the_summary_and_the_exit_status_read_the_merged_data_as_a_plain_run() -> None:
    merged = merge(controller(), [worker(B), worker(A)])
    assert terminal.summary(Outcome.from_json(merged)) == terminal.summary(Outcome.from_json(plain_run()))
    assert terminal.summary(Outcome.from_json(merged)) == [
        (f"portspec {A}: 3 remote command(s), 2.3 s, 1 failed, 1 passed", False),
        (f"portspec {B}: 3 remote command(s), 2.3 s, 1 passed", False),
    ]
    assert Outcome.from_json(merged).changed() == []


def test_a_change_seen_by_a_worker_fails_the_session_on_the_controller() -> None:
    part = worker(B)
    part["devices"][0] = device(B, read_only=False)
    merged = merge(controller(), [worker(A), part])
    assert Outcome.from_json(merged).changed() == [B]
    assert terminal.summary(Outcome.from_json(merged))[-1] == (
        f"portspec {B}: SESSION ERROR: the device's firewall state changed during the run "
        "(ufw files or iptables rules differ from the start)",
        True,
    )


def test_a_device_split_over_workers_counts_every_command_and_any_failed_proof() -> None:
    """A --dist other than loadgroup: each worker that ran an item of A took its own snapshot."""
    first, second = worker(A), worker(A)
    second["devices"][0] = device(A, read_only=False)
    merged = merge(controller(), [first, second])
    entry = merged["devices"][0]
    assert entry["remote_commands"] == 6
    assert entry["read_only"] is False
    assert entry["fingerprint"] == {"start": "abc", "end": "def"}  # the failed proof's own hashes
    unproven = worker(A)
    unproven["devices"][0]["read_only"] = None
    assert merge(controller(), [worker(A), unproven])["devices"][0]["read_only"] is None


def fake_run(label: str) -> DeviceRun:
    """A device that answers nothing: its run is one command and a device error."""
    return DeviceRun(
        label=label,
        host=label.split("@")[1],
        policy=effective_policy(find_spec("smartserver")),
        transport=FakeTransport({}),
        declared=Declarations(),
    )


def fake_session() -> Registry:
    return Registry(Fleet(Settings(), [fake_run(A), fake_run(B), fake_run(C)]))


def fake_registry(worker: bool) -> Scheduler:
    return Scheduler([fake_run(A), fake_run(B), fake_run(C)], own_groups_only=worker, selected={A, B})


def test_one_process_reads_every_selected_device_at_the_first_item() -> None:
    reg = fake_registry(worker=False)
    reg.ensure([reg.runs[1]])
    assert reg.done == {A, B}
    reg.ensure([reg.runs[0]])
    assert [r.remote_commands for r in reg.runs] == [1, 1, 0]
    assert reg.done == {A, B}


def test_a_worker_reads_only_the_devices_of_its_items_each_once() -> None:
    reg = fake_registry(worker=True)
    reg.ensure([reg.runs[1]])
    reg.ensure([reg.runs[1]])
    assert [r.remote_commands for r in reg.runs] == [0, 1, 0]
    assert reg.done == {B}


def test_a_worker_reads_a_whole_group_together(monkeypatch: pytest.MonkeyPatch) -> None:
    """Checks between devices put them in one group: the worker that runs it reads them all."""
    monkeypatch.setattr(schedule_module, "group_name", lambda run: "site-a")
    reg = fake_registry(worker=True)
    reg.ensure([reg.runs[0]])
    assert reg.done == {A, B}  # B's snapshot started with A's; C: not selected
    reg.ensure([reg.runs[1]])
    assert [r.remote_commands for r in reg.runs] == [1, 1, 0]


@pytest.mark.parametrize(
    ("label", "group"),
    [
        (A, "smartserver(enhanced)-198.18.1.2"),
        ("voss[unified]@[2001:db8::7]:2222", "voss(unified)-(2001:db8::7):2222"),
    ],
)
def test_a_device_group_is_what_xdist_reads_back_from_the_node_id(label: str, group: str) -> None:
    assert group_name(fake_run(label)) == group
    nodeid = f"{label}::in-22-tcp::ufw@{group}"  # xdist's loadgroup suffix
    # xdist's LoadGroupScheduling._split_scope: the group follows the last '@' after the last ']'
    assert nodeid.rfind("@") > nodeid.rfind("]")
    assert nodeid.split("@")[-1] == group


class TwoWorkers:
    """Enough of a controller's config for xdist's schedulers: two workers."""

    def getvalue(self, name: str) -> object:
        return {"tx": ["popen", "popen"]}.get(name)


@pytest.mark.parametrize(
    ("nodeid", "scope"),
    [
        (f"{A}::in-22-tcp::ufw", "smartserver(enhanced)-198.18.1.2"),
        (f"{B}::exposure::exposure", "smartserver(enhanced)-198.18.1.3"),
        (f"{A}::in-22-tcp::ufw@smartserver(enhanced)-198.18.1.2", "smartserver(enhanced)-198.18.1.2"),
        ("tests/test_site.py::test_dns@site", "site"),  # not portspec's: xdist's own loadgroup rule
        ("tests/test_site.py::test_ntp", "tests/test_site.py::test_ntp"),
    ],
)
def test_the_controller_schedules_a_device_group_as_one_unit(nodeid: str, scope: str) -> None:
    """Whether or not xdist managed to append "@GROUP" to the node id (pytest 9.2 ignores it)."""
    sched = parallel.scheduler(TwoWorkers(), None, fake_session().group_of)  # type: ignore[arg-type]
    assert sched._split_scope(nodeid) == scope


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["-n", "2"], "--dist loadgroup (chosen by portspec for -n): each device's items run on one worker"),
        (["-n", "auto"], "--dist loadgroup (chosen by portspec for -n)"),
        (["-n", "2", "--dist", "loadgroup"], "--dist loadgroup: each device's items run on one worker"),
        (["-n", "2", "--dist", "load"], "--dist load: a device's items may run on several workers"),
        (["-n", "2", "--dist", "worksteal"], "--dist worksteal: a device's items may run on several workers"),
    ],
)
def test_n_alone_runs_each_device_on_one_worker(
    pytester: pytest.Pytester, args: list[str], line: str
) -> None:
    # --collect-only: the header is printed and no device is contacted
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--collect-only", *args, "--device", "smartserver@198.18.0.10"
    )
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines([f"portspec: pytest-xdist {line}*"])


@pytest.mark.parametrize("args", [[], ["-p", "no:xdist"]], ids=["xdist-idle", "no-xdist"])
def test_without_n_nothing_is_said_of_xdist(pytester: pytest.Pytester, args: list[str]) -> None:
    # without xdist, its group marker is not added: --strict-markers would refuse it
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--strict-markers",
        "--collect-only",
        *args,
        "--device",
        "smartserver@198.18.0.10",
    )
    assert result.ret == 0, result.stdout.str()
    assert "pytest-xdist" not in result.stdout.str()


def test_an_item_waits_for_its_own_device_only() -> None:
    """A device that hangs (an unreachable one, until its connect timeout) delays its own items."""
    release = threading.Event()

    def hang(command: str, stdin: str | None) -> CommandResult:
        release.wait(10.0)  # bounded: the test never hangs
        return CommandResult(1, "", "connection timed out", 0.0)

    reg = fake_registry(worker=False)
    reg.runs[0].transport = FakeTransport({"": hang})
    reg.ensure([reg.runs[1]])  # returns while A still hangs
    assert reg.runs[1].remote_commands == 1 and not release.is_set()
    assert reg.runs[0].error is None  # A's snapshot is still under way
    release.set()
    reg.ensure([reg.runs[0]])
    assert reg.runs[0].error is not None
