"""A site's shared lab segment: the cluster network its emulated appliances talk to each other on.

One namespace per site holds a Linux bridge; every appliance of the site has a third link,
eth2, on it with address 198.18.(251+K).N/24 (K the segment number, N the appliance number).
The bridge switches frames between the appliances only: the namespace has no address, no
route and no forwarding, and no link to the host or the lab internet. The site's firewall
between the nodes (the `path-block` drift) is an ebtables rule on the bridge, outside every
appliance, where no snapshot of a node can see it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pytest_portspec.errors import LabError
from pytest_portspec.lab.plan import in_lab
from pytest_portspec.lab.processes import add_veth, ip_batch, kill, netns_exists, netns_pids, no_forwarding
from pytest_portspec.lab.system import run

MAX_SEGMENTS = 4  # 198.18.251.0/24 to 198.18.254.0/24: above every appliance's management network
BRIDGE = "br0"


def segment_address(number: int, index: int) -> str:
    return in_lab(f"198.18.{251 + number}.{index}")


def port_link(index: int) -> str:
    """The bridge port of appliance N, in the segment's namespace."""
    return f"psl{index}s"


@dataclass(frozen=True)
class Segment:
    site: str
    number: int
    namespace: str

    def ensure(self) -> None:
        if netns_exists(self.namespace):
            return
        run(["ip", "netns", "add", self.namespace])
        batch = ["link set lo up", f"link add {BRIDGE} type bridge", f"link set {BRIDGE} up"]
        ip_batch(self.namespace, batch)
        no_forwarding(self.namespace)

    def attach(self, appliance_ns: str, index: int) -> str:
        """Give appliance N its eth2 on the segment; returns its address there."""
        address = segment_address(self.number, index)
        inner = f"psl{index}c"
        add_veth(port_link(index), self.namespace, inner, appliance_ns)
        run(["ip", "-n", self.namespace, "link", "set", port_link(index), "master", BRIDGE, "up"])
        batch = [f"link set {inner} name eth2", f"addr add {address}/24 dev eth2", "link set eth2 up"]
        ip_batch(appliance_ns, batch)
        return address

    def block(self, source_index: int, peer_address: str, proto: str, port: int) -> None:
        """The site drops the source node's traffic to the peer's port (outside both nodes)."""
        run(
            [
                "ip",
                "netns",
                "exec",
                self.namespace,
                "ebtables",
                "-A",
                "FORWARD",
                "-i",
                port_link(source_index),
                "-p",
                "IPv4",
                "--ip-dst",
                in_lab(peer_address),
                "--ip-proto",
                proto,
                "--ip-dport",
                str(port),
                "-j",
                "DROP",
            ]
        )

    def unblock(self, index: int, address: str | None) -> None:
        """Remove the site's blocks from and to appliance N (a later appliance N must not inherit them)."""
        if not netns_exists(self.namespace):
            return
        ebtables = ["ip", "netns", "exec", self.namespace, "ebtables"]
        listed = run([*ebtables, "-L", "FORWARD", "--Ln"], check=False).splitlines()
        numbered = [line.split(".", 1) for line in listed if line.split(".", 1)[0].strip().isdigit()]
        mine = [
            int(number)
            for number, rule in numbered
            if f"-i {port_link(index)} " in f"{rule} " or (address and f"--ip-dst {address} " in f"{rule} ")
        ]
        for number in sorted(mine, reverse=True):
            run([*ebtables, "-D", "FORWARD", str(number)], check=False)

    def remove(self) -> None:
        kill(netns_pids(self.namespace))
        if netns_exists(self.namespace):
            run(["ip", "netns", "del", self.namespace])


@dataclass(frozen=True)
class Segments:
    """Which segment number each site of a lab directory uses (segments.json).

    Another lab directory's segments are other namespaces and bridges: the same numbers there
    are separate networks."""

    path: Path
    prefix: str  # the lab directory's namespace prefix, e.g. "pslab-3f2a1c-"

    def _load(self) -> dict[str, int]:
        if not self.path.exists():
            return {}
        data: dict[str, int] = json.loads(self.path.read_text(encoding="utf-8"))
        return data

    def get(self, site: str) -> Segment:
        known = self._load()
        if site not in known:
            free = [n for n in range(MAX_SEGMENTS) if n not in known.values()]
            if not free:
                raise LabError(f"the lab has room for {MAX_SEGMENTS} sites' segments: take a site down first")
            known[site] = free[0]
            self.path.write_text(json.dumps(known, indent=2), encoding="utf-8")
        return Segment(site, known[site], f"{self.prefix}seg{known[site]}")

    def release(self, site: str) -> None:
        """Forget the site's segment, and the lab's inventory of it (nothing of it is up any more)."""
        known = self._load()
        known.pop(site, None)
        if known:
            self.path.write_text(json.dumps(known, indent=2), encoding="utf-8")
        else:
            self.path.unlink(missing_ok=True)
        sites = self.path.parent / "sites"
        (sites / f"{site}.yaml").unlink(missing_ok=True)
        if sites.is_dir() and not any(sites.iterdir()):
            sites.rmdir()

    def all(self) -> list[Segment]:
        return [Segment(site, n, f"{self.prefix}seg{n}") for site, n in self._load().items()]
