"""Port forwards asked of the kernel model, from nat rulesets real programs printed: Docker's
(moby's goldens), and iptables/ip6tables/nft captures (tests/data/kernel/nat/README.md)."""

from __future__ import annotations

from pathlib import Path

from pytest_portspec.firewall.forwards import Forward, PortForwards, port_forwards
from pytest_portspec.firewall.intervals import Intervals
from pytest_portspec.firewall.model import KernelModel, KernelSources
from pytest_portspec.firewall.questions import closed

DATA = Path(__file__).parent.parent / "data" / "kernel"
NAT = DATA / "nat"
MOBY = DATA / "public" / "moby" / "iptabler"
EVERY = Intervals.of((0, 65535))


def text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def forwards_of(**sources: str | tuple[str, ...] | None) -> PortForwards:
    model = KernelModel.build(KernelSources(**sources))  # type: ignore[arg-type]
    return port_forwards(model)


def table(found: PortForwards) -> set[tuple[int, str, tuple[tuple[int, int], ...], str]]:
    """(family, proto, port spans, where) per forward."""
    return {(f.family, f.proto, f.ports.spans, f.rule.where) for f in found.sure}


def only(found: PortForwards) -> Forward:
    assert len(found.sure) == 1, [f.describe() for f in found.sure]
    return found.sure[0]


def test_a_docker_published_port_is_a_forward_in_both_families() -> None:
    found = forwards_of(
        iptables=text(MOBY / "nat-published.iptables-save"),
        ip6tables=text(MOBY / "nat-published.ip6tables-save"),
    )
    assert table(found) == {
        (4, "tcp", ((8080, 8080),), "iptables-save line 34"),
        (6, "tcp", ((8080, 8080),), "ip6tables-save line 34"),
    }
    assert not found.unsure and found.unavailable is None
    v4 = next(f for f in found.sure if f.family == 4)
    assert v4.describe() == (
        "8080/tcp (IPv4) DNAT to 192.168.0.2:80 "
        "`-A DOCKER ! -i br-dummy -p tcp -m tcp --dport 8080 -j DNAT --to-destination 192.168.0.2:80`"
    )
    assert v4.evidence[0].startswith("iptables-save line 34: -A DOCKER ! -i br-dummy")
    v6 = next(f for f in found.sure if f.family == 6)
    assert "from any address except fe80::/10 (IPv6)" in v6.evidence[1]  # Docker leaves link-local out


def test_a_port_docker_publishes_on_127_0_0_1_is_no_forward_from_outside() -> None:
    """`-d 127.0.0.1/32 ... -j DNAT`: a packet from a wire to a loopback address is martian."""
    for own in (None, ("127.0.0.1", "198.51.100.10", "::1")):
        assert table(forwards_of(iptables=text(NAT / "moby-iptabler-published-localhost.iptables-save"),
                                 ip6tables="", addresses=own)) == set()  # fmt: skip
        assert table(forwards_of(iptables=text(MOBY / "nat-localhost-wsl2.iptables-save"), ip6tables="",
                                 addresses=own)) == set()  # fmt: skip
    nft = text(NAT / "moby-nftabler-published-localhost.nft.json")
    assert table(forwards_of(iptables="", ip6tables="", nft=nft)) == set()


def test_docker_nftables_published_port() -> None:
    forward = only(forwards_of(iptables="", ip6tables="", nft=text(NAT / "moby-nftabler-published.nft.json")))
    assert (forward.family, forward.proto, forward.ports, forward.rule.where) == (
        4,
        "tcp",
        Intervals.of((8080, 8080)),
        "nft handle 21",
    )
    assert forward.describe().startswith("8080/tcp (IPv4) dnat to 192.168.0.2:80 `iifname != br-dummy")


def test_a_dnat_without_a_port_forwards_every_port_as_one_range() -> None:
    found = forwards_of(
        iptables=text(NAT / "every-port.iptables-save"), ip6tables="", interfaces=("lo", "eth0", "eth1")
    )
    assert table(found) == {
        (4, "tcp", ((0, 65535),), "iptables-save line 7"),
        (4, "udp", ((0, 65535),), "iptables-save line 7"),
    }
    tcp = next(f for f in found.sure if f.proto == "tcp")
    assert tcp.describe().startswith("0-65535/tcp (IPv4) DNAT to 10.0.0.9 `-A PREROUTING -i eth0 -j DNAT")
    assert "on eth0" in tcp.evidence[1]


def test_multiport_negated_port_one_source_redirect_and_ip6tables() -> None:
    """A forward on `lo` and one in nat OUTPUT (locally made traffic) are no way in."""
    found = forwards_of(
        iptables=text(NAT / "netns-nat.iptables-save"),
        ip6tables=text(NAT / "netns-nat.ip6tables-save"),
        addresses=("198.51.100.10", "2001:db8:100::10"),  # 10.9.9.9 is not the device's: rule 6 never applies
    )
    assert table(found) == {
        (4, "tcp", ((8000, 8000), (8443, 8445)), "iptables-save line 8"),  # multiport --dports
        (4, "udp", ((0, 52), (54, 65535)), "iptables-save line 9"),  # ! --dport 53
        (4, "tcp", ((2222, 2222),), "iptables-save line 10"),  # only from 203.0.113.7: still a way in
        (4, "tcp", ((8080, 8080),), "iptables-save line 11"),  # REDIRECT --to-ports 443
        (6, "tcp", ((8080, 8080),), "ip6tables-save line 7"),
        (6, "udp", ((500, 500), (4500, 4500)), "ip6tables-save line 8"),
    }
    one_source = next(f for f in found.sure if f.rule.where == "iptables-save line 10")
    assert "2222/tcp from 203.0.113.7 " in one_source.evidence[1]
    redirect = next(f for f in found.sure if f.rule.where == "iptables-save line 11")
    assert redirect.describe().startswith("8080/tcp (IPv4) REDIRECT to port 443 `")
    v6 = next(f for f in found.sure if f.rule.where == "ip6tables-save line 7")
    assert "DNAT to [2001:db8::5]:80" in v6.describe()


def test_a_dnat_to_any_destination_address_counts_where_the_device_addresses_are_unknown() -> None:
    found = forwards_of(iptables=text(NAT / "netns-nat.iptables-save"), ip6tables="")
    rule6 = {f.proto: f.ports for f in found.sure if f.rule.where == "iptables-save line 12"}
    assert rule6["udp"] == Intervals.of((53, 53))  # every other UDP port went to the REDIRECT before it
    assert (8080, 8080) not in rule6["tcp"].spans and 9000 in rule6["tcp"]


def test_nft_dnat_names_its_family_and_redirect_takes_both() -> None:
    found = forwards_of(iptables="", ip6tables="", nft=text(NAT / "native.nft.json"))
    assert table(found) == {
        (4, "tcp", ((8080, 8080),), "nft handle 4"),  # dnat ip to: IPv4 only
        (4, "tcp", ((2222, 2222),), "nft handle 5"),  # ip saddr 203.0.113.7
        (4, "udp", ((5000, 5000),), "nft handle 6"),  # redirect to :5353
        (6, "udp", ((5000, 5000),), "nft handle 6"),
        (6, "tcp", ((8081, 8081),), "nft handle 7"),  # dnat ip6 to: IPv6 only
    }  # handle 3 (iifname lo) and 8 (nat output) are no way in
    redirect = next(f for f in found.sure if f.rule.where == "nft handle 6" and f.family == 4)
    assert redirect.describe() == "5000/udp (IPv4) redirect to :5353 `udp dport 5000 redirect to :5353`"


def test_a_match_the_model_cannot_read_or_a_verdict_made_before_nat_may_forward() -> None:
    found = forwards_of(iptables=text(NAT / "unsure.iptables-save"), ip6tables="")
    assert found.sure == ()
    unsure = {(u.proto, u.ports.spans): u.why for u in found.unsure}
    assert set(unsure) == {("tcp", ((8080, 8080),)), ("udp", ((4000, 4999),))}  # not 6000: in INPUT
    assert "-m string" in unsure[("tcp", ((8080, 8080),))]
    assert "NFQUEUE" in unsure[("udp", ((4000, 4999),))]


def test_an_unread_family_is_unavailable_and_the_other_still_judged() -> None:
    found = forwards_of(
        iptables=text(NAT / "every-port.iptables-save"), missing=("ip6tables-save: no",), interfaces=("eth0",)
    )
    assert found.unavailable == "ip6tables-save: no"
    assert {(f.family, f.proto) for f in found.sure} == {(4, "tcp"), (4, "udp")}  # IPv4's still counted


def test_closed_counts_a_forward_as_a_way_in() -> None:
    """A blocked row's question (`closed`) fails on a forwarded port, even with INPUT dropping all."""
    save = text(NAT / "netns-nat.iptables-save").replace(
        "*nat", "*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n*nat", 1
    )
    model = KernelModel.build(KernelSources(iptables=save, ip6tables="", addresses=("198.51.100.10",)))
    answer = closed(model, "in", "tcp", Intervals.of((8443, 8443)))
    assert answer.status == "no" and "forward via nat PREROUTING rule 2" in answer.why
    assert closed(model, "in", "tcp", Intervals.of((8442, 8442))).status == "yes"
    assert closed(model, "in", "tcp", Intervals.of((9000, 9000))).status == "yes"  # the forward on lo
