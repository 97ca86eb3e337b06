"""The kernel model (pytest_portspec.firewall) against the real kernel, packet by packet.

At least 200 random rule sets (seeded: PORTSPEC_KERNEL_DIFF_SEED repeats a run, PORTSPEC_KERNEL_DIFF_SETS
changes how many) are applied to emulated appliances of the lab through ufw's own frontend plus raw
iptables/ip6tables commands around ufw's chains (and native nftables tables once the nft reader
exists). For each, the kernel's state is captured with the plugin's own snapshot commands and
modelled (`KernelModel.build`), and real packets are sent: TCP connections and UDP datagrams from
several sources inside and outside the networks the rules name, fixed and ephemeral source ports,
IPv4 and IPv6, over two interfaces of the appliance, into listeners on every probed port (so a
refusal is the firewall's), and outbound from the appliance to the probe namespace (seen arriving
there). `explain()` of every packet, with its exact addresses, ports and interface, must be what the
kernel did (TCP: connected / refused or ICMP error / no answer; UDP: delivered / ICMP error /
nothing; outbound: got out or not), unless the model says it cannot decide. A packet that disagrees
is sent once more, slowly, before it counts. The counts are printed and written to
kernel-differential.json in the test's tmp dir, with each failing rule set's captured texts.

PORTSPEC_KERNEL_DIFF_ONLY=N,M runs only those rule sets of the seed; PORTSPEC_KERNEL_DIFF_NFT=0
leaves native nftables rules out. See kdiff_rules.py for how the helpers are cut (the rule set
generator, the bench, the kernel's side, the judging), kernel_agent.py for what runs inside the
namespaces.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import threading
import time
from pathlib import Path

import pytest
from kdiff_bench import Bench, chunks, run
from kdiff_generate import generate
from kdiff_judge import Tally, report, run_rule_set
from kdiff_rules import NFT_READER, RuleSet

from pytest_portspec.device.state_command import SECTIONS, kernel_texts, parse_sections, state_command
from pytest_portspec.lab.fixture import LabSession

SEED = os.environ.get("PORTSPEC_KERNEL_DIFF_SEED") or "portspec-kernel-1"
RULE_SETS = int(os.environ.get("PORTSPEC_KERNEL_DIFF_SETS") or 200)
# PORTSPEC_KERNEL_DIFF_ONLY=17,52: just those rule sets of the seed (to reproduce a failure)
ONLY = [int(n) for n in (os.environ.get("PORTSPEC_KERNEL_DIFF_ONLY") or "").split(",") if n.strip()]
BENCHES = 2  # appliances probed side by side: one applies its rules while the other waits for drops
DROP_TIMEOUT = 0.35  # seconds without an answer: the packet was dropped (answers take well under 10 ms)


def test_generator_is_reproducible_and_varied() -> None:
    first = [generate(SEED, i) for i in range(40)]
    again = [generate(SEED, i) for i in range(40)]
    assert [r.listing() for r in first] == [r.listing() for r in again]
    assert [r.probes for r in first] == [r.probes for r in again]
    text = "\n".join(r.listing() for r in first)
    for needle in (" allow ", " deny ", " reject ", " limit ", "/tcp", "/udp", ":", " on ", "from ", " out ",
                   "prepend", "2001:2:", "-I INPUT", "-A INPUT", "-j RETURN", "-g KD", "multiport",
                   "iprange", "! -s", "conntrack", "addrtype", "-P INPUT", "/1 ", "-t mangle", "-t raw",
                   "-I OUTPUT"):  # fmt: skip
        assert needle in text, f"no rule set of the first 40 has {needle!r}"


def _work(bench: Bench, rule_sets: list[RuleSet], stop: threading.Event, keep: Path) -> Tally:
    tally = Tally()
    for rules in rule_sets:
        if stop.is_set():
            break
        try:
            tally.merge(run_rule_set(bench, rules, DROP_TIMEOUT, keep))
        except BaseException:
            stop.set()
            raise
    return tally


def test_kernel_model_predicts_real_packets(
    lab: LabSession, tmp_path_factory: pytest.TempPathFactory
) -> None:
    started = time.monotonic()
    print(f"\nkernel differential: seed {SEED!r} (PORTSPEC_KERNEL_DIFF_SEED), {RULE_SETS} rule sets, "
          f"nft reader {'present' if NFT_READER else 'absent: no native nftables rules'}")  # fmt: skip
    rule_sets = [generate(SEED, i) for i in (ONLY or range(RULE_SETS))]
    workdir = tmp_path_factory.mktemp("kernel-diff")
    prefix = lab.lab.store.namespace("")
    benches = [Bench(lab, f"kdiff-{n}", f"{prefix}kdiff_{n}", workdir / f"bench-{n}") for n in range(BENCHES)]
    stop = threading.Event()
    total = Tally()
    try:
        for bench in benches:
            bench.start()
        with concurrent.futures.ThreadPoolExecutor(BENCHES) as pool:
            jobs = [
                pool.submit(_work, bench, part, stop, workdir)
                for bench, part in zip(benches, chunks(rule_sets, BENCHES), strict=True)
            ]
            for job in jobs:
                total.merge(job.result())
    finally:
        for bench in benches:
            bench.close()
    seconds = round(time.monotonic() - started, 1)
    counts = {
        "seed": SEED,
        "rule_sets": total.rule_sets,
        "packets": total.packets,
        "agreements": total.agreements,
        "undecided": total.undecided,
        "disagreements": len(total.disagreements),
        "rechecked": total.rechecked,  # disagreements of a first try, probed again slowly
        "resolved_by_recheck": total.resolved_by_recheck,
        "kernel_outcomes": dict(sorted(total.by_outcome.items())),
        "nft_reader": NFT_READER,
        # rule sets with native nftables tables that the plugin's snapshot left out (see the test below)
        "snapshot_missed_nft": len(total.capture_gaps),
        "seconds": seconds,
    }
    written = workdir / "kernel-differential.json"
    details = {
        "details": [f"{d.rules}\n{d.packet}" for d in total.disagreements],
        "snapshot_gaps": total.capture_gaps,
    }
    written.write_text(json.dumps({**counts, **details}, indent=2), encoding="utf-8")
    print(f"kernel differential: {json.dumps(counts)}")
    print(f"kernel differential: written to {written} (failing rule sets' captured texts beside it)")
    assert total.rule_sets == len(rule_sets)
    assert total.agreements + total.undecided + len(total.disagreements) == total.packets
    if total.disagreements:
        pytest.fail(
            f"{len(total.disagreements)} of {total.packets} packets met another fate than the model says "
            f"(seed {SEED!r}; all in {written}):\n\n{report(total.disagreements)}",
            pytrace=False,
        )


def test_snapshot_lists_native_nftables_tables(lab: LabSession) -> None:
    """The plugin's own snapshot (over SSH, with sudo, as the plugin runs it) must carry the native
    nftables tables the kernel holds: the model cannot judge rules it is never shown. (The
    differential test above reads `nft -j list ruleset` itself when the snapshot leaves it out.)"""
    appliance = lab.up("coppercube", name="kdiff-snap")
    try:
        enter = ["nsenter", "-t", str(appliance.state["pids"]["sshd"]), "-m", "-n"]
        run([*enter, "nft", "add", "table", "inet", "kdiffsnap"])
        status, out, err = appliance.run(state_command(sudo=True), timeout=60)
        assert status == 0, err
        sections = parse_sections(out)
        texts = kernel_texts(sections)
        nft = sections.get("nft")
        module = run([*enter, "sh", "-c", "ls -d /sys/module/nf_tables 2>&1"], check=False).stdout.strip()
        if "kdiffsnap" not in (texts.get("nft") or ""):
            pytest.fail(
                f"the snapshot's nft section (exit status {nft.status if nft else 'missing'}) does not list "
                f"the table inet kdiffsnap that `nft list ruleset` shows ({module}); its command: "
                f"{SECTIONS['nft']}",
                pytrace=False,
            )
    finally:
        lab.down(appliance)
