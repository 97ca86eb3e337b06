"""An Ansible inventory as our Inventory (pure): the JSON the real `ansible-inventory --list`
printed for tests/data/ansible/*, mapped to devices, their SSH and sudo settings, and sites."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_portspec.checks.flow_plan import same_cluster
from pytest_portspec.engine.build import build_fleet
from pytest_portspec.engine.settings import Settings
from pytest_portspec.errors import SpecError
from pytest_portspec.spec.ansible_connection import connection
from pytest_portspec.spec.ansible_inventory import inventory_from_list
from pytest_portspec.spec.ansible_vars import HostVars
from pytest_portspec.spec.inventory import Inventory

DATA = Path(__file__).resolve().parent / "data" / "ansible"
PASSWORD = "s3cret-never-shown"


def listed(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / f"{name}.list.json").read_text(encoding="utf-8"))
    return data


def mapped(name: str, data: dict[str, Any] | None = None) -> Inventory:
    return inventory_from_list(data if data is not None else listed(name), name, (), "default-site")


def problems(name: str, data: dict[str, Any] | None = None) -> list[str]:
    with pytest.raises(SpecError) as caught:
        mapped(name, data)
    return [str(p) for p in caught.value.problems]


def test_hosts_with_a_spec_are_devices_with_their_connection_vars() -> None:
    inventory = mapped("sites.ini")
    devices = {d.name: d for d in inventory.devices}
    assert sorted(devices) == [
        "application-n1",
        "application-s1",
        "database-n1",
        "database-s1",
        "webproxy-n1",
    ]
    db = devices["database-n1"]
    assert (db.spec, db.role, db.host, db.port, db.ssh_user, db.ssh_key) == (
        "voss",
        "database",
        "10.20.0.12",
        2222,
        "platform",
        "~/.ssh/voss",
    )
    assert (db.proxy_jump, db.known_hosts, db.host_key_policy) == (
        "jump@10.20.0.1",
        "/etc/portspec/north_known_hosts",
        "accept-new",
    )
    assert (db.sudo, db.sudo_password) == (True, PASSWORD)
    south = devices["database-s1"]  # `ssh -W %h:%p -q jump@10.30.0.1` as a ProxyJump; its own address
    assert (south.proxy_jump, south.address, south.known_hosts) == ("jump@10.30.0.1", "10.31.0.12", None)
    assert inventory.notes == (
        "Ansible inventory sites.ini: 5 device(s); "
        "1 host(s) without portspec_spec not checked: bastion-north",
    )


def test_the_sudo_password_is_never_shown() -> None:
    inventory = mapped("sites.ini")
    assert PASSWORD not in repr(inventory) and PASSWORD not in str(inventory.devices)
    data = listed("sites.ini")
    data["_meta"]["hostvars"]["database-n1"]["portspec_role"] = "databse"  # a problem on that host
    assert not any(PASSWORD in line for line in problems("sites.ini", data))


def test_devices_of_two_sites_are_never_paired() -> None:
    inventory = mapped("sites.ini")
    assert inventory.site == "north+south"
    assert inventory.sites["database-s1"] == "south" and inventory.sites["webproxy-n1"] == "north"
    assert inventory.clusters == {
        "north": ("application-n1", "database-n1", "webproxy-n1"),
        "south": ("application-s1", "database-s1"),
    }
    together = same_cluster(inventory.clusters)
    assert together("application-n1", "database-n1") and not together("application-n1", "database-s1")
    fleet = build_fleet(Settings(inventory=inventory))
    assert fleet.site is not None
    pairs = {p.key.split("::")[0] for p in fleet.site.pairs}
    assert "application-n1->database-n1" in pairs and "application-s1->database-s1" in pairs
    assert all(p.source.name[-2] == p.peer.name[-2] for p in fleet.site.pairs)  # n with n, s with s


def test_a_device_takes_its_connection_and_sudo_settings_into_its_run() -> None:
    fleet = build_fleet(Settings(inventory=mapped("sites.ini"), host_key_policy="ignore", sudo=False))
    runs = {run.label.split("@")[1]: run for run in fleet.runs}
    north, south = runs["database-n1:2222"], runs["database-s1"]
    assert north.sudo and north.sudo_password == PASSWORD  # become wins over --no-sudo
    ssh = north.transport.settings  # type: ignore[attr-defined]
    assert (ssh.known_hosts, ssh.host_key_policy, ssh.proxy_jump) == (
        "/etc/portspec/north_known_hosts",
        "accept-new",  # StrictHostKeyChecking=accept-new tightens the run's `ignore`
        "jump@10.20.0.1",
    )
    assert south.transport.settings.host_key_policy == "ignore"  # type: ignore[attr-defined]
    strict = build_fleet(Settings(inventory=mapped("sites.ini")))
    assert {r.transport.settings.host_key_policy for r in strict.runs} == {"strict"}  # type: ignore[attr-defined]


def test_clusters_are_per_site() -> None:
    data = listed("examples-hosts.ini")
    text = json.dumps(data).replace('"192.0.2.', '"198.18.0.')  # the example's addresses, made usable
    inventory = mapped("hosts.ini", json.loads(text))
    assert inventory.site == "office-hq+site-a"
    assert inventory.clusters == {
        "site-a": ("application-1", "database-1", "unified-1", "webproxy-1"),
        "office-hq/syncsign": ("hub-1", "hub-2", "sops"),
    }
    assert [d.enable for d in inventory.devices if d.name in ("application-1", "sops")] == [
        ("ucm", "ldap"),
        ("webhook",),
    ]
    assert "bastion-a" in inventory.notes[0]


@pytest.mark.parametrize("example", ["examples-hosts.ini", "examples-site"])
def test_the_examples_documentation_addresses_are_refused_as_hosts(example: str) -> None:
    lines = problems(example)
    assert (
        "is a documentation address, never a real device: put your device's address in ansible_host of"
        in (lines[0])
    )
    assert all("documentation address" in line for line in lines)


def test_the_directory_example_merges_group_and_host_vars() -> None:
    text = (
        json.dumps(listed("examples-site"))
        .replace('"192.0.2.', '"198.18.0.')
        .replace('"198.51.100.', '"198.19.0.')
    )
    inventory = mapped("site", json.loads(text))
    devices = {d.name: d for d in inventory.devices}
    assert devices["application-1"].enable == ("ucm", "ldap")  # host_vars/application-1.yml
    assert {d.host_key_policy for d in devices.values()} == {"strict"}  # group_vars/all.yml
    assert {d.known_hosts for d in devices.values()} == {"~/.ssh/voss_known_hosts"}
    assert set(inventory.clusters) == {"site-a", "site-b"}
    assert "monitor-a" in inventory.notes[0]


EXPECTED = [
    "bad-role.portspec_role: spec 'voss' has no role 'databse' (did you mean 'database'?)",
    "documentation.ansible_host: 192.0.2.9 is a documentation address, never a real device",
    "labhost.ansible_host: 'lab' names a portspec transport, not a host",
    "netconf.ansible_connection: 'ansible.netcommon.netconf': portspec reaches devices over SSH only",
    "odd-ssh.ansible_ssh_extra_args: ssh option 'remotecommand' is not one portspec honours",
    "odd-ssh.ansible_ssh_extra_args: ssh argument '-F /tmp/ssh_config' is not one portspec honours",
    "other-user.ansible_become_user: 'postgres': portspec's reads need root",
    "proxycommand.ansible_ssh_common_args: ProxyCommand 'nc -X 5 -x proxy:1080 %h %p': portspec honours only",
    "su-become.ansible_become_method: 'su': portspec reads as root only through sudo -n",
    "templated.ansible_host: \"{{ lookup('env', 'NODE') }}\" is a Jinja template",
    "unsafe-ok.portspec_firmware: firmware version '{{ not a template }}' is not a dotted number",  # text
    "vaulted.ansible_become_password: a vault-encrypted value: portspec does not decrypt vaults",
]


def test_every_problem_names_the_inventory_the_host_and_the_var() -> None:
    lines = problems("problems.yml")
    for expected in EXPECTED:
        assert any(line.startswith(f"problems.yml: {expected}") for line in lines), (expected, lines)
    assert len(lines) == len(EXPECTED)


def test_an_inventory_without_devices_is_an_error_naming_its_hosts() -> None:
    (line,) = problems("no-devices.ini")
    assert "no host has portspec_spec, so none is a device (2 host(s): web-1, web-2)" in line


def test_an_empty_selection_is_an_error() -> None:
    (line,) = problems("empty", {"_meta": {"hostvars": {}}, "all": {"children": ["ungrouped"]}})
    assert "no host: the inventory (or its limit) names none" in line


def host(**values: object) -> HostVars:
    return HostVars("inv", "node-1", {"ansible_host": "10.0.0.1", **values})


@pytest.mark.parametrize(
    ("args", "jump"),
    [
        ("-J jump@bastion", "jump@bastion"),
        ("-Jbastion:2200", "bastion:2200"),
        ("-oProxyJump=a,b", "a,b"),
        ("-o 'ProxyJump a@b'", "a@b"),
        ("-o ProxyJump=none", None),
        ("-o ProxyCommand='ssh -W %h:%p -p 2200 -l jump bastion'", "jump@bastion:2200"),
        ("-C -q -o ControlMaster=auto -o ControlPersist=60s", None),
    ],
)
def test_ssh_arguments_that_choose_the_route_map_to_a_proxy_jump(args: str, jump: str | None) -> None:
    hv = host(ansible_ssh_common_args=args)
    assert (connection(hv).get("proxy_jump"), hv.problems) == (jump, [])


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"ansible_port": 22, "ansible_ssh_extra_args": "-p 2200"}, "port 2200 conflicts with 22"),
        ({"ansible_ssh_common_args": "-o StrictHostKeyChecking=maybe"}, "expected yes, accept-new or no"),
        ({"ansible_ssh_common_args": "-o 'UserKnownHostsFile=a b'"}, "portspec reads one known_hosts file"),
        ({"ansible_ssh_common_args": "-o ProxyCommand='ssh -i k -W %h:%p b'"}, "honours only `ssh -W"),
        ({"ansible_ssh_common_args": "-o 'unbalanced"}, "is not a list of ssh arguments"),
        ({"ansible_password": "pw"}, "portspec logs in with a key, not a password"),
        ({"ansible_become": "yes", "ansible_become_flags": "-i"}, "runs `sudo -n` with fixed arguments"),
        ({"ansible_become": True, "ansible_become_exe": "doas"}, "not another become program"),
        ({"ansible_become": "maybe"}, "expected true or false"),
        ({"ansible_port": "ssh"}, "expected an SSH port 1-65535"),
    ],
)
def test_what_portspec_cannot_honour_is_a_problem(values: dict[str, object], message: str) -> None:
    hv = host(**values)
    connection(hv)
    assert len(hv.problems) == 1 and message in str(hv.problems[0]), hv.problems


@pytest.mark.parametrize(
    ("values", "sudo"),
    [
        ({}, None),  # the run's choice (--no-sudo or not)
        ({"ansible_become": "yes"}, True),
        ({"ansible_become": False, "ansible_user": "root"}, False),  # root needs no sudo
        ({"ansible_become": "no", "ansible_user": "admin"}, None),  # another user still needs it
        ({"ansible_become": True, "ansible_become_flags": "-H -S -n"}, True),
    ],
)
def test_become_maps_to_sudo(values: dict[str, object], sudo: bool | None) -> None:
    hv = host(**values)
    assert (connection(hv).get("sudo"), hv.problems) == (sudo, [])


def test_strict_host_key_checking_no_is_never_looser_than_accept_new() -> None:
    hv = host(ansible_ssh_common_args="-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null")
    assert connection(hv)["host_key_policy"] == "accept-new"


def test_a_number_where_text_is_meant_is_a_problem_not_a_guess() -> None:
    hv = host(portspec_firmware=21.1, portspec_role=7)  # INI: portspec_firmware=21.10 arrives as 21.1
    assert (hv.text("portspec_firmware"), hv.text("portspec_role")) == (None, "7")
    assert "21.1 arrived as a number: quote it ('21.1')" in str(hv.problems[0])
