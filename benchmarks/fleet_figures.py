"""The figures of bench.py --fake-fleet (fake_fleet.py): per device, per item, and their growth."""

from __future__ import annotations

import itertools
from typing import Any

ITEMS_PER_DEVICE = 96  # a SmartServer (Enhanced security), default conditions: `pytest --co` counts them


def report(figures: dict[str, dict[int, Any]], sizes: list[int]) -> dict[str, Any]:
    print(
        f"{'mode':19} {'devices':>7} {'items':>7} {'wall s':>7} {'CPU s':>7} {'RSS MiB':>8}"
        f" | per device: {'ms':>6} {'CPU ms':>6} {'KiB':>6} | per item: {'ms':>6} {'CPU ms':>6} {'KiB':>5}"
    )
    out: dict[str, Any] = {}
    for mode, runs in figures.items():
        for n, r in runs.items():
            items = n * ITEMS_PER_DEVICE
            print(
                f"{mode:19} {n:7d} {items:7d} {r.seconds:7.2f} {r.cpu_s:7.2f} {r.rss_mib:8.1f}"
                f" | {'':12}{r.seconds / n * 1e3:6.1f} {r.cpu_s / n * 1e3:6.1f} {r.rss_mib * 1024 / n:6.0f}"
                f" | {'':10}{r.seconds / items * 1e3:6.3f} {r.cpu_s / items * 1e3:6.3f}"
                f" {r.rss_mib * 1024 / items:5.1f}"
            )
        out[mode] = {
            n: {"seconds": r.seconds, "cpu_s": r.cpu_s, "rss_mib": r.rss_mib} for n, r in runs.items()
        }
    print("marginal cost of one more item (start-up excluded; constant when growth is linear):")
    for mode, runs in figures.items():
        steps = []
        for a, b in itertools.pairwise(sizes):
            items = (b - a) * ITEMS_PER_DEVICE
            wall, cpu = (runs[b].seconds - runs[a].seconds) / items, (runs[b].cpu_s - runs[a].cpu_s) / items
            rss = (runs[b].rss_mib - runs[a].rss_mib) * 1024 / items
            steps.append((wall, cpu))
            print(
                f"  {mode:19} {a}->{b} devices: {wall * 1e3:6.3f} ms wall, {cpu * 1e3:6.3f} ms CPU,"
                f" {rss:5.1f} KiB"
            )
        big, small = max(sizes), min(sizes)
        linear = runs[small].cpu_s * big / small
        growth = f"{steps[-1][1] / steps[0][1]:.2f}" if len(steps) > 1 and steps[0][1] > 0 else "n/a"
        print(
            f"  {mode:19} CPU at {big} devices = {runs[big].cpu_s / linear:.2f} x linear growth from {small};"
            f" marginal CPU per item, last step / first step: {growth}"
        )
    _own_cost(figures, sizes)
    return out


def _own_cost(figures: dict[str, dict[int, Any]], sizes: list[int]) -> None:
    """The plugin's CPU per item beyond pytest's own (the same number of trivial items, same mode)."""
    for plugin, itself in (("plugin", "pytest itself"), ("plugin -n 2", "pytest itself -n 2")):
        if plugin in figures and itself in figures:
            own = {n: figures[plugin][n].cpu_s - figures[itself][n].cpu_s for n in sizes}
            costs = [f"{n}: {own[n] / (n * ITEMS_PER_DEVICE) * 1e3:.3f}" for n in sizes]
            print(f"  {plugin} CPU ms per item beyond pytest's own, by devices: {', '.join(costs)}")
