"""parse_ipset_save: `ipset save` read into set members, against a real capture.

tests/data/kernel/ipset/ (README.md): sets of every type the capture kernel has, made with the
commands of sets.commands in a throwaway network namespace and saved with ipset 7.17, next to the
iptables rules that match against them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_portspec.errors import RulesetError
from pytest_portspec.firewall.intervals import EMPTY, Intervals
from pytest_portspec.firewall.ipset import parse_ipset_save
from pytest_portspec.firewall.model import KernelModel, KernelSources
from pytest_portspec.firewall.packet import PacketQuery, explain
from pytest_portspec.firewall.ruleset import Family, SetDef
from pytest_portspec.firewall.values import address_range, address_span

DATA = Path(__file__).parents[1] / "data" / "kernel" / "ipset"
OWN = "198.18.0.10"


def read(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def sets() -> dict[Family, dict[str, SetDef]]:
    return parse_ipset_save(read("sets.ipset-save"))


def net(*texts: str, family: Family = 4) -> Intervals:
    return Intervals.merged(address_range(t, family) if "-" in t else address_span(t, family) for t in texts)


def one(value: int) -> Intervals:
    return Intervals.of((value, value))


def test_each_set_goes_to_its_family_and_port_and_list_sets_to_both(
    sets: dict[Family, dict[str, SetDef]],
) -> None:
    assert set(sets[4]) == {"blocklist", "hosts", "subnets24", "services", "mgmt", "paths", "reach",
                            "lowports", "lab", "byiface", "either"}  # fmt: skip
    assert set(sets[6]) == {"blocklist6", "nothing", "lowports", "either"}


def test_hash_ip_ignores_timeouts_counters_and_comments_and_applies_the_netmask(
    sets: dict[Family, dict[str, SetDef]],
) -> None:
    hosts = sets[4]["hosts"]
    assert (hosts.dims, hosts.complete, hosts.dynamic) == (("addr",), True, False)
    assert sorted(m[0].first() for m in hosts.members) == [
        net("198.18.0.7").first(),
        net("198.18.0.8").first(),
    ]
    assert sets[4]["subnets24"].members == ((net("198.18.3.0/24"),),)  # saved as 198.18.3.0, netmask 24
    assert set(sets[6]["blocklist6"].members) == {
        (net("2001:db8:bad::/48", family=6),),
        (net("2001:db8:1::1", family=6),),
    }
    assert sets[6]["nothing"] == SetDef("nothing", ("addr",), ())


def test_nomatch_entries_are_exceptions_applied_most_specific_prefix_first(
    sets: dict[Family, dict[str, SetDef]],
) -> None:
    # 198.18.64.0/18, except 198.18.66.0/24 (nomatch), except its upper half again; and a range
    (member,) = sets[4]["blocklist"].members
    expected = net("198.18.64.0/18") - net("198.18.66.0/24") | net(
        "198.18.66.128/25", "198.19.5.1-198.19.5.6"
    )
    assert member == (expected,)
    (mgmt,) = sets[4]["mgmt"].members
    assert mgmt == (net("198.18.1.0/24") - net("198.18.1.0/28"), one(6), one(9090))


def test_port_entries_keep_their_protocol_as_a_proto_dimension(sets: dict[Family, dict[str, SetDef]]) -> None:
    services = sets[4]["services"]
    assert services.dims == ("addr", "proto", "port")
    got = {(m[1].first(), m[2]) for m in services.members}
    assert got == {
        (6, one(22)),
        (6, one(8000)),
        (6, one(8001)),
        (6, one(8002)),
        (17, one(53)),
        (132, one(9000)),
        (1, EMPTY),
    }  # fmt: skip  (an icmp entry holds a type, not a port)
    assert sets[4]["paths"].dims == ("addr", "proto", "port", "addr")
    assert sets[4]["paths"].members == ((net("198.18.1.1"), one(6), one(443), net(OWN)),)
    assert sets[4]["reach"].members == ((net("198.18.1.1"), one(17), one(53), net("198.19.0.0/16")),)


def test_bitmap_sets_store_ports_without_protocol_and_addresses_of_a_range(
    sets: dict[Family, dict[str, SetDef]],
) -> None:
    assert sets[4]["lowports"].dims == ("port",)
    assert [m[0] for m in sets[4]["lowports"].members] == [one(22), one(80), one(81), one(82)]
    assert sets[4]["lab"].members == ((net("198.18.0.5"),),)


def test_list_sets_and_interface_sets_are_incomplete(sets: dict[Family, dict[str, SetDef]]) -> None:
    assert not sets[4]["either"].complete and not sets[6]["either"].complete
    assert not sets[4]["byiface"].complete


def test_rules_matching_against_captured_sets_are_decided() -> None:
    model = KernelModel.build(
        KernelSources(
            iptables=read("sets.iptables-save"),
            ip6tables=read("sets.ip6tables-save"),
            ipset=read("sets.ipset-save"),
            interfaces=("lo", "eth0"),
            addresses=("127.0.0.1", OWN, "::1", "2001:db8::10"),
        )
    )

    def verdict(src: str, dport: int, proto: str = "tcp") -> str:
        dst = OWN if ":" not in src else "2001:db8::10"
        query = PacketQuery("in", proto, src, dst, dport, iface="eth0")  # type: ignore[arg-type]
        found = {d.outcome if d.definite else f"undecided:{d.outcome}" for d in explain(model.rulesets[
            6 if ":" in src else 4], query) if d.nominal}  # fmt: skip
        return "|".join(sorted(found))

    assert verdict("198.18.64.9", 22) == "drop"  # blocklist
    assert verdict("198.18.66.5", 22) == "accept"  # a nomatch exception: services 22/tcp
    assert verdict("198.18.66.200", 22) == "drop"  # the narrower entry inside the exception
    assert verdict("198.18.1.20", 9090) == "accept"  # mgmt
    assert verdict("203.0.113.9", 53, "udp") == "accept"  # services 53/udp
    assert verdict("203.0.113.9", 81) == "accept"  # lowports
    # not in any captured set: the list:set's members are not read, so whether it drops is undecided
    assert verdict("203.0.113.9", 4444) == "undecided:drop"
    assert verdict("2001:db8:bad::1", 22) == "drop"
    assert verdict("2001:db8:2::1", 22) == "accept"


def test_two_net_dimensions_with_nomatch_entries_are_incomplete() -> None:
    # hash:net,net (not in the capture kernel); the lines as ipset(8) documents and saves them
    text = (
        "create pairs hash:net,net family inet hashsize 1024 maxelem 65536\n"
        "add pairs 198.18.0.0/24,198.19.0.0/24\n"
        "add pairs 198.18.0.0/28,198.19.0.0/24 nomatch\n"
    )
    pairs = parse_ipset_save(text)[4]["pairs"]
    assert (pairs.dims, pairs.complete) == (("addr", "addr"), False)
    without = parse_ipset_save(text.replace(" nomatch", ""))[4]["pairs"]
    assert without.complete and len(without.members) == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("list blocklist\n", "line 1: expected `create NAME TYPE ...`"),
        ("create a hash:ip family inet\nadd b 198.18.0.1\n", "line 2: expected"),
        ("create a hash:ip family inet\nadd a 198.18.0.300\n", "line 2: bad address"),
        ("create a hash:ip family inet6\nadd a 198.18.0.1\n", "is not IPv6"),
        ("create a hash:ip,port family inet\nadd a 198.18.0.1\n", "is not an entry of a hash:ip,port set"),
        ("create a hash:ip,port family inet\nadd a 198.18.0.1,nope:80\n", "unknown protocol 'nope'"),
        ("create a hash:ip,port family inet\nadd a 198.18.0.1,tcp:99999\n", "bad port range"),
        (
            'create a hash:ip family inet comment\nadd a 198.18.0.1 comment "open\n',
            "line 2: No closing quotation",
        ),
        ("create a hash:ip family inet netmask x\n", "bad netmask"),
    ],
)
def test_unreadable_lines_raise_ruleset_errors_naming_the_line(text: str, message: str) -> None:
    with pytest.raises(RulesetError) as raised:
        parse_ipset_save(text)
    assert str(raised.value).startswith("ipset save: line ")
    assert message in str(raised.value)


def test_an_empty_save_has_no_sets() -> None:
    assert parse_ipset_save("") == {}
