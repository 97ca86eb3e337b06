"""The hidden-listener drift: a port served from a network namespace of its own, which nothing the
appliance reports about itself shows (no socket, no firewall or nat rule), so only a scan from
outside can find it.

    host pslNm ──veth── eth0 ─ tc ingress: PORT ─ mirred redirect ─► hid0 ══veth══ hid1 + listener
    (198.18.N.1)        (appliance, 198.18.N.2)                     (no address)   (pslab[-TAG]-hidden.NAME)
                        eth0 egress ◄─ mirred redirect ─ tc ingress on hid0: every IPv4 packet

hid1 carries eth0's MAC and management address, so the redirected frames are its own, and a
permanent neighbour entry for the host (the MAC of its pslNm link): it never sends ARP, whose
answer would come from the appliance. The redirect happens at tc ingress, before netfilter and
the socket lookup, so the appliance's ss, iptables, nft, ufw and conntrack never see a packet.
Only the appliance's namespace and the hidden one change: nothing is added in the root namespace.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytest_portspec.errors import LabError
from pytest_portspec.lab.appliance import management_link
from pytest_portspec.lab.plan import Addresses
from pytest_portspec.lab.processes import (
    ip_batch,
    kill,
    netns_exists,
    netns_pids,
    no_forwarding,
    run_services,
)
from pytest_portspec.lab.store import Store
from pytest_portspec.lab.system import run
from pytest_portspec.spec.model import Proto

HIDDEN = "hidden."  # appliance names have no '.', and enclaves are "enclave.NAME": no clash
APPLIANCE_END = "hid0"
HIDDEN_END = "hid1"
PROCESS = "portspec-hidden"
PREF = 10
PROTOCOL_NUMBERS = {"tcp": 6, "udp": 17}
MAC = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}")
REDIRECT = "action mirred egress redirect dev"


def hidden_namespace(store: Store, name: str) -> str:
    return store.namespace(HIDDEN + name)


def appliance_tc(addresses: Addresses, ports: Sequence[tuple[Proto, int]]) -> list[str]:
    """`tc -batch` lines in the appliance's namespace: the hidden ports of the management address
    go to hid0, and whatever comes back on hid0 leaves by eth0 ("match u32 0 0" matches all)."""
    to = f"filter add dev eth0 ingress protocol ip pref {PREF} u32 match ip dst {addresses.management}/32"
    lines = ["qdisc add dev eth0 clsact"]
    lines += [
        f"{to} match ip protocol {PROTOCOL_NUMBERS[proto]} 0xff match ip dport {port} 0xffff "
        f"{REDIRECT} {APPLIANCE_END}"
        for proto, port in ports
    ]
    back = f"filter add dev {APPLIANCE_END} ingress protocol ip pref {PREF} u32 match u32 0 0 {REDIRECT} eth0"
    return [*lines, f"qdisc add dev {APPLIANCE_END} clsact", back]


def hidden_ip(addresses: Addresses, eth0_mac: str, host_mac: str) -> list[str]:
    """`ip -batch` lines in the hidden namespace: hid1 poses as eth0 towards the host."""
    for mac in (eth0_mac, host_mac):
        if not MAC.fullmatch(mac):
            raise LabError(f"expected a MAC address, found {mac!r}")
    return [
        "link set lo up",
        f"link set {HIDDEN_END} address {eth0_mac}",
        f"addr add {addresses.management}/24 dev {HIDDEN_END}",  # and with it the route to 198.18.N.0/24
        f"link set {HIDDEN_END} up",
        f"neigh replace {addresses.host} lladdr {host_mac} dev {HIDDEN_END} nud permanent",
    ]


def services_config(ports: Sequence[tuple[Proto, int]]) -> dict[str, Any]:
    """One process (lab/services.py) holding every hidden port on all addresses."""
    sockets = [{"proto": proto, "address": "0.0.0.0", "port": port} for proto, port in ports]
    return {"reuseport": False, "groups": [{"name": PROCESS, "sockets": sockets}]}


def bring_up(
    appliance_ns: str,
    hidden_ns: str,
    addresses: Addresses,
    ports: Sequence[tuple[Proto, int]],
    groups: Sequence[dict[str, Any]],
) -> int:
    """Build the hidden path after the appliance's listeners (`groups`) run; returns the listener's pid."""
    held = {(str(s["proto"]), int(s["port"])) for g in groups for s in g["sockets"]}
    clash = sorted(set(ports) & held)  # an ephemeral port the appliance happened to get
    if clash:
        raise LabError(f"{clash[0][1]}/{clash[0][0]} is held by a service of this appliance: not hidden")
    _cable(appliance_ns, hidden_ns, addresses)
    run(["tc", "-n", appliance_ns, "-batch", "-"], input="\n".join(appliance_tc(addresses, ports)) + "\n")
    started = run_services(["ip", "netns", "exec", hidden_ns], services_config(ports))
    return int(started[0]["pid"])


def _cable(appliance_ns: str, hidden_ns: str, addresses: Addresses) -> None:
    """The hidden namespace (no forwarding, IPv4 only) and its veth to the appliance, hid1 posing as eth0."""
    remove(hidden_ns)  # an interrupted earlier up's: the name is this lab directory's and this appliance's
    run(["ip", "netns", "add", hidden_ns])
    no_forwarding(hidden_ns)
    _no_ipv6(hidden_ns, "all", "default")  # the path is IPv4 only: hid1 stays quiet otherwise
    veth = ["link", "add", APPLIANCE_END, "type", "veth", "peer", "name", HIDDEN_END, "netns", hidden_ns]
    run(["ip", "-n", appliance_ns, *veth])  # made in the appliance's namespace: no name in the root one
    _no_ipv6(appliance_ns, APPLIANCE_END)
    ip_batch(appliance_ns, [f"link set {APPLIANCE_END} up"])
    host_mac = _mac(None, management_link(addresses))  # read only: the root namespace gets nothing
    ip_batch(hidden_ns, hidden_ip(addresses, _mac(appliance_ns, "eth0"), host_mac))


def _no_ipv6(namespace: str, *devices: str) -> None:
    settings = [f"net.ipv6.conf.{device}.disable_ipv6=1" for device in devices]
    run(["ip", "netns", "exec", namespace, "sysctl", "-qw", *settings])


def _mac(namespace: str | None, link: str) -> str:
    where = ["-n", namespace] if namespace else []
    found = json.loads(run(["ip", *where, "-j", "link", "show", "dev", link]))
    return str(found[0]["address"]) if found else ""


def remove(hidden_ns: str) -> None:
    """End the hidden listener and delete its namespace (safe to repeat; its veth goes with it)."""
    if not netns_exists(hidden_ns):
        return
    kill(netns_pids(hidden_ns))
    run(["ip", "netns", "del", hidden_ns])


def remove_all(store: Store) -> None:
    """Every hidden namespace of this lab directory, an interrupted `up`'s too (lab down --all)."""
    prefix = store.namespace(HIDDEN)
    for path in sorted(Path("/run/netns").glob(f"{prefix}*")):
        if path.name.startswith(prefix):
            remove(path.name)
