"""Destination-port classes: the ports on which exactly the same rules can match (pure).

A ruleset of a thousand `--dport N -j ACCEPT` rules would split one region into thousands of
boxes that every later rule then has to visit. Instead the evaluator runs once per class of
ports that the same port-specific rules cover entirely: within a class a rule matches all of
its ports or none, so it never splits the port dimension, and the rules that name other ports
are not visited at all. Rules that do not restrict the destination port apply to every class.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pytest_portspec.firewall.intervals import Intervals
from pytest_portspec.firewall.ruleset import Rule


@dataclass
class PortClass:
    ports: Intervals
    rules: set[int] = field(default_factory=set)  # id() of the port-specific rules that cover it


def port_classes(
    rules: Iterable[Rule], footprint: Callable[[Rule], Intervals], universe: Intervals
) -> tuple[list[PortClass], set[int]]:
    """(classes, id() of the rules that apply to every class). A rule that matches nothing in the
    space is in neither."""
    specific: list[tuple[int, Intervals]] = []
    everywhere: set[int] = set()
    for rule in rules:
        ports = footprint(rule)
        if not ports:
            continue
        if ports == universe:
            everywhere.add(id(rule))
        else:
            specific.append((id(rule), ports))
    edges = sorted(
        {lo for _, ports in specific for lo, _ in ports}
        | {hi + 1 for _, ports in specific for _, hi in ports}
        | {universe.first()}
    )
    last = universe.spans[-1][1]
    starts = [e for e in edges if e <= last]
    cells: list[set[int]] = [set() for _ in starts]
    for key, ports in specific:
        for lo, hi in ports:
            for index in range(bisect_left(starts, lo), bisect_left(starts, hi + 1)):
                cells[index].add(key)
    grouped: dict[frozenset[int], list[tuple[int, int]]] = {}
    for index, start in enumerate(starts):
        end = starts[index + 1] - 1 if index + 1 < len(starts) else last
        grouped.setdefault(frozenset(cells[index]), []).append((start, end))
    classes = [PortClass(Intervals.merged(spans) & universe, set(key)) for key, spans in grouped.items()]
    return [c for c in classes if c.ports], everywhere
