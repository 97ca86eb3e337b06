"""The kernel differential's address plan: the two links, the sources behind them, the probed ports.

Network safety: every address below is in 198.18.0.0/15 or 2001:2::/48 (checked on import and
for every packet), on links the bench creates between namespaces it creates (the probe
namespace) or the lab creates (the appliance); neither forwards and nothing routes to the host.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

SAFE = (ipaddress.ip_network("198.18.0.0/15"), ipaddress.ip_network("2001:2::/48"))


def safe(address: str) -> str:
    """Every address a packet of this test carries is one of the lab's benchmarking addresses."""
    ip = ipaddress.ip_address(address)
    if not any(ip in net for net in SAFE):
        raise ValueError(f"{address} is outside 198.18.0.0/15 and 2001:2::/48")
    return address


@dataclass(frozen=True)
class Link:
    probe_end: str  # the link's end in the probe namespace
    iface: str  # its end in the appliance
    own4: str
    own6: str
    sources4: tuple[str, ...]  # remote addresses in the probe namespace; the first ones on the link's prefix
    sources6: tuple[str, ...]
    routed: tuple[str, ...]  # networks of the off-link sources, routed over this link by the appliance

    def own(self, version: int) -> str:
        return self.own6 if version == 6 else self.own4

    def sources(self, version: int) -> tuple[str, ...]:
        return self.sources6 if version == 6 else self.sources4


LINKS = (
    Link(
        "kdpa",
        "eth7",
        "198.18.240.1",
        "2001:2:0:f0::1",
        ("198.18.240.2", "198.18.240.66", "198.18.240.130", "198.18.240.200", "198.18.244.9", "198.19.125.9"),
        ("2001:2:0:f0::2", "2001:2:0:f0:8000::66", "2001:2:0:f4::9"),
        ("198.18.244.0/24", "198.19.125.0/24", "2001:2:0:f4::/64"),
    ),
    Link(
        "kdpb",
        "ens8",
        "198.18.241.1",
        "2001:2:0:f1::1",
        ("198.18.241.2", "198.18.241.77", "198.18.241.190", "198.18.245.9", "198.19.126.9"),
        ("2001:2:0:f1::2", "2001:2:0:f1:8000::77", "2001:2:0:f5::9"),
        ("198.18.245.0/24", "198.19.126.0/24", "2001:2:0:f5::/64"),
    ),
)
ON_LINK = {"198.18.240": "/24", "198.18.241": "/24", "2001:2:0:f0:": "/64", "2001:2:0:f1:": "/64"}
for _link in LINKS:
    for _address in (_link.own4, _link.own6, *_link.sources4, *_link.sources6):
        safe(_address)
    for _net in _link.routed:
        assert any(
            ipaddress.ip_network(_net).subnet_of(n)  # type: ignore[arg-type]
            for n in SAFE
            if n.version == (6 if ":" in _net else 4)
        )

# every probed port has a listener in the appliance (TCP, UDP over IPv4 and IPv6)
POOL = (53, 67, 68, 80, 123, 137, 443, 445, 1000, 5353, 5999, 6000, 6001, 6050, 6099, 6100, 6101,
        7000, 7001, 7002, 7003, 7004, 7005, 7006, 7007, 7008, 8080, 9000)  # fmt: skip
RANGES = ("6000:6100", "7000:7004", "7003:7008", "1000:6000", "53:123", "5999:6001", "7000:9000", "6050:7002")
FIXED_SPORTS = (53, 67, 123, 1000, 40000)
V4_NETS = (
    "198.18.240.0/24", "198.18.240.0/25", "198.18.240.128/25", "198.18.240.64/26", "198.18.240.192/26",
    "198.18.241.0/24", "198.18.241.0/25", "198.18.241.128/25", "198.18.240.0/23", "198.18.244.0/22",
    "198.18.0.0/16", "198.19.0.0/16", "198.18.0.0/15", "198.19.125.9", "198.18.240.66", "198.18.241.77/32",
    "0.0.0.0/1", "128.0.0.0/1", "198.18.128.0/17", "198.19.126.0/24",
)  # fmt: skip
V6_NETS = (
    "2001:2:0:f0::/64", "2001:2:0:f0::/65", "2001:2:0:f0:8000::/65", "2001:2:0:f1::/64",
    "2001:2:0:f1:8000::/65", "2001:2:0:f4::/63", "2001:2::/48", "2001:2:0:f0::/60", "2001:2:0:f0::2",
    "::/1", "8000::/1", "2001:2:0:f5::9/128",
)  # fmt: skip
V4_RANGES = ("198.18.240.50-198.18.240.150", "198.18.240.0-198.18.241.100", "198.18.241.150-198.19.126.9",
             "198.18.244.9-198.19.125.9")  # fmt: skip
V6_RANGES = (
    "2001:2:0:f0::1-2001:2:0:f0::ffff",
    "2001:2:0:f0::-2001:2:0:f4::",
    "2001:2:0:f1:8000::-2001:2:0:f5::9",
)
HALVES = {4: ("0.0.0.0/1", "128.0.0.0/1"), 6: ("::/1", "8000::/1")}
PAIRS = {
    4: (HALVES[4], ("198.18.240.0/25", "198.18.240.128/25"), ("198.18.0.0/16", "198.19.0.0/16")),
    6: (HALVES[6], ("2001:2:0:f0::/65", "2001:2:0:f0:8000::/65")),
}
UFW_IFACES = ("eth7", "ens8", "eth+", "ens+", "eth0")
IPT_IFACES = ("eth7", "ens8", "eth+", "ens+")
