"""Device strings, ss/netstat parsing and the snapshot's sections (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sockettools import processes_section

from pytest_portspec.device.address import parse_device
from pytest_portspec.device.state_command import parse_sections, resolvers, state_command, time_servers
from pytest_portspec.parse.sockets import (
    cross_check,
    parse_listening,
    parse_netstat,
    parse_ss,
    read_listening,
)

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize(
    ("text", "spec", "profile", "host", "port"),
    [
        ("smartserver@10.0.0.5", "smartserver", None, "10.0.0.5", None),
        ("smartserver:standard@10.0.0.5:2222", "smartserver", "standard", "10.0.0.5", 2222),
        ("coppercube:fw-1.6@cube-3.site.example", "coppercube", "fw-1.6", "cube-3.site.example", None),
        ("smartserver@lab", "smartserver", None, "lab", None),
        ("smartserver@lab:site-b", "smartserver", None, "lab:site-b", None),
        ("voss@[2001:2::7]:22", "voss", None, "2001:2::7", 22),
        ("voss@2001:2::7", "voss", None, "2001:2::7", None),
        ("specs/my-box.yaml@my_alias", "specs/my-box.yaml", None, "my_alias", None),
    ],
)
def test_device_strings(text: str, spec: str, profile: str | None, host: str, port: int | None) -> None:
    device = parse_device(text)
    assert (device.spec, device.profile, device.host, device.port) == (spec, profile, host, port)
    assert device.lab == host.startswith("lab")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("smartserver", "expected SPEC[:PROFILE]@HOST[:PORT]"),
        ("@10.0.0.5", "expected SPEC[:PROFILE]@HOST[:PORT]"),
        ("smartserver@10.0.0.5:70000", "SSH port '70000' is not a port number 1-65535"),
        ("smartserver@10.0.0.300", "'10.0.0.300' is not a valid IPv4 address"),
        ("smartserver@bad host", "is not a valid host name, address or ssh alias"),
        ("smartserver@lab:Bad_Name", "'Bad_Name' is not an emulated appliance name"),
        ("smart server@10.0.0.5", "'smart server' is not SPEC or SPEC:PROFILE"),
        ("voss@[not-v6]:22", "expected [IPv6-ADDRESS]:PORT"),
    ],
)
def test_malformed_device_strings_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_device(text)
    assert message in str(info.value)


def test_ss_lines_become_sockets_with_processes() -> None:
    text = (DATA / "ss-smartserver.txt").read_text()
    sockets = cross_check(parse_ss(text), processes_section(text))
    by_port = {(s.proto, s.port): s for s in sockets}
    nginx = by_port[("tcp", 443)]
    assert (nginx.address, nginx.names, nginx.wildcard, nginx.loopback) == (
        "0.0.0.0",
        ("nginx",),
        True,
        False,
    )
    redis = by_port[("tcp", 6379)]
    assert redis.names == ("redis-server",) and redis.wildcard  # the expose drift
    dns = by_port[("udp", 53)]
    assert dns.loopback and dns.address == "127.0.0.1"
    assert by_port[("tcp", 8080)].names == ("java",)
    assert by_port[("tcp", 22)].address.startswith("198.18.")
    assert nginx.describe() == "tcp 0.0.0.0:443 (nginx)"


def test_ss_header_and_ipv6_and_interfaces() -> None:
    text = (DATA / "ss-smartserver-with-header.txt").read_text() + (
        'tcp LISTEN 0 511 [::]:80 [::]:* users:(("nginx",pid=9,fd=7),("nginx",pid=10,fd=7))\n'
        "udp UNCONN 0 0 0.0.0.0%eth0:68 0.0.0.0:*\n"
        'tcp LISTEN 0 128 [::1]:631 [::]:* users:(("cupsd",pid=5,fd=7))\n'
    )
    sockets = parse_ss(text)
    assert len(sockets) == len(parse_ss((DATA / "ss-smartserver.txt").read_text())) + 3
    v6 = next(s for s in sockets if s.port == 80)
    assert (v6.address, v6.families, v6.wildcard, v6.claimed) == (
        "::",
        (6,),
        True,
        (("nginx", 9), ("nginx", 10)),
    )
    dhcp = next(s for s in sockets if s.port == 68)
    assert (dhcp.interface, dhcp.processes, dhcp.claimed) == ("eth0", (), ())
    assert "ss shows no process" in dhcp.unclear
    assert next(s for s in sockets if s.port == 631).loopback


def test_netstat_is_the_fallback() -> None:
    text = """Active Internet connections (only servers)
Proto Recv-Q Send-Q Local Address           Foreign Address         State       PID/Program name
tcp        0      0 0.0.0.0:22              0.0.0.0:*               LISTEN      812/sshd
tcp6       0      0 :::443                  :::*                    LISTEN      900/nginx: master
udp        0      0 127.0.0.1:53            0.0.0.0:*                           700/dnsmasq
"""
    sockets = parse_netstat(text)
    assert [(s.proto, s.address, s.port, s.claimed) for s in sockets] == [
        ("tcp", "0.0.0.0", 22, (("sshd", 812),)),
        ("tcp", "::", 443, (("nginx", 900),)),
        ("udp", "127.0.0.1", 53, (("dnsmasq", 700),)),
    ]


def test_every_socket_line_is_read_or_the_listing_is_refused() -> None:
    """A socket line neither parser reads would vanish from the exposure audit: refuse instead."""
    for name in ("ss-smartserver.txt", "ss-smartserver-with-header.txt"):
        text = (DATA / name).read_text()
        assert parse_listening(text) == parse_ss(text)
    netstat = "Proto Local Address State\ntcp 0 0 0.0.0.0:22 0.0.0.0:* LISTEN 812/sshd\n"
    assert [s.port for s in parse_listening(netstat)] == [22]
    garbled = (DATA / "ss-smartserver.txt").read_text() + "tcp LISTEN 0 128 0.0.0.0:ssh 0.0.0.0:*\n"
    with pytest.raises(
        ValueError, match=r"1 socket line\(s\) in a form this tool cannot read, e.g. 'tcp LISTEN"
    ):
        parse_listening(garbled)
    assert parse_listening("") == []


def test_the_state_command_is_one_read_only_command_quoted_for_sudo() -> None:
    command = state_command(sudo=True, mode="shell")  # commands mode: tests/test_privilege.py
    assert command.startswith("sudo -n sh -c '")
    for program in ("ufw status verbose", "ss -H -tulpn", "cat /etc/ufw/user.rules", "iptables-save"):
        assert program in command
    for writer in ("ufw allow", "ufw delete", "ufw enable", "ufw disable", "iptables -A", " rm ", "> /etc"):
        assert writer not in command
    assert state_command(sudo=True, password=True, mode="shell").startswith("sudo -S -p '' sh -c '")
    assert state_command(sudo=False).startswith("sh -c '")


def test_sections_are_split_with_their_exit_status() -> None:
    out = (
        "==portspec==ufw-status\nStatus: active\n==portspec==rc=0\n"
        "==portspec==sockets\nsh: ss: not found\n==portspec==rc=127\n"
    )
    sections = parse_sections(out)
    assert sections["ufw-status"].text == "Status: active" and sections["ufw-status"].status == 0
    assert sections["sockets"].status == 127


def test_resolvers_and_time_servers_come_from_the_device_configuration() -> None:
    assert resolvers("# generated\nnameserver 198.19.1.1\nnameserver ::1\nsearch lab\n") == [
        "198.19.1.1",
        "::1",
    ]
    timesyncd = "[Time]\nNTP=ntp1.example.net ntp2.example.net\n#FallbackNTP=0.debian.pool.ntp.org\n"
    assert time_servers(timesyncd) == ["ntp1.example.net", "ntp2.example.net"]
    assert time_servers("[Time]\nFallbackNTP=0.pool.example\n") == ["0.pool.example"]
    assert time_servers("server time.example iburst\npool 2.pool.example\n") == [
        "time.example",
        "2.pool.example",
    ]


SOCKETS = DATA / "sockets"


def test_each_socket_takes_the_families_ss_shows() -> None:
    """A real capture (tests/data/sockets): `*` is an IPv6 socket on `::` that takes IPv4 too,
    `[::]` one that is IPv6 only, `[::ffff:127.0.0.1]` an IPv6 socket that takes IPv4 to 127.0.0.1."""
    sections = parse_sections((SOCKETS / "ss-families.snapshot").read_bytes().decode())
    sockets = cross_check(parse_listening(sections["sockets"].text), sections["processes"].text)
    found = {(s.proto, s.port): s for s in sockets}
    redis, v6only, v4 = found[("tcp", 6379)], found[("tcp", 8080)], found[("tcp", 8443)]
    assert (redis.address, redis.families, redis.wildcard, redis.loopback) == ("*", (4, 6), True, False)
    assert (v6only.address, v6only.families, v6only.wildcard) == ("::", (6,), True)
    assert (v4.address, v4.families) == ("0.0.0.0", (4,))
    mapped = found[("tcp", 5432)]
    assert (mapped.families, mapped.local, mapped.loopback) == ((4,), "127.0.0.1", True)
    assert found[("tcp", 631)].families == (6,) and found[("tcp", 631)].loopback
    assert found[("udp", 5353)].families == (4, 6)
    assert redis.describe() == "tcp *:6379 (redis-server; IPv4 and IPv6)"
    assert v6only.describe() == "tcp [::]:8080 (nginx)"


def test_a_socket_bound_to_a_device_keeps_its_address() -> None:
    """Real `ss -H -tulpn` 6.1.0 lines of sockets bound with SO_BINDTODEVICE (capture.py's way)."""
    text = (
        'udp UNCONN 0      0      0.0.0.0%lo:67  0.0.0.0:* users:(("python3",pid=31642,fd=3))\n'
        'tcp LISTEN 0      128          *%lo:179       *:* users:(("python3",pid=31642,fd=4))\n'
        'tcp LISTEN 0      128      [::1]%lo:180    [::]:* users:(("python3",pid=31642,fd=5))\n'
    )
    found = [(s.address, s.interface, s.port, s.families) for s in parse_listening(text)]
    assert found == [
        ("0.0.0.0", "lo", 67, (4,)),
        ("*", "lo", 179, (4, 6)),
        ("::1", "lo", 180, (6,)),
    ]


def test_an_older_ss_shows_ipv6_without_brackets() -> None:
    """InSpec's ss-tulpen fixture (`ss -tulpen` of an older iproute2, with `v6only:` details)."""
    text = (SOCKETS / "inspec-ss-tulpen.txt").read_text()
    found, unread = read_listening(text)
    assert unread == [next(line.strip() for line in text.splitlines() if ":25 " in line)]  # no state
    by = {(s.address, s.port): s for s in found}
    # an older ss printed IPv4's 0.0.0.0 as * too: both families is the safe reading
    assert by[("*", 22)].families == (4, 6)
    assert by[("::", 22)].families == (6,)  # v6only:1
    mapped = by[("::ffff:10.0.2.15", 9200)]
    assert (mapped.families, mapped.local, mapped.names) == ((4,), "10.0.2.15", ())
    assert mapped.unclear  # not checked against the kernel's names yet
    link = by[("fe80::a00:27ff:fe32:ed09", 9200)]
    assert (link.interface, link.families) == ("enp0s3", (6,))


def test_netstat_cannot_tell_v6only_so_a_tcp6_wildcard_takes_both_families() -> None:
    """InSpec's netstat-tulpen fixture (net-tools)."""
    found = {
        (s.address, s.port): s for s in parse_listening((SOCKETS / "inspec-netstat-tulpen.txt").read_text())
    }
    assert found[("::", 22)].families == (4, 6)
    assert found[("0.0.0.0", 22)].families == (4,)
    assert found[("192.168.1.123", 8005)].families == (4,)  # tcp6, an IPv4-mapped address
