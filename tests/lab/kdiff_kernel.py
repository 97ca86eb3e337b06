"""What the kernel does with a rule set of the kernel differential, on a bench (kdiff_bench).

The rule set applied through ufw's own frontend, iptables and nft inside the appliance's
namespaces; the kernel's state captured with the plugin's own snapshot commands
(`pytest_portspec.device.state_command`); the packets sent and their fate read.
"""

from __future__ import annotations

import ipaddress
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kdiff_bench import Bench, run
from kdiff_rules import Probe, RuleSet

from pytest_portspec.device.privilege import remote
from pytest_portspec.device.state_command import (
    KERNEL_SECTIONS,
    NOT_LOADED,
    SECTIONS,
    _script,
    kernel_texts,
    parse_sections,
)
from pytest_portspec.lab.appliance import UFW_DRIVER


@dataclass
class Observation:
    probe: Probe
    sport: int
    kernel: str  # accept, drop, reject; for outbound probes: accept or blocked
    detail: str


def apply_rules(bench: Bench, rules: RuleSet) -> None:
    lines = _setup_script(bench, rules)
    if rules.ufw_enabled:
        lines.append("ufw --force enable >/dev/null")
    lines += rules.shell
    if rules.nft:
        lines += ["nft -f - <<'KDIFF_END'", *rules.nft, "KDIFF_END"]
    done = run(
        ["nsenter", "-t", str(bench.pid), "-m", "-n", "sh", "-s"],
        input="\n".join(lines) + "\n",
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"{rules.listing()}\ncould not be applied ({done.returncode}): {done.stderr[-3000:]}"
        )


def _setup_script(bench: Bench, rules: RuleSet) -> list[str]:
    """A clean slate: no nftables rules, ufw's rules reset and its defaults rewritten, then the rule
    set's ufw commands run through ufw's own frontend (the lab's driver)."""
    default = re.sub(r"(?m)^IPV6=.*$", f"IPV6={'yes' if rules.ipv6 else 'no'}", bench.default_ufw)
    default = re.sub(r"(?m)^DEFAULT_INPUT_POLICY=.*$", 'DEFAULT_INPUT_POLICY="DROP"', default)
    default = re.sub(r"(?m)^DEFAULT_OUTPUT_POLICY=.*$", 'DEFAULT_OUTPUT_POLICY="ACCEPT"', default)
    driver = bench.workdir / "ufw-driver.py"
    if not driver.exists():
        driver.write_text(UFW_DRIVER, encoding="utf-8")
    interpreter = Path("/usr/sbin/ufw").read_text(encoding="utf-8").splitlines()[0].removeprefix("#!").strip()
    return [
        "set -e",
        "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C",
        "nft flush ruleset",
        "cp /usr/share/ufw/user.rules /usr/share/ufw/user6.rules /etc/ufw/",
        "printf 'ENABLED=no\\nLOGLEVEL=low\\n' > /etc/ufw/ufw.conf",
        "cat > /etc/default/ufw <<'KDIFF_END'",  # a bind-mounted file: written in place
        default.rstrip("\n"),
        "KDIFF_END",
        f"{interpreter} {driver} >/dev/null <<'KDIFF_END'",
        json.dumps(rules.ufw),
        "KDIFF_END",
    ]


def capture(bench: Bench) -> tuple[dict[str, str | None], str, str | None]:
    """The plugin's kernel sections (its own commands) -> kernel_texts; also `nft -j list ruleset`
    read directly, and why the plugin's nft section is empty when nftables has tables."""
    sections = {name: SECTIONS[name] for name in KERNEL_SECTIONS}
    sections["nft-direct"] = "nft -j list ruleset"
    # as root already (no sudo): `remote` defines the portspec_root the commands call
    found = parse_sections(
        bench.inside(remote(_script(sections), sudo=False, mode="shell", password=False)).stdout
    )
    texts = kernel_texts({k: v for k, v in found.items() if k != "nft-direct"})
    direct = found["nft-direct"].text
    gap = None
    plugin_nft = found.get("nft")
    if plugin_nft is not None and plugin_nft.status == NOT_LOADED and '"table"' in direct:
        gap = (
            "the snapshot's nft section says nf_tables is not loaded (no /sys/module/nf_tables), "
            "yet it holds tables"
        )
    return texts, direct, gap


def send_probes(bench: Bench, rules: RuleSet, probes: list[Probe], timeout: float) -> list[Observation]:
    """Every packet sent at once (inbound from the probe namespace, outbound from the appliance) and
    what became of each."""
    reset = bench.appliance_agent.ask({"op": "reset"})
    if reset.get("problem"):
        raise RuntimeError(f"could not reset the appliance's connection state: {reset['problem']}")
    bench.probe_agent.ask({"op": "arrived"})  # forget what came before
    tag = f"{rules.index}-{time.monotonic_ns()}"
    inbound = [p for p in probes if p.direction == "in"]
    outbound = [p for p in probes if p.direction == "out"]
    asked_in = [
        [p.ident, p.proto, p.version, p.src, p.sport, p.dst, p.dport, f"{tag}-{p.ident}"] for p in inbound
    ]
    asked_out = [[p.ident, p.proto, p.version, p.src, p.dst, p.dport, f"{tag}-{p.ident}"] for p in outbound]
    bench.probe_agent.send({"op": "in", "timeout": timeout, "probes": asked_in})
    bench.appliance_agent.send({"op": "out", "timeout": timeout, "probes": asked_out})
    answers_in = {r[0]: r for r in bench.probe_agent.receive()["results"]}
    answers_out = {r[0]: r for r in bench.appliance_agent.receive()["results"]}
    time.sleep(0.05)
    tokens = set(bench.appliance_agent.ask({"op": "arrived"})["arrived"])
    sniffed = {
        (a[0], ipaddress.ip_address(a[1]), a[2], ipaddress.ip_address(a[3]), a[4])
        for a in bench.probe_agent.ask({"op": "arrived"})["arrived"]
    }
    return [
        *(_inbound_fate(p, answers_in[p.ident], f"{tag}-{p.ident}" in tokens) for p in inbound),
        *(_outbound_fate(p, answers_out[p.ident], sniffed) for p in outbound),
    ]


def _inbound_fate(p: Probe, answer: list[Any], arrived: bool) -> Observation:
    """The sender's view (connected, refused, ICMP error, silence); for UDP, with whether the
    appliance's listener got the datagram (`arrived`)."""
    _, sport, outcome, detail = answer
    if p.proto == "udp":
        if arrived and outcome == "silent":
            outcome, detail = "accept", "the listener got it"
        elif outcome == "silent":
            outcome, detail = "drop", "not received, no ICMP error"
        elif arrived:
            outcome, detail = "error", f"received, and also {outcome} ({detail})"
    return Observation(p, sport, outcome, detail)


def _outbound_fate(p: Probe, answer: list[Any], sniffed: set[Any]) -> Observation:
    """Whether the probe namespace saw the packet arrive."""
    _, sport, sent, detail = answer
    key = (p.proto, ipaddress.ip_address(p.src), sport, ipaddress.ip_address(p.dst), p.dport)
    if sent == "error":
        return Observation(p, sport, "error", detail)
    if key in sniffed:
        return Observation(p, sport, "accept", "reached the probe namespace")
    return Observation(p, sport, "blocked", f"never reached the probe namespace ({sent} {detail})".strip())
