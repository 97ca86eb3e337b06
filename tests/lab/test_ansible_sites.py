"""Two emulated sites checked from Ansible inventories (INI, and a YAML directory with group_vars):
the same verdicts as the lab's own inventories give, and no flow between the sites.

The Ansible hosts are reached the way a real site is: ansible_host is the appliance's management
address, ansible_port/ansible_user/ansible_ssh_private_key_file its SSH login, and its
known_hosts comes in `-o UserKnownHostsFile=` with StrictHostKeyChecking=yes; root reads go
through become (sudo). What the lab's `host: lab` devices learn from the lab's state (profile,
conditions, the node address on the site segment, the site's stand-in servers) is given
explicitly: portspec_* vars and --dest.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from plugin_runs import run_plugin

from pytest_portspec.lab.controller import Lab
from pytest_portspec.lab.fixture import LabSession
from pytest_portspec.lab.store import Store
from pytest_portspec.spec.catalog import find_spec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SITES = {"site-a": "voss-site.yaml", "office-hq": "syncsign-site.yaml"}


@pytest.fixture
def two_sites(lab_store: Store) -> Iterator[dict[str, tuple[list[dict[str, Any]], Path]]]:
    """Both example sites up: site -> (its nodes' lab states, the lab's own inventory of it)."""
    session = LabSession(Lab(lab_store))
    try:
        up = {}
        for site, example in SITES.items():
            appliances, inventory = session.site(EXAMPLES / example)
            up[site] = ([a.state for a in appliances], inventory)
        yield up
    finally:
        session.close()


def conditions(state: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The conditions the appliance was brought up with, as portspec_enable / portspec_disable."""
    spec = find_spec(state["spec"])
    enabled = set(state.get("enabled", []))
    return (
        [c.name for c in spec.conditions.values() if c.name in enabled and not c.default],
        [c.name for c in spec.conditions.values() if c.name not in enabled and c.default],
    )


def host_vars(state: dict[str, Any]) -> dict[str, str]:
    enable, disable = conditions(state)
    known = f"-o UserKnownHostsFile={state['known_hosts']} -o StrictHostKeyChecking=yes"
    found = {
        "ansible_host": state["management_address"],
        "ansible_port": str(state["ssh_port"]),
        "ansible_user": state["ssh_user"],
        "ansible_ssh_private_key_file": state["private_key"],
        "ansible_ssh_common_args": known,
        "portspec_role": state["role"],
        "portspec_profile": state["profile"],
        "portspec_address": state["segment_address"],
    }
    return (
        found
        | ({"portspec_enable": ",".join(enable)} if enable else {})
        | ({"portspec_disable": ",".join(disable)} if disable else {})
    )


def ini_inventory(path: Path, sites: dict[str, list[dict[str, Any]]]) -> Path:
    lines = ["[tester]", "localhost ansible_connection=local", ""]  # a host that is no device
    for site, states in sites.items():
        group = site.replace("-", "_")
        lines.append(f"[{group}]")
        for state in states:
            pairs = " ".join(f"{k}={shlex.quote(v)}" for k, v in host_vars(state).items())
            lines.append(f"{state['name']} {pairs}")
        lines += [f"[{group}:vars]", f"portspec_site={site}", f"portspec_spec={states[0]['spec']}", ""]
    lines += ["[all:vars]", "ansible_become=true", "ansible_become_method=sudo"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def yaml_inventory(root: Path, sites: dict[str, list[dict[str, Any]]]) -> Path:
    """A directory: hosts.yml with the hosts, group_vars/ with each site's shared vars."""
    (root / "group_vars").mkdir(parents=True)
    lines = ["all:", "  children:"]
    for site, states in sites.items():
        group = site.replace("-", "_")
        lines += [f"    {group}:", "      hosts:"]
        for state in states:
            lines.append(f"        {state['name']}:")
            lines += [f"          {k}: {v!r}" for k, v in host_vars(state).items()]
        (root / "group_vars" / f"{group}.yml").write_text(
            f"portspec_site: {site}\nportspec_spec: {states[0]['spec']}\nansible_become: true\n",
            encoding="utf-8",
        )
    (root / "hosts.yml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def verdicts(data: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    """Item -> outcome and failure class, with a pair's collector named by its own site."""
    found = {}
    for r in data["results"]:
        device, _, rest = r["nodeid"].partition("::")
        device = device.removesuffix(":22")  # a label shows the SSH port when the inventory gives it
        device = re.sub(r"@(office-hq\+site-a|site-a|office-hq)$", "@SITE", device)  # a pair's collector
        found[f"{device}::{rest}"] = (r["outcome"], r.get("failure_class"))
    return found


def destinations(states: list[dict[str, Any]]) -> list[str]:
    """The lab's stand-ins for the sites' servers, as the user declares a real site's."""
    dests = {k: v for s in states for k, v in s["destinations"].items() if k != "dns"}
    return [f"--dest={k}={v}" for k, v in sorted(dests.items())]


def test_ansible_inventories_check_two_sites_as_the_labs_own_inventories(
    two_sites: dict[str, tuple[list[dict[str, Any]], Path]], pytester: pytest.Pytester, tmp_path: Path
) -> None:
    expected: dict[str, tuple[str, str | None]] = {}
    for _, inventory in two_sites.values():
        expected |= verdicts(run_plugin(pytester, f"--inventory={inventory}"))
    assert expected and {o for o, _ in expected.values()} == {"passed", "skipped"}, expected
    states = {site: s for site, (s, _) in two_sites.items()}
    dests = destinations([s for group in states.values() for s in group])

    ini = run_plugin(pytester, f"--inventory={ini_inventory(tmp_path / 'hosts.ini', states)}", *dests)
    assert verdicts(ini) == expected, ini["stdout"][-3000:]
    assert "1 host(s) without portspec_spec not checked: localhost" in ini["stdout"]
    pairs = [r["nodeid"] for r in ini["results"] if r.get("check") == "pair"]
    assert len(pairs) == 11 + 12  # the VOSS cluster's flows and the hubs' to their SOPS: none between
    nodes = {s["name"]: site for site, group in states.items() for s in group}
    for nodeid in pairs:
        source, peer = nodeid.split("::")[1].split("->")
        assert nodes[source] == nodes[peer.split("::")[0]]

    directory = yaml_inventory(tmp_path / "inventory", states)
    yaml_run = run_plugin(pytester, f"--inventory={directory}", *dests)
    assert verdicts(yaml_run) == expected, yaml_run["stdout"][-3000:]
