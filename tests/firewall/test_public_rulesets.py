"""The kernel model against rulesets other projects produced: Docker's bridge driver (iptables-save
goldens and `iptables -S` listings of moby's integration tests), InSpec's `iptables -S` fixtures,
ufw's stock rule files and the user rules of ufw's own functional tests, and a capture of the
project's emulated SmartServer. Sources: tests/data/kernel/public/*/SOURCE.md, tests/data/kernel/lab.

Every kept fixture is read; the verdicts are the ones each project documents for its rules.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from ufwstock import (
    LAB,
    PROJECT_UFW,
    PUBLIC,
    keep_tuples,
    stock,
    transcript,
    ufw_start,
    user_chains,
    user_rules,
)

from pytest_portspec.errors import RulesetError
from pytest_portspec.firewall.evaluate import Decided, PolicyStep, evaluate
from pytest_portspec.firewall.iptables import parse_save
from pytest_portspec.firewall.listing import parse_listing
from pytest_portspec.firewall.packet import PacketQuery, explain
from pytest_portspec.firewall.ruleset import Family, Rate, Rule, Ruleset
from pytest_portspec.firewall.space import DPORT, IFACE, make_space

MOBY = PUBLIC / "moby"
INSPEC = PUBLIC / "inspec"
HOST4, HOST6 = "198.51.100.10", "2001:db8:100::10"  # the Docker host's own address in the queries


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def rule_count(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.strip().startswith("-A "))


def one(decided: list[Decided]) -> Decided:
    """The verdict of a packet: every part of it decided alike (the parts differ only in fields
    the query left open, such as the source port)."""
    assert decided
    assert len({(d.outcome, d.path, d.assumptions) for d in decided}) == 1, [
        (d.outcome, d.decider()) for d in decided
    ]
    return decided[0]


def deciding_rule(decided: Decided) -> Rule:
    assert isinstance(decided.step, Rule), decided.decider()
    return decided.step


def inbound(
    ruleset: Ruleset,
    dport: int,
    *,
    proto: str = "tcp",
    src: str = "203.0.113.7",
    dst: str = HOST4,
    sport: int | None = None,
    iface: str | None = "eth0",
) -> list[Decided]:
    return explain(ruleset, PacketQuery("in", proto, src, dst, dport, sport, iface))  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Docker (moby)


def docker_listings(name: str) -> list[tuple[str, str]]:
    """The `iptables -S -t TABLE` blocks of one of moby's generated iptables documents, as
    (table, listing); the table is the one whose built-in chains the block's -P lines name."""
    text = read(MOBY / "iptablesdoc" / name)
    found = []
    for block in re.findall(r"<summary>iptables commands</summary>\n\n(.*?)</details>", text, re.S):
        listing = "\n".join(line.removeprefix("    ") for line in block.splitlines())
        policies = set(re.findall(r"^-P (\S+)", listing, re.M))
        table = "nat" if "POSTROUTING" in policies else "raw" if "PREROUTING" in policies else "filter"
        found.append((table, listing))
    return found


def docker_ruleset(name: str) -> Ruleset:
    tables = [parse_listing(text, 4, table, f"{name} {table}") for table, text in docker_listings(name)]
    merged = tables[0]
    for table in tables[1:]:
        merged = merged.merged(table)
    return merged


GOLDENS = sorted((MOBY / "iptabler").iterdir())
DOCS = sorted(p.name for p in (MOBY / "iptablesdoc").iterdir())


def golden(name: str) -> Ruleset:
    family: Family = 6 if "ip6tables" in name else 4
    return parse_save(read(MOBY / "iptabler" / name), family, name)


@pytest.mark.parametrize("path", GOLDENS, ids=lambda p: p.name)
def test_every_docker_iptables_save_golden_is_read_with_all_its_rules(path: Path) -> None:
    ruleset = golden(path.name)
    assert {table for table, _ in ruleset.chains} == {"raw", "filter", "nat"}
    assert sum(len(c.rules) for c in ruleset.chains.values()) == rule_count(read(path))


@pytest.mark.parametrize("name", DOCS)
def test_every_docker_iptables_S_block_is_read_as_the_table_it_lists(name: str) -> None:
    blocks = docker_listings(name)
    assert [table for table, _ in blocks] == ["filter", "nat", "raw"][: len(blocks)]
    for table, text in blocks:
        ruleset = parse_listing(text, 4, table)
        assert {t for t, _ in ruleset.chains} == {table}
        declared = re.findall(r"^-[PN] (\S+)", text, re.M)
        assert sorted(name for _, name in ruleset.chains) == sorted(declared)
        assert sum(len(c.rules) for c in ruleset.chains.values()) == rule_count(text)


def test_docker_published_port_inbound_is_forwarded_by_the_dnat_rule() -> None:
    decided = one(inbound(docker_ruleset("usernet-portmap.md"), 8080))
    assert decided.outcome == "forward"
    assert decided.definite and decided.nominal
    rule = deciding_rule(decided)
    assert (rule.table, rule.chain, rule.number) == ("nat", "DOCKER", 1)
    assert "--to-destination 192.0.2.2:80" in rule.text
    jumps = [s for s in decided.path if isinstance(s, Rule)]
    assert jumps[0].text == "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER"  # the way into DOCKER


def test_docker_port_that_is_not_published_reaches_the_host_itself() -> None:
    decided = one(inbound(docker_ruleset("usernet-portmap.md"), 8081))
    assert decided.outcome == "accept"
    assert isinstance(decided.step, PolicyStep)


def test_docker_dnat_leaves_flows_from_the_containers_own_bridge_alone() -> None:
    # `-A DOCKER ! -i bridge1 -p tcp -m tcp --dport 8080 -j DNAT ...`: with the userland proxy on
    assert one(inbound(docker_ruleset("usernet-portmap.md"), 8080, iface="bridge1")).outcome == "accept"


def test_docker_forward_region_is_exactly_the_published_port_on_the_other_interfaces() -> None:
    ruleset = docker_ruleset("usernet-portmap.md")
    space = make_space(4, "in", "tcp", ("lo", "eth0", "docker0", "bridge1"), (HOST4,))
    forwarded = [d for d in evaluate(ruleset, space) if d.outcome == "forward"]
    assert forwarded
    assert {port for d in forwarded for port in d.box[DPORT]} == {(8080, 8080)}
    ifaces = {space.interfaces[i] for d in forwarded for lo, hi in d.box[IFACE] for i in range(lo, hi + 1)}
    assert ifaces == {"eth0", "docker0"}
    udp = make_space(4, "in", "udp", ("lo", "eth0", "docker0", "bridge1"), (HOST4,))
    assert not [d for d in evaluate(ruleset, udp) if d.outcome == "forward"]  # only tcp was published


def test_docker_swarm_ingress_port_is_forwarded_by_the_ingress_chain() -> None:
    decided = one(inbound(docker_ruleset("swarm-portmap.md"), 8080))
    assert decided.outcome == "forward"
    rule = deciding_rule(decided)
    assert (rule.table, rule.chain) == ("nat", "DOCKER-INGRESS")
    assert rule.text.endswith("-j DNAT --to-destination 172.18.0.2:8080")


def test_docker_fresh_daemon_forwards_nothing_to_containers() -> None:
    ruleset = docker_ruleset("new-daemon.md")
    space = make_space(4, "in", "tcp", ("lo", "eth0", "docker0"), (HOST4,))
    assert {d.outcome for d in evaluate(ruleset, space)} == {"accept"}


def test_docker_routed_mode_publishes_no_port_at_the_hosts_address() -> None:
    # gateway mode "routed": the container is reached at its own address, so no DNAT at the host's
    ruleset = docker_ruleset("usernet-portmap-routed.md")
    assert one(inbound(ruleset, 8080)).outcome == "accept"
    assert one(inbound(ruleset, 80)).outcome == "accept"


def test_docker_save_golden_forwards_the_published_port_like_its_listing() -> None:
    ruleset = golden("nat-published.iptables-save")
    decided = one(inbound(ruleset, 8080))
    assert decided.outcome == "forward"
    assert deciding_rule(decided).text.endswith("-j DNAT --to-destination 192.168.0.2:80")
    assert one(inbound(ruleset, 8080, iface="br-dummy")).outcome == "accept"
    assert one(inbound(ruleset, 22)).outcome == "accept"


def test_docker_hairpin_mode_also_forwards_flows_from_the_containers_bridge() -> None:
    # no userland proxy: the DNAT rule has no `! -i br-dummy`, containers reach published ports too
    ruleset = golden("nat-published-hairpin.iptables-save")
    assert one(inbound(ruleset, 8080, iface="br-dummy")).outcome == "forward"
    assert one(inbound(ruleset, 8080)).outcome == "forward"


def test_docker_ipv6_published_port_is_forwarded_except_from_link_local_sources() -> None:
    ruleset = golden("nat-published.ip6tables-save")
    decided = one(inbound(ruleset, 8080, src="2001:db8:7::5", dst=HOST6))
    assert decided.outcome == "forward"
    assert deciding_rule(decided).text.endswith("--to-destination [fd49:efd7:54aa::1]:80")
    # `! -s fe80::/10`: link-local sources are not translated
    assert one(inbound(ruleset, 8080, src="fe80::5", dst=HOST6)).outcome == "accept"


def test_docker_port_published_on_localhost_is_not_forwarded_from_the_network() -> None:
    # -p 127.0.0.1:8080:80: the DNAT rule matches -d 127.0.0.1 only
    ruleset = golden("nat-localhost-wsl2.iptables-save")
    assert one(inbound(ruleset, 8080)).outcome == "accept"
    assert any(
        r.target.kind == "forward" and "-d 127.0.0.1/32" in r.text
        for r in ruleset.chains[("nat", "DOCKER")].rules
    )


def test_docker_internal_network_publishes_nothing() -> None:
    ruleset = golden("internal.iptables-save")
    for proto in ("tcp", "udp"):
        space = make_space(4, "in", proto, ("lo", "eth0", "br-dummy"), (HOST4,))  # type: ignore[arg-type]
        assert {d.outcome for d in evaluate(ruleset, space)} == {"accept"}


def test_docker_single_chain_listing_reads_jumps_to_unlisted_chains_as_undecided() -> None:
    # `ip6tables -S FORWARD` after `docker` appended its jumps and a DROP
    ruleset = parse_listing(read(MOBY / "userchain" / "fwdafter6.iptables-S"), 6)
    forward = ruleset.chains[("filter", "FORWARD")]
    assert forward.policy == "accept" and forward.hook == "forward"
    assert [r.target.kind for r in forward.rules] == ["undecided", "undecided", "drop"]
    assert [r.target.detail for r in forward.rules[:2]] == ["DOCKER-USER", "DOCKER-FORWARD"]


def test_docker_single_user_chain_listing_has_no_hook() -> None:
    ruleset = parse_listing(read(MOBY / "userchain" / "dockerfwdafter4.iptables-S"), 4)
    assert list(ruleset.chains) == [("filter", "DOCKER-FORWARD")]
    chain = ruleset.chains[("filter", "DOCKER-FORWARD")]
    assert chain.hook is None and chain.policy is None and len(chain.rules) == 3


# ---------------------------------------------------------------------------------------------
# InSpec


@pytest.mark.parametrize(("name", "family"), [("iptables-s", 4), ("ip6tables-s", 6)])
def test_inspec_listing_is_read_with_its_policies_and_rules(name: str, family: Family) -> None:
    text = read(INSPEC / name)
    ruleset = parse_listing(text, family, source=name)
    policies = {n: c.policy for (_, n), c in ruleset.chains.items()}
    assert policies == {"INPUT": "drop", "FORWARD": "drop", "OUTPUT": "accept"}
    rules = ruleset.chains[("filter", "INPUT")].rules
    assert [r.where for r in rules] == [f"{name} line {n}" for n in (4, 5, 6)]
    assert rules[2].text == text.splitlines()[5]  # the comment's quotes kept as evidence


@pytest.mark.parametrize(
    ("name", "src", "dst"), [("iptables-s", "203.0.113.7", HOST4), ("ip6tables-s", "2001:db8:7::5", HOST6)]
)
def test_inspec_rules_accept_ssh_and_http_on_eth0_and_nothing_else(name: str, src: str, dst: str) -> None:
    ruleset = parse_listing(read(INSPEC / name), 6 if ":" in src else 4)
    for port, number in ((22, 2), (80, 3)):
        decided = one(inbound(ruleset, port, src=src, dst=dst))
        assert decided.outcome == "accept"
        assert deciding_rule(decided).number == number
        assert one(inbound(ruleset, port, src=src, dst=dst, iface="eth1")).outcome == "drop"
    dropped = one(inbound(ruleset, 443, src=src, dst=dst))
    assert dropped.outcome == "drop" and dropped.decider() == "filter INPUT policy DROP"
    outbound = explain(ruleset, PacketQuery("out", "tcp", dst, src, 443))
    assert {d.outcome for d in outbound} == {"accept"}


# ---------------------------------------------------------------------------------------------
# ufw: stock files as iptables-restore fragments, and ufw's start


def fragment(text: str, family: Family) -> Ruleset:
    """A before.rules/after.rules as parse_save reads it: with the ufw chains it jumps to but
    does not declare (ufw creates them before it loads the file)."""
    declared = set(re.findall(r"^:(\S+)", text, re.M))
    wanted = sorted({c for c in re.findall(r"-j (ufw6?-\S+)", text) if c not in declared})
    heads = "".join(f":{c} - [0:0]\n" for c in wanted)
    return parse_save(text.replace("*filter\n", "*filter\n" + heads, 1), family, "stock fragment")


@pytest.mark.parametrize(
    ("name", "family"), [("before.rules", 4), ("after.rules", 4), ("before6.rules", 6), ("after6.rules", 6)]
)
def test_ufw_stock_rule_file_is_read_as_written(name: str, family: Family) -> None:
    text = stock(name)
    ruleset = fragment(text, family)
    assert sum(len(c.rules) for c in ruleset.chains.values()) == rule_count(text)


def stock_ufw(family: Family = 4, user: str | None = None, **policies: str) -> Ruleset:
    v6 = family == 6
    text = ufw_start(
        user if user is not None else stock("user6.rules" if v6 else "user.rules"), v6=v6, **policies
    )
    return parse_save(text, family, "ufw start")


def test_ufw_stock_rules_accept_dhcp_replies_from_port_67_to_68() -> None:
    decided = one(inbound(stock_ufw(), 68, proto="udp", src="192.0.2.1", dst="192.0.2.50", sport=67))
    assert decided.outcome == "accept"
    assert deciding_rule(decided).text == "-A ufw-before-input -p udp -m udp --sport 67 --dport 68 -j ACCEPT"


def test_ufw_stock_rules_send_other_dhcp_traffic_to_the_policy_without_logging() -> None:
    decided = one(inbound(stock_ufw(), 68, proto="udp", src="192.0.2.1", dst="192.0.2.50", sport=1234))
    assert decided.outcome == "drop"
    rule = deciding_rule(decided)
    assert rule.chain == "ufw-skip-to-policy-input"
    assert any(
        isinstance(s, Rule) and s.text.endswith("--dport 68 -j ufw-skip-to-policy-input")
        for s in decided.path
    )


def test_ufw_stock_rules_drop_every_unsolicited_tcp_connection() -> None:
    ruleset = stock_ufw()
    decided = one(inbound(ruleset, 8080))
    assert decided.outcome == "drop" and decided.decider() == "filter INPUT policy DROP"
    assert decided.definite and not decided.assumptions
    space = make_space(4, "in", "tcp", ("lo", "eth0"), ("192.0.2.50",))
    assert {d.outcome for d in evaluate(ruleset, space)} == {"drop"}


def test_ufw_stock_rules_accept_mdns_to_its_multicast_group() -> None:
    decided = one(inbound(stock_ufw(), 5353, proto="udp", dst="224.0.0.251", sport=5353))
    assert decided.outcome == "accept"
    assert "-d 224.0.0.251/32" in deciding_rule(decided).text


def test_ufw_stock_rules_let_new_outbound_connections_out_by_tracking_them() -> None:
    ruleset = stock_ufw()
    decided = one(explain(ruleset, PacketQuery("out", "tcp", "192.0.2.50", "203.0.113.7", 443)))
    assert decided.outcome == "accept"
    assert (
        decided.path[-1]
        .describe()
        .endswith("`-A ufw-track-output -p tcp -m conntrack --ctstate NEW -j ACCEPT`")
    )


def test_ufw_stock_ipv6_rules_accept_dhcpv6_replies_between_link_local_addresses_only() -> None:
    ruleset = stock_ufw(6)
    reply = one(inbound(ruleset, 546, proto="udp", src="fe80::1", dst="fe80::2", sport=547))
    assert reply.outcome == "accept"
    assert deciding_rule(reply).text == (
        "-A ufw6-before-input -s fe80::/10 -d fe80::/10 -p udp -m udp --sport 547 --dport 546 -j ACCEPT"
    )
    other = one(inbound(ruleset, 546, proto="udp", src="2001:db8::1", dst="2001:db8::2", sport=547))
    assert other.outcome == "drop" and deciding_rule(other).chain == "ufw6-skip-to-policy-input"


def test_ufw_reject_policy_rejects_through_its_reject_chain() -> None:
    decided = one(inbound(stock_ufw(input_policy="REJECT"), 8080))
    assert decided.outcome == "reject"
    assert deciding_rule(decided).text == "-A ufw-reject-input -j REJECT --reject-with icmp-port-unreachable"


# the conditions of the SmartServer spec that were off when tests/data/kernel/lab was captured
OFF_IN_CAPTURE = {"47808", "1628", "1883", "8883", "41797", "49152", "55000"}


def captured_user_rules(v6: bool) -> str:
    """tests/data/ufw/smartserver-all.user(6).rules with the tuples of the conditions that were
    off in the capture left out, and the capture's management host (198.18.1.1)."""
    text = read(PROJECT_UFW / f"smartserver-all.user{'6' if v6 else ''}.rules").replace(
        "198.18.2.1", "198.18.1.1"
    )
    return keep_tuples(text, lambda tuple_line: tuple_line.split()[5] not in OFF_IN_CAPTURE)


def without_counters(text: str) -> list[str]:
    return [re.sub(r"\[\d+:\d+\]", "[0:0]", line) for line in text.splitlines() if not line.startswith("#")]


@pytest.mark.parametrize("v6", [False, True], ids=["iptables-save", "ip6tables-save"])
def test_ufw_start_from_stock_files_and_user_rules_is_the_lab_capture_line_for_line(v6: bool) -> None:
    capture = read(LAB / f"smartserver.{'ip6tables' if v6 else 'iptables'}-save")
    made = ufw_start(captured_user_rules(v6), v6=v6, input_policy="DROP", output_policy="DROP")
    assert without_counters(made) == without_counters(capture)
    family: Family = 6 if v6 else 4
    assert parse_save(capture, family).sources == ("iptables-save (nf_tables)",)


def test_ufw_lab_capture_accepts_the_smartserver_ports_and_drops_the_rest() -> None:
    ruleset = parse_save(read(LAB / "smartserver.iptables-save"), 4)
    dst = "198.18.1.2"
    for port in (22, 443, 2541):
        assert one(inbound(ruleset, port, dst=dst)).outcome == "accept"
    assert one(inbound(ruleset, 5353, proto="udp", dst=dst)).outcome == "accept"
    assert one(inbound(ruleset, 8080, dst=dst)).outcome == "drop"
    mgmt = one(inbound(ruleset, 22, src="198.18.1.1", dst=dst))
    assert (
        deciding_rule(mgmt).text
        == "-A ufw-user-input -s 198.18.1.1/32 -i eth0 -p tcp -m tcp --dport 22 -j ACCEPT"
    )
    out = explain(ruleset, PacketQuery("out", "tcp", dst, "203.0.113.7", 8080, iface="eth0"))
    assert one(out).outcome == "drop" and one(out).decider() == "filter OUTPUT policy DROP"
    assert (
        one(explain(ruleset, PacketQuery("out", "tcp", dst, "203.0.113.7", 502, iface="eth0"))).outcome
        == "accept"
    )


# ---------------------------------------------------------------------------------------------
# ufw: the user rules ufw writes (its functional tests' transcripts)

TRANSCRIPTS = ("good-rules", "good-apps", "ipv6-rules6")
# commands whose rules the reader cannot read yet (see test_ufw_rule_with_a_non_contiguous_netmask)
READER_GAPS: set[tuple[str, int]] = set()  # none left: the last, a netmask with holes, is read


def transcript_user_rules(name: str, numbers: list[int] | None = None, *, v6: bool = False) -> str:
    commands = transcript(name)
    prefix = "-A ufw6-" if v6 else "-A ufw-"
    lines = [
        line
        for number in (numbers if numbers is not None else sorted(commands))
        if (name, number) not in READER_GAPS or numbers is not None
        for line in commands[number].rules
        if line.startswith(prefix)
    ]
    return user_rules(lines, v6=v6)


def rule_total(ruleset: Ruleset) -> int:
    return sum(len(c.rules) for c in ruleset.chains.values())


@pytest.mark.parametrize(
    ("name", "v6", "least"),
    [
        ("good-rules", False, 300),
        ("good-apps", False, 500),
        ("ipv6-rules6", False, 20),
        ("ipv6-rules6", True, 120),
    ],
)
def test_every_rule_ufw_writes_in_its_transcripts_is_read_after_ufw_start(
    name: str, v6: bool, least: int
) -> None:
    users = transcript_user_rules(name, v6=v6)
    lines = [line for line in users.splitlines() if line.startswith(("-A ufw-user-", "-A ufw6-user-"))]
    family: Family = 6 if v6 else 4
    ruleset = parse_save(ufw_start(users, v6=v6), family, name)
    assert rule_total(ruleset) - rule_total(stock_ufw(family)) == len(lines) - len(stock_tail(v6))
    assert len(lines) - len(stock_tail(v6)) >= least


def stock_tail(v6: bool) -> list[str]:
    return [line for line in stock(f"user{'6' if v6 else ''}.rules").splitlines() if line.startswith("-A ")]


def test_ufw_transcripts_hold_no_rule_the_reader_refuses() -> None:
    refused = set()
    for name in TRANSCRIPTS:
        for number, command in transcript(name).items():
            for v6 in (False, True):
                prefix = "-A ufw6-" if v6 else "-A ufw-"
                lines = [line for line in command.rules if line.startswith(prefix)]
                if lines:
                    try:
                        parse_save(user_chains(user_rules(lines, v6=v6), v6=v6), 6 if v6 else 4)
                    except RulesetError:
                        refused.add((name, number))
    assert refused == READER_GAPS


def test_ufw_limit_accepts_a_quiet_source_and_rejects_one_over_six_connections_in_30s() -> None:
    assert transcript("good-rules")[7].command == "limit daytime/tcp"
    ruleset = stock_ufw(user=transcript_user_rules("good-rules", [7]))
    decided = {d.outcome: d for d in inbound(ruleset, 13)}
    assert set(decided) == {"accept", "reject"}
    quiet, busy = decided["accept"], decided["reject"]
    assert quiet.nominal and not busy.nominal
    assert deciding_rule(quiet).chain == "ufw-user-limit-accept"
    assert deciding_rule(busy).text == "-A ufw-user-limit -j REJECT --reject-with icmp-port-unreachable"
    recent = [a.rule for a in busy.assumptions]
    assert [r.text.split(" -j ")[-1] for r in recent] == ["ufw-user-limit"]
    assert any(isinstance(c, Rate) and c.kind == "recent" for c in recent[0].conds)


def test_ufw_deny_from_a_network_to_one_address_wins_over_a_later_allow_of_the_port() -> None:
    commands = transcript("good-rules")
    assert commands[4].command == "deny proto tcp from 10.0.0.0/8 to 192.168.0.1 port 25"
    assert commands[1].command == "allow 25/tcp"
    ruleset = stock_ufw(user=transcript_user_rules("good-rules", [4, 1]))
    denied = one(inbound(ruleset, 25, src="10.1.2.3", dst="192.168.0.1"))
    assert denied.outcome == "drop"
    assert (
        deciding_rule(denied).text
        == "-A ufw-user-input -s 10.0.0.0/8 -d 192.168.0.1/32 -p tcp -m tcp --dport 25 -j DROP"
    )
    assert one(inbound(ruleset, 25, src="203.0.113.9", dst="192.168.0.1")).outcome == "accept"
    assert one(inbound(ruleset, 25, src="10.1.2.3", dst="192.168.0.2")).outcome == "accept"


def test_ufw_allow_from_one_host_and_port_to_one_host_and_port_needs_all_four() -> None:
    commands = transcript("good-rules")
    assert commands[14].command == "allow proto udp from 1.2.3.5 port 5469 to 1.2.3.4 port 5469"
    ruleset = stock_ufw(user=transcript_user_rules("good-rules", [14]))
    assert (
        one(inbound(ruleset, 5469, proto="udp", src="1.2.3.5", dst="1.2.3.4", sport=5469)).outcome == "accept"
    )
    assert (
        one(inbound(ruleset, 5469, proto="udp", src="1.2.3.5", dst="1.2.3.4", sport=5470)).outcome == "drop"
    )
    assert (
        one(inbound(ruleset, 5469, proto="udp", src="1.2.3.6", dst="1.2.3.4", sport=5469)).outcome == "drop"
    )


def test_ufw_application_rule_accepts_every_port_of_the_profile() -> None:
    commands = transcript("good-apps")
    number = next(n for n, c in commands.items() if c.command == "allow Apache Full")
    ruleset = stock_ufw(user=transcript_user_rules("good-apps", [number]))
    for port in (80, 443):
        decided = one(inbound(ruleset, port))
        assert decided.outcome == "accept"
        assert "--dports 80,443" in deciding_rule(decided).text
    assert one(inbound(ruleset, 8080)).outcome == "drop"


def test_ufw_application_limit_rule_is_a_rate_limit_on_each_port_of_the_profile() -> None:
    commands = transcript("good-apps")
    assert commands[30].command == "limit Apache Full"
    ruleset = stock_ufw(user=transcript_user_rules("good-apps", [30]))
    for port in (80, 443):
        outcomes = {d.outcome: d.nominal for d in inbound(ruleset, port)}
        assert outcomes == {"accept": True, "reject": False}


def test_ufw_ipv6_deny_from_a_prefix_comes_before_an_allow_to_the_host() -> None:
    commands = transcript("ipv6-rules6")
    assert commands[0].command == "deny proto tcp from 2001:db8::/32 to any port 25"
    assert commands[9].command == "allow to 2001:db8:3:4:5:6:7:8 port 25"
    ruleset = stock_ufw(6, user=transcript_user_rules("ipv6-rules6", [0, 9], v6=True))
    host = "2001:db8:3:4:5:6:7:8"
    assert one(inbound(ruleset, 25, src="2001:db8:99::7", dst=host)).outcome == "drop"
    allowed = one(inbound(ruleset, 25, src="2001:dead::7", dst=host))
    assert allowed.outcome == "accept"
    assert (
        deciding_rule(allowed).text == f"-A ufw6-user-input -d {host}/128 -p tcp -m tcp --dport 25 -j ACCEPT"
    )
    assert one(inbound(ruleset, 25, src="2001:dead::7", dst="2001:db8:3:4:5:6:7:9")).outcome == "drop"


# ---------------------------------------------------------------------------------------------
# what the public fixtures showed the reader had to learn


def test_ufw_rule_with_a_non_contiguous_netmask_matches_the_masked_addresses() -> None:
    commands = transcript("good-rules")
    assert commands[210].command == "allow from 192.168.0.2/255.255.0.2"
    ruleset = stock_ufw(user=transcript_user_rules("good-rules", [210]))
    assert (
        one(inbound(ruleset, 8080, src="192.168.77.3", dst="192.0.2.50")).outcome == "accept"
    )  # .3 & .2 == .2
    assert one(inbound(ruleset, 8080, src="192.168.77.4", dst="192.0.2.50")).outcome == "drop"  # .4 & .2 == 0
    assert one(inbound(ruleset, 8080, src="192.169.0.2", dst="192.0.2.50")).outcome == "drop"


# the line of ufw's user.rules (LOGGING section) that keeps logging INVALID packets under a rate limit
LIMITED_RETURN = (
    "-I ufw-logging-deny -m conntrack --ctstate INVALID -j RETURN -m limit --limit 3/min --limit-burst 10"
)


def test_a_match_written_after_the_target_is_still_a_condition_of_the_rule() -> None:
    assert LIMITED_RETURN in read(PROJECT_UFW / "smartserver-all.user.rules")
    appended = LIMITED_RETURN.replace("-I ", "-A ", 1)  # parse_save reads -A lines
    text = f"*filter\n:ufw-logging-deny - [0:0]\n{appended}\nCOMMIT\n"
    rule = parse_save(text, 4).chains[("filter", "ufw-logging-deny")].rules[0]
    assert any(isinstance(c, Rate) and c.kind == "limit" for c in rule.conds)
    assert rule.target.kind == "return" and "-m limit" not in rule.target.detail


def test_a_jump_followed_by_a_comment_match_is_read_as_the_jump() -> None:
    line = transcript("good-apps")[30].rules[-1]
    assert line.endswith("-j ufw-user-limit-accept -m comment --comment 'dapp_Apache%20Full'")
    text = f"*filter\n:ufw-user-input - [0:0]\n:ufw-user-limit-accept - [0:0]\n{line}\nCOMMIT\n"
    rule = parse_save(text, 4).chains[("filter", "ufw-user-input")].rules[0]
    assert rule.target.kind == "jump" and rule.target.chain == "ufw-user-limit-accept"
