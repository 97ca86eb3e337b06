"""parse_listing: `iptables -S` listings read as the iptables-save text of their table."""

from __future__ import annotations

import pytest

from pytest_portspec.errors import RulesetError
from pytest_portspec.firewall.iptables import parse_save
from pytest_portspec.firewall.listing import parse_listing
from pytest_portspec.firewall.ruleset import Ruleset

NAT_LISTING = """\
-P PREROUTING ACCEPT
-P INPUT ACCEPT
-P OUTPUT ACCEPT
-P POSTROUTING ACCEPT
-N DOCKER
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 192.0.2.0/24 ! -o bridge1 -j MASQUERADE
-A DOCKER ! -i bridge1 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 192.0.2.2:80
"""
NAT_SAVE = """\
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 192.0.2.0/24 ! -o bridge1 -j MASQUERADE
-A DOCKER ! -i bridge1 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 192.0.2.2:80
COMMIT
"""


def meaning(ruleset: Ruleset) -> dict[tuple[str, str], object]:
    return {
        key: (c.hook, c.priority, c.policy, c.kind, [(r.number, r.conds, r.target, r.text) for r in c.rules])
        for key, c in ruleset.chains.items()
    }


def test_a_listing_means_what_the_same_table_saved_means() -> None:
    assert meaning(parse_listing(NAT_LISTING, 4, "nat")) == meaning(parse_save(NAT_SAVE, 4))


def test_rules_and_chains_name_the_lines_of_the_listing() -> None:
    ruleset = parse_listing(NAT_LISTING, 4, "nat", source="docker host")
    assert ruleset.chains[("nat", "DOCKER")].where == "docker host line 5"
    assert ruleset.chains[("nat", "PREROUTING")].where == "docker host line 1"
    assert [r.where for r in ruleset.chains[("nat", "DOCKER")].rules] == ["docker host line 9"]
    assert ruleset.sources == ("docker host",)


def test_counters_of_a_verbose_listing_are_read_and_left_out_of_the_rule() -> None:
    text = (
        "-P INPUT DROP -c 12 3400\n"
        "-N SSH\n"
        "-A INPUT -c 5 300 -p tcp -m tcp --dport 22 -j SSH\n"
        '-A SSH -m comment --comment "keep -c 1 2 here" -j ACCEPT -c 7 420\n'
    )
    ruleset = parse_listing(text, 4)
    assert ruleset.chains[("filter", "INPUT")].policy == "drop"
    assert ruleset.chains[("filter", "INPUT")].rules[0].text == "-A INPUT -p tcp -m tcp --dport 22 -j SSH"
    ssh = ruleset.chains[("filter", "SSH")].rules[0]
    assert ssh.text == '-A SSH -m comment --comment "keep -c 1 2 here" -j ACCEPT'
    assert ssh.target.kind == "accept" and not ssh.target.detail


def test_comments_and_blank_lines_of_iptables_nft_are_skipped() -> None:
    text = "# Warning: iptables-legacy tables present, use iptables-legacy to see them\n\n-P INPUT ACCEPT\n"
    ruleset = parse_listing(text, 4)
    assert ruleset.chains[("filter", "INPUT")].where == "iptables -S line 3"


def test_a_listing_of_one_chain_holds_only_that_chain() -> None:
    text = "-P FORWARD DROP\n-A FORWARD -i eth0 -j ACCEPT\n"
    ruleset = parse_listing(text, 6, source="ip6tables -S FORWARD")
    assert list(ruleset.chains) == [("filter", "FORWARD")]
    assert ruleset.family == 6


@pytest.mark.parametrize(
    ("text", "table", "where", "message"),
    [
        ("-P INPUT ACCEPT\n-F INPUT\n", "filter", "line 2, table filter", "expected -P, -N or -A"),
        ("-P INPUT ACCEPT\n-P MINE ACCEPT\n", "filter", "line 2", "not a built-in chain of table filter"),
        ("-P INPUT REJECT\n", "filter", "line 1", "cannot read the policy line"),
        ("-N A\n-N A\n", "filter", "line 2", "declared twice (line 1 too)"),
        ("-N INPUT\n", "filter", "line 1", "a built-in chain"),
        ("-P PREROUTING ACCEPT\n", "filter", "line 1", "not a built-in chain of table filter"),
        ("-P INPUT ACCEPT\n\n-A INPUT -s 10.0.0.300 -j ACCEPT\n", "filter", "line 3", "bad address"),
        ("-P INPUT ACCEPT\n-N X\n-A Y -j ACCEPT\n", "filter", "line 3", "does not declare"),
        ("-P INPUT ACCEPT\n-A INPUT -p tcp --bogus 1 -j ACCEPT\n", "filter", "line 2", "--bogus"),
    ],
)
def test_a_line_that_cannot_be_read_is_named_by_its_line_in_the_listing(
    text: str, table: str, where: str, message: str
) -> None:
    with pytest.raises(RulesetError) as raised:
        parse_listing(text, 4, table, source="capture")
    assert raised.value.source == "capture"
    assert raised.value.where.startswith(where), raised.value.where
    assert message in str(raised.value)
    assert str(raised.value).count("capture: ") == 1


def test_an_unknown_table_is_refused() -> None:
    with pytest.raises(RulesetError, match="unknown table 'filtre'"):
        parse_listing("-P INPUT ACCEPT\n", 4, "filtre")


def test_an_empty_listing_is_an_empty_table() -> None:
    assert parse_listing("", 4).chains == {}
