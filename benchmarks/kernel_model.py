"""Time and memory of the kernel firewall model, against a naive per-port baseline, in one run.

    python benchmarks/kernel_model.py [--rules 1000,5000] [--repeat 3] [--sample 300] [--seed 7]

For a real device ruleset (the emulated SmartServer's iptables-save and ip6tables-save, as the
snapshot captures them) and for generated ufw rulesets of N user rules (single ports, ranges,
source networks, partial denies, source ports, interfaces: the rules a big site accumulates), it
measures building the model and deciding the whole space of new flows: both families, both
directions, TCP and UDP, all 65,536 ports, every remote address.

The naive baseline answers the same question the way a per-packet tool must: a first-match
interpreter run on one packet per port (one remote address and source port only, so it is also
far less exact than the model, which covers every one of them). It is
timed on --sample random ports of each family/direction/protocol and extrapolated to all 65,536;
the ratio is printed. Peak memory is traced in a separate run (tracemalloc slows Python down).
No assertion: the figures are for docs/performance.md. Prints a JSON line last.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
import tracemalloc
from pathlib import Path

from pytest_portspec.firewall.compile import compile_rule
from pytest_portspec.firewall.evaluate import HOOKS
from pytest_portspec.firewall.intervals import Intervals
from pytest_portspec.firewall.model import KernelModel, KernelSources
from pytest_portspec.firewall.ruleset import Chain, Rule
from pytest_portspec.firewall.space import DPORT, Box, intersect

LAB = Path(__file__).resolve().parents[1] / "tests" / "data" / "kernel" / "lab"
ADDRESSES = ("127.0.0.1", "198.18.1.2", "198.19.1.2", "::1", "fe80::2")
INTERFACES = ("lo", "eth0", "eth1")
SPACES = [(f, d, p) for f in (4, 6) for d in ("in", "out") for p in ("tcp", "udp")]


def device_ruleset() -> tuple[str, str]:
    return (LAB / "smartserver.iptables-save").read_text(), (LAB / "smartserver.ip6tables-save").read_text()


def generated(count: int, seed: int) -> tuple[str, str]:
    """The device's stock ufw chains with `count` user rules in ufw-user-input."""
    rng = random.Random(seed)
    lines = []
    for _ in range(count):
        port, kind = rng.randint(1, 65000), rng.random()
        if kind < 0.5:
            lines.append(f"-A ufw-user-input -p tcp -m tcp --dport {port} -j ACCEPT")
        elif kind < 0.7:
            net = f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.0.0/16"
            lines.append(f"-A ufw-user-input -s {net} -p udp -m udp --dport {port}:{port + 50} -j ACCEPT")
        elif kind < 0.85:
            net = f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.0/24"
            lines.append(f"-A ufw-user-input -s {net} -p tcp -m tcp --dport {port} -j DROP")
        else:
            dport = rng.randint(1, 65535)
            lines.append(f"-A ufw-user-input -i eth0 -p tcp -m tcp --sport {port} --dport {dport} -j ACCEPT")
    ipv4, ipv6 = device_ruleset()
    stock = [ln for ln in ipv4.splitlines() if not ln.startswith("-A ufw-user-input ")]
    at = stock.index("COMMIT")
    return "\n".join(stock[:at] + lines + stock[at:]) + "\n", ipv6


def model_of(texts: tuple[str, str]) -> KernelModel:
    return KernelModel.build(
        KernelSources(iptables=texts[0], ip6tables=texts[1], addresses=ADDRESSES, interfaces=INTERFACES)
    )


def full_model(texts: tuple[str, str]) -> int:
    """Build and decide every space; the number of decided parts."""
    model = model_of(texts)
    parts = 0
    for family, direction, proto in SPACES:
        decided = model.decided(family, direction, proto)  # type: ignore[arg-type]
        if isinstance(decided, str):
            raise SystemExit(f"the model gave up: {decided}")
        parts += len(decided)
    return parts


class Naive:
    """A per-packet first-match interpreter: each rule's match tested against one concrete packet,
    jumps and RETURN followed, base chains in priority order (what a simple tool would write)."""

    def __init__(self, model: KernelModel, family: int, direction: str, proto: str) -> None:
        self.ruleset = model.rulesets[family]  # type: ignore[index]
        self.space = model.space(family, direction, proto)  # type: ignore[arg-type]
        self.compiled: dict[int, tuple[Box, ...]] = {}

    def matches(self, rule: Rule, point: Box) -> bool:
        if id(rule) not in self.compiled:
            self.compiled[id(rule)] = compile_rule(rule, self.space, self.ruleset).boxes
        return any(intersect(box, point) is not None for box in self.compiled[id(rule)])

    def verdict(self, point: Box) -> str:
        for hook in HOOKS[self.space.direction]:
            for chain in self.ruleset.base_chains(hook):
                found = self.walk(chain, point, 0) or (chain.policy or "accept")
                if found != "accept":
                    return found
        return "accept"

    def walk(self, chain: Chain, point: Box, depth: int) -> str | None:
        for rule in chain.rules:
            kind = rule.target.kind
            if kind == "continue" or not self.matches(rule, point):
                continue
            if kind == "return":
                return None
            if kind in ("jump", "goto"):
                found = self.walk(self.ruleset.chains[(rule.table, str(rule.target.chain))], point, depth + 1)
                if found is not None or kind == "goto":
                    return found
                continue
            return kind
        return None


def naive_per_port(texts: tuple[str, str], sample: int, seed: int) -> float:
    """Seconds one packet per port would take for all 65,536 ports of every space (one remote
    address and source port only: the model covers every one of them)."""
    model = model_of(texts)
    rng = random.Random(seed)
    total = 0.0
    for family, direction, proto in SPACES:
        naive = Naive(model, family, direction, proto)
        point = [Intervals.of((v.first(), v.first())) for v in naive.space.all()]
        started = time.perf_counter()
        for port in rng.sample(range(1, 65536), sample):
            point[DPORT] = Intervals.of((port, port))
            naive.verdict((point[0], point[1], point[2], point[3], point[4]))
        total += (time.perf_counter() - started) / sample * 65536
    return total


def timed(action: object, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()  # type: ignore[operator]
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def peak_mib(texts: tuple[str, str]) -> float:
    tracemalloc.start()
    full_model(texts)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def measure(name: str, texts: tuple[str, str], args: argparse.Namespace) -> dict[str, object]:
    rules = sum(1 for text in texts for ln in text.splitlines() if ln.startswith("-A "))
    seconds = timed(lambda: full_model(texts), args.repeat)
    naive = naive_per_port(texts, args.sample, args.seed)
    figures = {
        "rules": rules,
        "parts": full_model(texts),
        "model_s": round(seconds, 3),
        "peak_mib": round(peak_mib(texts), 1),
        "naive_per_port_s": round(naive, 1),
        "ratio": round(naive / seconds, 1),
    }
    print(
        f"{name}: {rules} rules, whole space decided in {seconds:.2f} s ({figures['parts']} parts, "
        f"peak {figures['peak_mib']} MiB); naive per-port queries would take {naive:.0f} s: "
        f"model is {figures['ratio']}x faster"
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", default="1000,5000", help="sizes of the generated rulesets")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sample", type=int, default=300, help="ports the naive baseline times per space")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    results = {"device": measure("device (emulated SmartServer)", device_ruleset(), args)}
    for count in (int(n) for n in args.rules.split(",") if n):
        results[f"generated-{count}"] = measure(f"generated {count}", generated(count, args.seed), args)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
