"""A tester per site, end to end: two emulated sites, each reachable only from its own tester.

Each site's appliances have their management links in the site's tester namespace (an enclave:
lab/enclave.py), so the root namespace reaches neither site and each tester only its own. pytest
runs one xdist worker inside each tester namespace (`--tx popen//id=tester-a//python=WRAPPER`,
the wrapper entering the namespace): every device must be checked by its own site's worker, its
inbound probes passing from there, and the results of both sites merged into one file.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from plugin_runs import run_plugin

from pytest_portspec.lab.controller import Lab
from pytest_portspec.lab.enclave import enclave, move_management, remove_enclave
from pytest_portspec.lab.fixture import LabSession
from pytest_portspec.lab.store import Store

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SITE_B = """site: office-b
devices:
  - {name: sops-b, spec: syncsign-sops, profile: internet, role: sops, host: 192.0.2.31, enable: [webhook]}
  - {name: hub-b1, spec: syncsign-sops, profile: internet, role: hub, host: 192.0.2.32}
  - {name: hub-b2, spec: syncsign-sops, profile: internet, role: hub, host: 192.0.2.33}
clusters:
  - {name: syncsign-b, devices: [sops-b, hub-b1, hub-b2]}
"""  # a second SyncSign site: both sites' flows share one collector (syncsign-sops@fleet), not a tester
SERVERS = {"sops", "sops-b"}  # the hubs have no inbound rows
CONNECT = "import socket,sys; socket.create_connection((sys.argv[1], 22), timeout=2).close()"


def reaches_from(namespace: str, address: str) -> bool:
    argv = ["ip", "netns", "exec", namespace, sys.executable, "-c", CONNECT, address]
    return subprocess.run(argv, capture_output=True, timeout=10, check=False).returncode == 0


def wrapper(path: Path, namespace: str) -> Path:
    """The python of a worker inside the tester's namespace (execnet starts it with its own args)."""
    path.write_text(f'#!/bin/sh\nexec ip netns exec {namespace} {sys.executable} "$@"\n', encoding="utf-8")
    path.chmod(0o755)
    return path


@pytest.fixture(scope="module")
def sites(lab_store: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Both sites up, each site's management links in its tester's namespace; all down after."""
    site_b = tmp_path_factory.mktemp("site-b") / "office-b.yaml"
    site_b.write_text(SITE_B, encoding="utf-8")
    session = LabSession(Lab(lab_store))
    found: dict[str, Any] = {}
    try:
        for tester, inventory in {"tester-a": EXAMPLES / "syncsign-site.yaml", "tester-b": site_b}.items():
            appliances, path = session.site(inventory)
            namespace = enclave(lab_store, tester)
            move_management(lab_store, [a.name for a in appliances], namespace)
            found[tester] = {"appliances": appliances, "inventory": path, "namespace": namespace}
        yield found
    finally:
        session.close()
        for tester in found:
            remove_enclave(lab_store, tester)


def fleet_inventory(path: Path, sites: dict[str, Any], testers: dict[str, str]) -> Path:
    """Both sites' lab inventories as one fleet, each device naming its tester (`testers`: site's
    tester -> the tester its devices name)."""
    devices, clusters = [], []
    for tester, site in sites.items():
        data = yaml.safe_load(Path(site["inventory"]).read_text(encoding="utf-8"))
        devices += [d | {"tester": testers[tester]} for d in data["devices"]]
        clusters += data.get("clusters", [])
    path.write_text(
        yaml.safe_dump({"site": "fleet", "devices": devices, "clusters": clusters}), encoding="utf-8"
    )
    return path


def workers(tmp_path: Path, sites: dict[str, Any]) -> list[str]:
    args = ["-p", "xdist", "--dist", "loadgroup"]
    for tester, site in sites.items():
        args += [
            "--tx",
            f"popen//id={tester}//python={wrapper(tmp_path / f'{tester}.sh', site['namespace'])}",
        ]
    return args


def test_each_site_is_checked_from_its_own_tester(
    sites: dict[str, Any], pytester: pytest.Pytester, tmp_path: Path
) -> None:
    a, b = sites["tester-a"], sites["tester-b"]
    assert reaches_from(a["namespace"], a["appliances"][0].address)
    assert not reaches_from(a["namespace"], b["appliances"][0].address)  # a tester reaches its site only
    assert not reaches_from(b["namespace"], a["appliances"][0].address)

    inventory = fleet_inventory(tmp_path / "fleet.yaml", sites, {t: t for t in sites})
    data = run_plugin(pytester, f"--inventory={inventory}", *workers(tmp_path, sites))
    expected = {a.name: tester for tester, site in sites.items() for a in site["appliances"]}
    nodes = [d for d in data["devices"] if d.get("kind") != "site"]
    assert {d["device"].split("@")[-1]: d.get("checked_from") for d in nodes} == expected
    assert all(d["error"] is None for d in nodes), [d["error"] for d in nodes]
    bad = {
        r["nodeid"]: r.get("failure_class") for r in data["results"] if r["outcome"] in ("failed", "error")
    }
    assert bad == {}, data["stdout"][-4000:]
    inbound = [r for r in data["results"] if r.get("check") == "inbound" and r["outcome"] == "passed"]
    assert {r["device"].split("@")[-1] for r in inbound} == SERVERS  # probed from their own tester
    flows = {r["nodeid"].split("::")[1] for r in data["results"] if r.get("check") == "pair"}
    nodes_in_flows = {n for f in flows for n in f.split("->")}
    assert nodes_in_flows == {"sops", "hub-1", "hub-2", "sops-b", "hub-b1", "hub-b2"}  # both sites' flows
    assert {r["outcome"] for r in data["results"] if r.get("check") == "pair"} == {"passed"}


def test_a_device_naming_the_wrong_tester_cannot_be_reached_and_never_passes(
    sites: dict[str, Any], pytester: pytest.Pytester, tmp_path: Path
) -> None:
    swapped = {"tester-a": "tester-b", "tester-b": "tester-a"}
    inventory = fleet_inventory(tmp_path / "swapped.yaml", sites, swapped)
    data = run_plugin(pytester, f"--inventory={inventory}", *workers(tmp_path, sites), "-m", "inbound")
    errors = {d["device"].split("@")[-1]: d["error"] for d in data["devices"] if d.get("kind") != "site"}
    assert all(errors[name] for name in SERVERS), errors  # the other site's tester cannot reach them
    ran = [r for r in data["results"] if r["outcome"] != "not run"]
    assert ran and {r["outcome"] for r in ran} == {"error"}  # never a pass from the wrong network
