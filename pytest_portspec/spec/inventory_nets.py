"""The networks an inventory names: its clusters' (`clusters: - {name, devices, networks: [CIDR]}`)
and the site's management networks (`management: [CIDR]`) (pure).

A cluster's networks are the only sources its nodes' cluster-only ports may let in, as
`--cluster-net` says for a run (checks/cluster_rows.py): a device's are the run's and those of
every cluster it belongs to. The management networks may let themselves in too, as
`--management-net` says: the run's and the inventory's.
"""

from __future__ import annotations

import yaml

from pytest_portspec.addresses import check_cidr
from pytest_portspec.spec import yamlsrc as y


def cluster_networks(src: y.Source, node: yaml.Node | None) -> dict[str, tuple[str, ...]]:
    """Cluster name -> its networks, canonical; a problem (file, line, path) for each bad one."""
    found: dict[str, tuple[str, ...]] = {}
    items = (y.sequence(src, node, "clusters") or []) if node is not None else []
    for i, item in enumerate(items):
        if not isinstance(item, yaml.MappingNode):
            continue  # inventory._clusters says what is wrong with it
        fields = {k.value: v for k, v in item.value if isinstance(k, yaml.ScalarNode)}
        if "networks" not in fields or not isinstance(fields.get("name"), yaml.ScalarNode):
            continue
        nets = y.one_or_many(src, fields["networks"], f"clusters[{i}].networks", _network)
        found[str(fields["name"].value)] = tuple(nets)
    return found


def management_networks(src: y.Source, node: yaml.Node | None) -> tuple[str, ...]:
    """The site's management networks, canonical; a problem (file, line, path) for each bad one."""
    if node is None:
        return ()
    return tuple(dict.fromkeys(y.one_or_many(src, node, "management", _network)))


def _network(src: y.Source, node: yaml.Node, path: str) -> str | None:
    text = y.text(src, node, path)
    if text is None:
        return None
    try:
        return check_cidr(text)
    except ValueError as exc:
        src.problem(node, path, str(exc))
        return None


def networks_of(
    clusters: dict[str, tuple[str, ...]], nets: dict[str, tuple[str, ...]], name: str
) -> tuple[str, ...]:
    """The networks of every cluster device `name` belongs to."""
    return tuple(n for cluster, members in clusters.items() if name in members for n in nets.get(cluster, ()))
