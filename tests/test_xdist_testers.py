"""A tester per site: which xdist worker checks which device (engine/testers.py), the scheduler that
keeps each group on its tester's worker (plugin/xdist.py with xdist_pins.Pins), and the worker's
own guard (engine/tester_guard.py). Inbound probes from the wrong network must never pass.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import execnet
import pytest
from test_xdist_scheduling_cost import Config, Worker, drive

from pytest_portspec.engine import testers
from pytest_portspec.engine.tester_guard import refuse
from pytest_portspec.errors import ConfigurationError, DeviceError
from pytest_portspec.plugin import xdist as parallel


def device(label: str, tester: str | None = None, group: str | None = None) -> Any:
    return SimpleNamespace(label=label, tester=tester, group=group)


def test_worker_ids_are_the_ids_execnet_gives_the_gateways() -> None:
    specs = ["popen", "ssh=ops@tester-a//id=tester-a//python=python3", "popen//python=/x/py", "popen//id=b"]
    group = execnet.Group()
    expected = []
    for spec in specs:
        xspec = execnet.XSpec(spec)
        group.allocate_id(xspec)  # what xdist's NodeManager does for each --tx, in order
        expected.append(xspec.id)
    assert testers.worker_ids(specs) == expected == ["gw0", "tester-a", "gw1", "b"]


def test_each_group_is_pinned_to_its_tester_and_the_rest_to_non_testers() -> None:
    runs = [
        device("voss@a1", "tester-a", "site-a"),
        device("voss@a2", "tester-a", "site-a"),
        device("sops@b", "tester-b"),
        device("smartserver@hq"),
    ]
    pins = testers.pins(runs, ["tester-a", "tester-b", "gw0"])
    assert pins == {"site-a": "tester-a", "sops-b": "tester-b", "smartserver-hq": testers.ANYWHERE}
    assert testers.pins([device("x"), device("y")], ["gw0"]) == {}  # nobody names a tester: as before


@pytest.mark.parametrize(
    ("runs", "workers", "message"),
    [
        (
            [device("voss@a1", "tester-a", "site-a"), device("voss@a2", "tester-b", "site-a")],
            ["tester-a", "tester-b"],
            "voss@a2 names tester 'tester-b' but voss@a1 of the same site names 'tester-a'",
        ),
        (
            [device("voss@a1", "tester-a", "site-a"), device("voss@a2", None, "site-a")],
            ["tester-a", "gw0"],
            "voss@a2 names tester None but voss@a1 of the same site names 'tester-a'",
        ),
        (
            [device("sops@b", "tester-b")],
            ["tester-a", "gw0"],
            r"sops@b names tester 'tester-b', but no --tx worker has that id \(workers: tester-a, gw0;",
        ),
        (
            [device("sops@b", "tester-b"), device("hub@hq")],
            ["tester-b"],
            r"hub@hq names no tester, and every worker is a site's tester \(tester-b\)",
        ),
    ],
)
def test_a_device_that_cannot_be_checked_from_its_tester_is_a_usage_error(
    runs: list[Any], workers: list[str], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        testers.pins(runs, workers)


def test_a_run_in_one_process_refuses_a_device_naming_a_tester() -> None:
    testers.outside_xdist([device("x"), device("y")])
    with pytest.raises(ConfigurationError, match=r"sops@b names tester 'tester-b'.*--tx popen//id=tester-b"):
        testers.outside_xdist([device("x"), device("sops@b", "tester-b")])


def test_the_worker_guard_refuses_another_testers_device() -> None:
    refuse("x", None, "gw0")
    refuse("x", "tester-a", "tester-a")
    with pytest.raises(DeviceError, match="names tester 'tester-a' but was sent to worker 'tester-b'"):
        refuse("x", "tester-a", "tester-b")
    with pytest.raises(DeviceError, match="the machine running pytest"):
        refuse("x", "tester-a", None)


PINNED = {"site-a": "tester-a", "sops-b": "tester-b", "hq-1": "", "hq-2": "", "hq-3": ""}


def fleet_items() -> list[str]:
    groups = ["hq-1", "site-a", "hq-2", "sops-b", "hq-3"]
    return [f"{g}::row-{i}::ufw" for g in groups for i in range(4)] + ["tests/test_own.py::test_plain"]


def group_of(nodeid: str) -> str | None:
    group = nodeid.split("::")[0]
    return group if group in PINNED else None


def pinned_scheduler(workers: int) -> Any:
    return parallel.scheduler(Config(workers), None, group_of, PINNED)  # type: ignore[arg-type]


def groups_of(sent: list[int], nodeids: list[str]) -> set[str]:
    return {nodeids[i].split("::")[0] for i in sent}


def test_each_worker_runs_only_its_own_sites_groups() -> None:
    nodeids = fleet_items()
    a, b, here = Worker("tester-a"), Worker("tester-b"), Worker("gw0")
    drive(pinned_scheduler(3), [a, b, here], nodeids)
    assert groups_of(a.sent, nodeids) <= {"site-a", "tests/test_own.py"}
    assert "site-a" in groups_of(a.sent, nodeids) and groups_of(b.sent, nodeids) <= {
        "sops-b",
        "tests/test_own.py",
    }
    assert (
        {"hq-1", "hq-2", "hq-3"}
        <= groups_of(here.sent, nodeids)
        <= {"hq-1", "hq-2", "hq-3", "tests/test_own.py"}
    )
    assert sorted(a.sent + b.sent + here.sent) == list(range(len(nodeids)))  # each item once


def test_a_worker_with_nothing_of_its_own_stops_and_the_testers_still_run() -> None:
    """xdist stops the workers started last when there are more workers than units: never a tester."""
    nodeids = [n for n in fleet_items() if n.startswith(("site-a", "sops-b"))]
    a, b, spare = Worker("tester-a"), Worker("tester-b"), Worker("gw0")
    sched = pinned_scheduler(3)
    drive(sched, [spare, a, b], nodeids)
    assert spare.sent == [] and spare.shutting_down
    assert groups_of(a.sent, nodeids) == {"site-a"} and groups_of(b.sent, nodeids) == {"sops-b"}


def test_a_crashed_testers_site_waits_for_its_tester_not_another_worker() -> None:
    nodeids = [n for n in fleet_items() if n.startswith(("site-a", "hq-1"))]
    sched = pinned_scheduler(2)
    a, here = Worker("tester-a"), Worker("gw0")
    for w in (a, here):
        sched.add_node(w)
        sched.add_node_collection(w, list(nodeids))
    sched.schedule()
    sched.remove_node(a)  # crashed before finishing its site
    for index in list(here.sent):
        sched.mark_test_complete(here, index)
    assert groups_of(here.sent, nodeids) == {"hq-1"} and not sched.tests_finished
    again = Worker("tester-a")  # xdist restarts the worker with the same --tx (the same id)
    sched.add_node(again)
    sched.add_node_collection(again, list(nodeids))
    sched.schedule()
    assert groups_of(again.sent, nodeids) == {"site-a"} and len(again.sent) == 4


def pair(source: str, peer: str, site: str = "fleet") -> Any:
    return SimpleNamespace(source=SimpleNamespace(name=source), peer=SimpleNamespace(name=peer), site=site)


def test_clusters_at_two_sites_of_one_inventory_are_groups_of_their_own() -> None:
    """A group's nodes are checked by one tester: only nodes joined by flows need to be together."""
    from pytest_portspec.engine.site import _flow_groups

    one = [pair("app-1", "db-1", "a"), pair("db-1", "web-1", "a")]
    assert _flow_groups(one) == {"app-1": "site-a", "db-1": "site-a", "web-1": "site-a"}
    fleet = [pair("app-1", "db-1"), pair("db-1", "web-1"), pair("sops", "hub-1"), pair("hub-2", "sops")]
    assert _flow_groups(fleet) == {
        "app-1": "site-fleet-app-1",
        "db-1": "site-fleet-app-1",
        "web-1": "site-fleet-app-1",
        "sops": "site-fleet-sops",
        "hub-1": "site-fleet-sops",
        "hub-2": "site-fleet-sops",
    }
    # an inventory of two sites (Ansible's portspec_site): each site's one cluster is site-SITE
    two_sites = [*one, pair("sops", "hub-1", "b"), pair("hub-2", "sops", "b")]
    assert _flow_groups(two_sites) == {
        "app-1": "site-a",
        "db-1": "site-a",
        "web-1": "site-a",
        "sops": "site-b",
        "hub-1": "site-b",
        "hub-2": "site-b",
    }
