"""Enclaves: move appliances' management links out of the root namespace, and back.

An appliance's management link `pslNm` (198.18.N.1/24, 2001:2:0:N::1/64) normally sits in
the root namespace, so the tester there reaches every appliance. A site with its own tester,
or a device reached only through a jump host, needs the opposite: the management link
moves into another namespace (a bare "enclave", or another appliance's namespace acting as
a jump host), and the root namespace can no longer reach the appliance at all.

The lab keeps no record of where a link is: it is found by looking in the namespaces this
lab directory may have moved it to (its enclaves and its appliances' namespaces), so every
call can be repeated and survives an interrupted earlier one.

An enclave's namespace is `pslab[-TAG]-enclave.NAME`: appliance names have no '.', so no
appliance's namespace can ever take that name.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from netaddr import IPNetwork

from pytest_portspec.errors import LabError
from pytest_portspec.lab.appliance import management_link
from pytest_portspec.lab.plan import Addresses, in_lab
from pytest_portspec.lab.processes import ip_batch, kill, netns_exists, netns_pids, no_forwarding
from pytest_portspec.lab.store import NAME_PATTERN, Store
from pytest_portspec.lab.system import run

ENCLAVE = "enclave."
ROOT = None  # where a management link starts: the lab controller's own namespace


def enclave_namespace(store: Store, name: str) -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise LabError(f"enclave name {name!r}: use lower-case letters, digits and '-' (at most 31)")
    return store.namespace(ENCLAVE + name)


def enclave(store: Store, name: str) -> str:
    """A bare namespace of this lab directory (lo up, forwarding off); returns its name."""
    namespace = enclave_namespace(store, name)
    with store.lock():
        if not netns_exists(namespace):
            run(["ip", "netns", "add", namespace])
            ip_batch(namespace, ["link set lo up"])
            no_forwarding(namespace)
    return namespace


def enclaves(store: Store) -> list[str]:
    """This lab directory's enclave namespaces."""
    prefix = store.namespace(ENCLAVE)
    return sorted(p.name for p in Path("/run/netns").glob(f"{prefix}*") if p.name.startswith(prefix))


def move_management(store: Store, appliances: Sequence[str], into: str) -> None:
    """Move the appliances' management links (and their tester-side addresses) into namespace `into`.

    `into` must be one of this lab directory's enclaves or another appliance's namespace."""
    with store.lock():
        places = _places(store)
        if into not in places:
            raise LabError(f"{into!r} is not an enclave or an appliance namespace of this lab directory")
        for name in appliances:
            index, own = _appliance(store, name)
            if into == own:
                raise LabError(f"appliance {name!r}'s management link cannot move into its own namespace")
            _move(index, _find(index, name, places), into)


def restore_management(store: Store, appliances: Sequence[str]) -> None:
    """Put the appliances' management links back into the root namespace (a no-op where they are)."""
    with store.lock():
        places = _places(store)
        for name in appliances:
            index, _ = _appliance(store, name)
            _move(index, _find(index, name, places), ROOT)


def remove_enclave(store: Store, name: str) -> None:
    """Take an enclave down. Management links inside go home first: deleting a namespace deletes its
    veth ends, and with them the appliance's own eth0."""
    namespace = enclave_namespace(store, name)
    with store.lock():
        _empty(store, namespace)


def remove_all(store: Store) -> None:
    """Every enclave of this lab directory (portspec lab down --all). The caller holds the store lock."""
    for namespace in enclaves(store):
        _empty(store, namespace)


def _empty(store: Store, namespace: str) -> None:
    if not netns_exists(namespace):
        return
    for state in store.states():
        index = state.get("index")
        if isinstance(index, int) and _link_in(namespace, management_link(Addresses(index))):
            _move(index, namespace, ROOT)
    kill(netns_pids(namespace))  # whatever ran as the enclave's tester
    run(["ip", "netns", "del", namespace])


def _places(store: Store) -> list[str]:
    """Namespaces this lab directory may hold management links in."""
    own = [str(s["netns"]) for s in store.states() if s.get("netns") and netns_exists(str(s["netns"]))]
    return [*enclaves(store), *own]


def _appliance(store: Store, name: str) -> tuple[int, str]:
    state = store.state(name)
    if state is None or not isinstance(state.get("index"), int):
        up = ", ".join(s["name"] for s in store.states()) or "none"
        raise LabError(f"no appliance named {name!r} is up; up: {up}")
    return int(state["index"]), str(state.get("netns") or store.namespace(name))


def _find(index: int, name: str, places: Sequence[str]) -> str | None:
    """The namespace the appliance's management link is in (None: the root namespace)."""
    link = management_link(Addresses(index))
    if _link_in(ROOT, link):
        return ROOT
    for namespace in places:
        if _link_in(namespace, link):
            return namespace
    raise LabError(f"appliance {name!r}'s management link {link} is gone (was its jump host taken down?)")


def _link_in(namespace: str | None, link: str) -> bool:
    where = ["-n", namespace] if namespace else []
    return bool(run(["ip", *where, "-o", "link", "show", "dev", link], check=False).strip())


def _move(index: int, source: str | None, target: str | None) -> None:
    """Move the link (a namespace change drops its addresses and takes it down) and set it up again."""
    addresses = Addresses(index)
    link = management_link(addresses)
    if target is ROOT:
        unblock(addresses)  # before the addresses' own routes come back
    else:
        _block(addresses)  # before the link leaves: not one packet may take the default route meanwhile
    if source != target:
        # our own pid names the root namespace: `ip -n` changes the network namespace, not the pid one
        destination = target or str(os.getpid())
        where = ["-n", source] if source else []
        run(["ip", *where, "link", "set", "dev", link, "netns", destination])
    batch = [
        f"addr replace {addresses.host}/24 dev {link}",
        f"addr replace {addresses.host6}/64 dev {link} nodad",
        f"link set {link} up",
    ]
    if target:
        ip_batch(target, batch)
    else:
        run(["ip", "-batch", "-"], input="\n".join(batch) + "\n")


def _networks(addresses: Addresses) -> list[str]:
    """The management networks (198.18.N.0/24, 2001:2:0:N::/64)."""
    return [
        str(IPNetwork(f"{in_lab(addresses.host)}/24").cidr),
        str(IPNetwork(f"{in_lab(addresses.host6)}/64").cidr),
    ]


def _block(addresses: Addresses) -> None:
    """With its link gone, the root namespace would send the appliance's packets to its default
    route, out of the lab: an unreachable route keeps them in (and fails a connect at once)."""
    for network in _networks(addresses):
        run(["ip", "route", "replace", "unreachable", network])


def unblock(addresses: Addresses) -> None:
    """Remove the root namespace's unreachable routes of appliance N (its link is home, or gone)."""
    for network in _networks(addresses):
        run(["ip", "route", "del", "unreachable", network], check=False)  # absent: nothing to undo
