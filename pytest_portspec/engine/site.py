"""An inventory's site: its nodes, their node-to-node pairs, and the probes each source runs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pytest_portspec.checks.flow_plan import Node, Pair, plan_pairs
from pytest_portspec.device.schemes import is_lab_host
from pytest_portspec.engine.device_run import DeviceRun
from pytest_portspec.lab.resolve import resolve
from pytest_portspec.probe.outbound import OutboundProbe
from pytest_portspec.spec.inventory import InventoryDevice


@dataclass
class Site:
    name: str
    pairs: list[Pair] = field(default_factory=list)
    runs: dict[str, DeviceRun] = field(default_factory=dict)  # node name -> its device run

    def groups(self) -> dict[str, list[Pair]]:
        """Pairs by collector (spec@site)."""
        found: dict[str, list[Pair]] = {}
        for pair in self.pairs:
            found.setdefault(pair.group, []).append(pair)
        return found

    def run_of(self, node: Node) -> DeviceRun:
        return self.runs[node.name]


def node_address(device: InventoryDevice, run: DeviceRun) -> str:
    """Where the node's peers reach it: the inventory's address, the emulated site's, else its host."""
    if device.address:
        return device.address
    if is_lab_host(device.host):  # an inventory's `lab` (an inventory host is never `lab:NAME`)
        return str(resolve(device.spec, f"lab:{device.name}").state.get("segment_address") or run.host)
    return device.host


def plan_site(
    name: str,
    devices: list[tuple[InventoryDevice, DeviceRun]],
    clusters: Mapping[str, tuple[str, ...]] | None = None,
    sites: Mapping[str, str] | None = None,
) -> Site:
    """Pairs between the inventory's devices with roles; each source probes its peers itself.
    `sites` (device -> site, an inventory of several sites): pairs never cross sites, and each
    flow is named after its own site."""
    by_site: dict[str, list[Node]] = {}
    for device, run in devices:
        if run.policy.role:
            node = Node(device.name, run.label, node_address(device, run), run.policy)
            by_site.setdefault((sites or {}).get(device.name, name), []).append(node)
    pairs = [pair for site_name, nodes in by_site.items() for pair in plan_pairs(site_name, nodes, clusters)]
    site = Site(name, pairs, {device.name: run for device, run in devices})
    groups = _flow_groups(site.pairs)
    for pair in site.pairs:  # a flow needs both snapshots: under xdist, one worker takes a site's
        site.run_of(pair.source).group = site.run_of(pair.peer).group = groups[pair.source.name]
        if pair.applies:
            probe = OutboundProbe(pair.probe_id, pair.peer.address, pair.proto, pair.port)
            site.run_of(pair.source).peer_probes.append(probe)
    return site


def _flow_groups(pairs: list[Pair]) -> dict[str, str]:
    """Node name -> its group: the nodes joined by flows (a cluster). A site with one group has
    `site-SITE`; a site with several (clusters, each maybe with its tester) `site-SITE-NODE`,
    after the first node of each in the inventory's order."""
    joined: dict[str, str] = {}
    site_of: dict[str, str] = {}

    def root(node: str) -> str:
        while joined.setdefault(node, node) != node:
            node = joined[node]
        return node

    for pair in pairs:
        site_of[pair.source.name] = site_of[pair.peer.name] = pair.site
        source = root(pair.source.name)  # first: the inventory's order names the groups
        joined[source] = root(pair.peer.name)
    first: dict[str, str] = {}
    for node in joined:
        first.setdefault(root(node), node)
    per_site = {site: sum(1 for r in first if site_of[r] == site) for site in set(site_of.values())}
    return {
        node: f"site-{site_of[node]}"
        if per_site[site_of[node]] == 1
        else f"site-{site_of[node]}-{first[root(node)]}"
        for node in joined
    }
