"""Every match the model says it understands (docs/plugin.md), each decided on a concrete packet,
and what it does not understand is undecided, never a guess."""

from __future__ import annotations

import pytest

from pytest_portspec.errors import RulesetError
from pytest_portspec.firewall.ipset import parse_ipset_save
from pytest_portspec.firewall.iptables import parse_save
from pytest_portspec.firewall.model import Route
from pytest_portspec.firewall.packet import PacketQuery, explain
from pytest_portspec.firewall.ruleset import Ruleset

IN = dict(
    direction="in", proto="tcp", src="192.0.2.7", dst="198.18.1.2", dport=502, sport=40000, iface="eth0"
)


def ruleset(rule: str, policy: str = "DROP", extra: str = "") -> Ruleset:
    text = f"*filter\n:INPUT {policy} [0:0]\n:OUTPUT ACCEPT [0:0]\n{extra}-A INPUT {rule} -j ACCEPT\nCOMMIT\n"
    return parse_save(text, 4)


def verdict(rules: Ruleset, **packet: object) -> set[tuple[str, bool, bool]]:
    """(outcome, nominal, definite) of each part of the packet's answer."""
    query = PacketQuery(**{**IN, **packet})  # type: ignore[arg-type]
    return {(p.outcome, p.nominal, p.definite) for p in explain(rules, query, ("lo", "eth0", "eth1"))}


ACCEPT = {("accept", True, True)}
DROP = {("drop", True, True)}


@pytest.mark.parametrize(
    ("rule", "packet", "expected"),
    [
        ("-s 192.0.2.0/24", {}, ACCEPT),
        ("-s 192.0.2.0/24", {"src": "203.0.113.7"}, DROP),
        ("! -s 192.0.2.0/24", {}, DROP),
        ("-d 198.18.1.2/32", {}, ACCEPT),
        ("-i eth+", {"iface": "eth1"}, ACCEPT),
        ("! -i eth0", {}, DROP),
        ("-p udp", {}, DROP),
        ("-p tcp -m tcp --dport 500:510", {}, ACCEPT),
        ("-p tcp -m tcp ! --dport 502", {}, DROP),
        ("-p tcp -m tcp --sport 53", {"sport": 53}, ACCEPT),
        ("-p tcp -m tcp --sport 53", {}, DROP),
        ("-p tcp --syn", {}, ACCEPT),
        ("-p tcp -m tcp --tcp-flags SYN,ACK ACK", {}, DROP),
        ("-p tcp -m multiport --dports 22,500:510", {}, ACCEPT),
        ("-p tcp -m multiport --sports 53,123", {}, DROP),
        ("-p tcp -m multiport --ports 40000", {}, ACCEPT),  # the source port is in the list
        ("-m conntrack --ctstate NEW", {}, ACCEPT),
        ("-m conntrack --ctstate RELATED,ESTABLISHED", {}, DROP),
        ("-m conntrack ! --ctstate INVALID", {}, ACCEPT),
        ("-m state --state NEW", {}, ACCEPT),
        ("-m conntrack --ctorigsrc 192.0.2.0/24 --ctorigdstport 502", {}, ACCEPT),
        ("-m conntrack --ctdir REPLY", {}, DROP),
        ("-m addrtype --dst-type LOCAL", {}, ACCEPT),
        ("-m addrtype --src-type LOCAL", {}, DROP),
        ("-m iprange --src-range 192.0.2.1-192.0.2.9", {}, ACCEPT),
        ("-m iprange --src-range 192.0.2.8-192.0.2.9", {}, DROP),
        ("-p icmp -m icmp --icmp-type 8", {}, DROP),
        ("-m mark --mark 0x0", {}, ACCEPT),  # no rule sets a mark: every packet has mark 0
        ("-m mark --mark 0x1", {}, DROP),
        ("-m comment --comment 'modbus from the SCADA host'", {}, ACCEPT),
        ("-m pkttype --pkt-type unicast", {}, ACCEPT),
        ("-m pkttype --pkt-type broadcast", {}, DROP),
        ("-f", {}, DROP),  # a later fragment: never a new flow's first packet
        ("-m limit --limit 3/min", {}, {("accept", True, True), ("drop", False, True)}),
        (
            "-m hashlimit --hashlimit-above 10/sec --hashlimit-name x",
            {},
            {("drop", True, True), ("accept", False, True)},
        ),
        ("-m recent --rcheck --name knock", {}, {("drop", True, True), ("accept", False, True)}),
        ("-m connlimit --connlimit-above 5", {}, {("drop", True, True), ("accept", False, True)}),
    ],
)
def test_a_match_the_model_understands_is_decided_exactly(
    rule: str, packet: dict[str, object], expected: object
) -> None:
    assert verdict(ruleset(rule), **packet) == expected


@pytest.mark.parametrize(
    "rule",
    [
        "-m u32 --u32 0x0=0x0",
        "-m string --string x --algo bm",
        "-m length --length 0:100",
        "-m statistic --mode random --probability 0.5",
        "-m policy --dir in --pol ipsec",
        "-m set --match-set blocked src",  # members not captured
    ],
)
def test_a_match_the_model_does_not_understand_leaves_both_branches_undecided(rule: str) -> None:
    parts = verdict(ruleset(rule))
    assert {(o, d) for o, _, d in parts} == {("accept", False), ("drop", False)}


def test_a_mark_match_is_undecided_when_a_rule_sets_marks() -> None:
    marking = "-A INPUT -p tcp -j MARK --set-mark 0x1\n"
    assert all(not definite for _, _, definite in verdict(ruleset("-m mark --mark 0x1", extra=marking)))


def test_an_ipset_match_is_decided_against_the_captured_members() -> None:
    rules = ruleset("-m set --match-set scada src")
    sets = parse_ipset_save("create scada hash:net family inet\nadd scada 192.0.2.0/28\n")[4]
    rules = Ruleset(rules.family, rules.chains, sets)
    assert verdict(rules) == ACCEPT
    assert verdict(rules, src="192.0.2.99") == DROP


def test_jumps_gotos_and_returns_are_followed() -> None:
    text = (
        "*filter\n:INPUT DROP [0:0]\n:scada - [0:0]\n:deny - [0:0]\n"
        "-A INPUT -p tcp -j scada\n-A INPUT -s 192.0.2.0/24 -j ACCEPT\n"
        "-A scada -s 192.0.2.7 -g deny\n-A scada -j RETURN\n"
        "-A deny -p tcp --dport 502 -j REJECT\nCOMMIT\n"
    )
    rules = parse_save(text, 4)
    assert verdict(rules) == {("reject", True, True)}  # the goto's chain decides
    assert verdict(rules, src="192.0.2.8") == ACCEPT  # RETURN goes back to INPUT's next rule
    assert verdict(rules, src="192.0.2.7", dport=503) == ACCEPT  # deny falls off: back past INPUT's jump


def test_a_line_the_reader_cannot_read_names_its_table_chain_and_line() -> None:
    with pytest.raises(RulesetError) as caught:
        parse_save("*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --frobnicate 3 -j ACCEPT\nCOMMIT\n", 4)
    assert str(caught.value).startswith("iptables-save: line 3, table filter, chain INPUT: ")


def test_a_reverse_path_filter_is_decided_from_the_devices_routes() -> None:
    """`-m rpfilter --invert -j DROP` (firewalld, Docker hosts): a source routed through another
    interface (or not at all) is dropped; one routed back through its own interface is not."""
    text = "*raw\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -m rpfilter --invert -j DROP\nCOMMIT\n"
    rules = parse_save(text + "*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n", 4)
    routes = (Route("198.18.1.0/24", "eth0"), Route("0.0.0.0/0", "eth1"))

    def outcome(src: str, iface: str) -> set[str]:
        query = PacketQuery(**{**IN, "src": src, "iface": iface})  # type: ignore[arg-type]
        return {p.outcome for p in explain(rules, query, ("eth0", "eth1"), routes) if p.definite}

    assert outcome("198.18.1.5", "eth0") == {"accept"}
    assert outcome("198.18.1.5", "eth1") == {"drop"}  # spoofed: its route leaves through eth0
    assert outcome("203.0.113.9", "eth1") == {"accept"}
    assert outcome("203.0.113.9", "eth0") == {"drop"}


def test_ip6tables_addrtype_unicast_is_the_address_class_but_nft_fib_asks_the_route() -> None:
    """The kernel's match_type6 decides UNICAST by the address's class (the device's own address is
    unicast too), nft's fib by the route (the device's own address is local). Found by real packets."""
    text = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m addrtype --dst-type UNICAST -j DROP\nCOMMIT\n"
    query = PacketQuery("in", "tcp", "2001:2:0:f0::2", "2001:2:0:f0::1", 7000, 40000, "eth0")
    assert {p.outcome for p in explain(parse_save(text, 6), query, ("eth0",))} == {"drop"}
    assert {p.outcome for p in explain(parse_save(text, 4), PacketQuery(**IN), ("eth0",))} == {"accept"}  # type: ignore[arg-type]
