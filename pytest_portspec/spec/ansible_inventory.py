"""An Ansible inventory as our Inventory (pure): the JSON `ansible-inventory --list` prints, in.

    inventory_from_list(data, source, spec_dirs, default_site) -> Inventory  (SpecError otherwise)

A host is a device when its vars (its own or its groups', as Ansible merged them) have
`portspec_spec`; the others (bastions, monitoring servers) are counted and named in the header.
Our keys are vars: portspec_spec, _profile, _role, _enable, _disable, _firmware, _address,
_tester, _site, _cluster, and _cluster_nets / _management_nets (networks, as --cluster-net and
--management-net say for this host). Connection and become vars map as spec/ansible_connection.py says.
Every device is validated like a device of our YAML inventory (spec/inventory_checks.py); every
problem names the inventory, the host and the var.

Sites: an Ansible inventory often holds several. `portspec_site` names a host's site (default: the
inventory's name); `portspec_cluster` its cluster(s) within the site. Node-to-node flows are
planned only within one cluster of one site, so devices of two sites are never paired.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from pytest_portspec.addresses import check_cidr, is_documentation_address
from pytest_portspec.device.schemes import scheme_of
from pytest_portspec.errors import Problem, SpecError
from pytest_portspec.spec.ansible_connection import connection
from pytest_portspec.spec.ansible_vars import HostVars
from pytest_portspec.spec.inventory import Inventory, InventoryDevice
from pytest_portspec.spec.inventory_checks import Documentation, host_problem, name_problem, selection_problem
from pytest_portspec.text import quoted

TEXT_KEYS = ("profile", "role", "firmware", "address", "tester")
SHOWN = 10  # hosts named in the header's note


def inventory_from_list(
    data: Mapping[str, Any], source: str, spec_dirs: tuple[Path, ...], default_site: str
) -> Inventory:
    hostvars = _hostvars(data)
    hosts = list(dict.fromkeys([*hostvars, *_grouped_hosts(data)]))
    problems: list[Problem] = []
    refuse = Documentation(source, None, lab_up=False)
    devices: list[InventoryDevice] = []
    clusters: dict[str, list[str]] = {}
    sites: dict[str, str] = {}  # device -> site
    skipped: list[str] = []
    for host in hosts:
        hv = HostVars(source, host, hostvars.get(host) or {})
        if not hv.has("portspec_spec"):
            skipped.append(host)
            continue
        device = _device(hv, spec_dirs, refuse)
        site, groups = _placement(hv, default_site)
        problems += hv.problems
        if device is not None and site is not None:
            devices.append(device)
            sites[device.name] = site
            for key in groups:
                clusters.setdefault(key, []).append(device.name)
    if not hosts:
        problems.append(Problem(source, None, "", "no host: the inventory (or its limit) names none"))
    elif not devices and not problems:
        problems.append(Problem(source, None, "", _no_device(hosts)))
    if problems:
        raise SpecError(problems)
    return Inventory(
        "+".join(sorted(set(sites.values()))),
        tuple(devices),
        {key: tuple(names) for key, names in clusters.items()},
        notes=_notes(source, devices, skipped),
        sites=sites,
    )


def _hostvars(data: Mapping[str, Any]) -> Mapping[str, Mapping[str, object]]:
    meta = data.get("_meta")
    found = meta.get("hostvars") if isinstance(meta, Mapping) else None
    if not isinstance(found, Mapping):
        return {}
    return {str(h): v for h, v in found.items() if isinstance(v, Mapping)}


def _grouped_hosts(data: Mapping[str, Any]) -> list[str]:
    """Hosts without vars are only in their groups' lists."""
    return [
        str(h)
        for name, group in data.items()
        if name != "_meta" and isinstance(group, Mapping) and isinstance(group.get("hosts"), list)
        for h in group["hosts"]
    ]


def _no_device(hosts: list[str]) -> str:
    shown = ", ".join(hosts[:SHOWN]) + (f" and {len(hosts) - SHOWN} more" if len(hosts) > SHOWN else "")
    return (
        f"no host has portspec_spec, so none is a device ({len(hosts)} host(s): {shown}): "
        "give the spec as a var of the devices or of their group, e.g. portspec_spec=voss"
    )


def _device(hv: HostVars, spec_dirs: tuple[Path, ...], refuse: Documentation) -> InventoryDevice | None:
    before = len(hv.problems)
    spec = hv.text("portspec_spec")
    text = {k: hv.text(f"portspec_{k}") for k in TEXT_KEYS if hv.has(f"portspec_{k}")}
    lists = {k: hv.names(f"portspec_{k}") for k in ("enable", "disable") if hv.has(f"portspec_{k}")}
    nets = {k: _networks(hv, f"portspec_{k}") for k in ("cluster_nets", "management_nets")}
    conn = connection(hv)
    host = str(conn["host"])
    host_var = next((v for v in ("ansible_host", "ansible_ssh_host") if hv.has(v)), "")
    _check_names(hv, host, host_var, text.get("address"))
    if len(hv.problems) > before or spec is None:
        return None
    device = InventoryDevice(
        name=hv.host,
        spec=spec,
        host=host,
        role=text.get("role"),
        profile=text.get("profile"),
        enable=lists.get("enable", ()),
        disable=lists.get("disable", ()),
        firmware=text.get("firmware"),
        ssh_user=_text(conn.get("ssh_user")),
        ssh_key=_text(conn.get("ssh_key")),
        port=cast("int | None", conn.get("port")),
        address=text.get("address"),
        proxy_jump=_text(conn.get("proxy_jump")),
        tester=text.get("tester"),
        known_hosts=_text(conn.get("known_hosts")),
        host_key_policy=cast(Any, conn.get("host_key_policy")),
        sudo=cast("bool | None", conn.get("sudo")),
        sudo_password=_text(conn.get("sudo_password")),
        cluster_nets=nets["cluster_nets"],
        management_nets=nets["management_nets"],
    )
    problem = selection_problem(device, spec_dirs)
    if problem is not None:
        hv.problem(_selection_var(hv, problem), problem)
        return None
    if is_documentation_address(host):
        where = f"{host_var} of {hv.host}" if host_var else f"the inventory's host {hv.host}"
        hv.problem(host_var, refuse.why(host, f"{where} ({refuse.file})"))
        return None
    return device


def _selection_var(hv: HostVars, problem: str) -> str:
    """The var a selection problem is about (its sentence names a role, a profile, ...)."""
    words = {"role": "role", "profile": "profile", "firmware": "firmware", "condition": "enable"}
    for word, key in words.items():
        if word in problem and hv.has(f"portspec_{key}"):
            return f"portspec_{key}"
    return "portspec_spec"


def _check_names(hv: HostVars, host: str, host_var: str, address: str | None) -> None:
    """The inventory hostname becomes the device's name; its host and address are checked like ours."""
    problem = name_problem(hv.host)
    if problem is not None:
        hv.problem("", f"the inventory hostname {problem}")
    problem = host_problem(host)
    if problem is not None:
        hv.problem(host_var, problem)
    elif scheme_of(host) is not None:  # `lab`, `fake`: a scheme of ours, not a host the user meant
        hv.problem(host_var, f"{quoted(host)} names a portspec transport, not a host: give its address")
    problem = host_problem(address) if address else None
    if problem is not None:
        hv.problem("portspec_address", problem)


def _placement(hv: HostVars, default_site: str) -> tuple[str | None, list[str]]:
    """The host's site, and the keys of the clusters it belongs to: `SITE/CLUSTER` for each of its
    clusters, else `SITE` (the site's devices without a cluster plan flows among themselves)."""
    site = hv.text("portspec_site") if hv.has("portspec_site") else default_site
    if site is None:
        return None, []
    problem = name_problem(site)
    if problem is not None:
        hv.problem("portspec_site" if hv.has("portspec_site") else "", f"the site {problem}")
        return None, []
    named = hv.names("portspec_cluster") if hv.has("portspec_cluster") else ()
    for cluster in named:
        if (problem := name_problem(cluster)) is not None:
            hv.problem("portspec_cluster", problem)
            return None, []
    return site, [f"{site}/{c}" for c in named] or [site]


def _notes(source: str, devices: list[InventoryDevice], skipped: list[str]) -> tuple[str, ...]:
    line = f"Ansible inventory {source}: {len(devices)} device(s)"
    if skipped:
        shown = ", ".join(skipped[:SHOWN]) + (
            f" and {len(skipped) - SHOWN} more" if len(skipped) > SHOWN else ""
        )
        line += f"; {len(skipped)} host(s) without portspec_spec not checked: {shown}"
    return (line,)


def _networks(hv: HostVars, var: str) -> tuple[str, ...]:
    """A network var: one CIDR, a list, or CIDRs separated by commas; each one checked."""
    found: list[str] = []
    for text in hv.names(var) if hv.has(var) else ():
        try:
            found.append(check_cidr(text))
        except ValueError as exc:
            hv.problem(var, str(exc))
    return tuple(dict.fromkeys(found))


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
