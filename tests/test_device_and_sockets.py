"""Device strings, ss/netstat parsing and the snapshot's sections (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_portspec.device import parse_device
from pytest_portspec.parse.sockets import parse_listening, parse_netstat, parse_ss
from pytest_portspec.snapshot import parse_sections, resolvers, state_command, time_servers

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize(
    ("text", "spec", "profile", "host", "port"),
    [
        ("smartserver@10.0.0.5", "smartserver", None, "10.0.0.5", None),
        ("smartserver:standard@10.0.0.5:2222", "smartserver", "standard", "10.0.0.5", 2222),
        ("coppercube:fw-1.6@cube-3.site.example", "coppercube", "fw-1.6", "cube-3.site.example", None),
        ("smartserver@lab", "smartserver", None, "lab", None),
        ("smartserver@lab:site-b", "smartserver", None, "lab:site-b", None),
        ("voss@[2001:db8::7]:22", "voss", None, "2001:db8::7", 22),
        ("voss@2001:db8::7", "voss", None, "2001:db8::7", None),
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
    sockets = parse_ss((DATA / "ss-smartserver.txt").read_text())
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
    assert (v6.address, v6.v6, v6.wildcard, v6.names) == ("::", True, True, ("nginx",))
    dhcp = next(s for s in sockets if s.port == 68)
    assert (dhcp.interface, dhcp.processes) == ("eth0", ())
    assert next(s for s in sockets if s.port == 631).loopback


def test_netstat_is_the_fallback() -> None:
    text = """Active Internet connections (only servers)
Proto Recv-Q Send-Q Local Address           Foreign Address         State       PID/Program name
tcp        0      0 0.0.0.0:22              0.0.0.0:*               LISTEN      812/sshd
tcp6       0      0 :::443                  :::*                    LISTEN      900/nginx: master
udp        0      0 127.0.0.1:53            0.0.0.0:*                           700/dnsmasq
"""
    sockets = parse_netstat(text)
    assert [(s.proto, s.address, s.port, s.names) for s in sockets] == [
        ("tcp", "0.0.0.0", 22, ("sshd",)),
        ("tcp", "::", 443, ("nginx",)),
        ("udp", "127.0.0.1", 53, ("dnsmasq",)),
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
    command = state_command(sudo=True)
    assert command.startswith("sudo -n sh -c '")
    for program in ("ufw status verbose", "ss -H -tulpn", "cat /etc/ufw/user.rules", "iptables-save"):
        assert program in command
    for writer in ("ufw allow", "ufw delete", "ufw enable", "ufw disable", "iptables -A", " rm ", "> /etc"):
        assert writer not in command
    assert state_command(sudo=True, password=True).startswith("sudo -S -p '' sh -c '")
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
