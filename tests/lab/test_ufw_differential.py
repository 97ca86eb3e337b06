"""decide() against real packets: ufw's parsed state must predict what one emulated appliance's real
ufw does with real connections and datagrams.

One CopperCube appliance; for each rule set below, its ufw is reset and configured over SSH
(`sudo -n ufw ...`), its state read back the way the plugin reads it (`ufw status verbose`,
user.rules, user6.rules, /etc/default/ufw), and every probe of the set is sent for real:

- tcp-in: a connection from the host (198.18.N.1) to the management address 198.18.N.2;
  accepted = permitted, refused = rejected, timeout = dropped. A listener holds every probed
  port, so a refusal is ufw's and not an empty port.
- udp-in: a datagram from the host (or to a multicast group on the management link); the
  appliance's listener logs what reaches it: logged = permitted.
- tcp-out / udp-out: from the appliance to a lab internet host (listeners there too); an
  EPERM from connect()/sendto() is netfilter dropping a local packet in OUTPUT.
- tcp-in6: IPv6 between the link-local addresses of the management link (never leaves it).

Each probe is checked three ways: reality == the hand-written expectation (the rule set does
what we think), decide(fully described packet) == reality, and decide(packet with only
direction/proto/port) == reality unless that verdict names `partial` rules.
"""

from __future__ import annotations

import base64
import concurrent.futures
import json
import shlex
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from pytest_portspec.firewall.ufw_view import Packet, UfwVerdict, decide
from pytest_portspec.lab.fixture import Appliance, LabSession
from pytest_portspec.parse.ufw import UfwState, ufw_state

Kind = Literal["tcp-in", "udp-in", "tcp-out", "udp-out", "tcp-in6"]
Outcome = Literal["open", "refused", "dropped"]

PROBE_TIMEOUT = 1.0
IP_RECVERR = getattr(socket, "IP_RECVERR", 11)  # <linux/in.h>, <linux/in6.h>
IPV6_RECVERR = getattr(socket, "IPV6_RECVERR", 25)
MANAGEMENT_RULE = (
    "allow in on eth0 from {host} to any port 22 proto tcp comment 'portspec-lab management access'"
)


@dataclass(frozen=True)
class Probe:
    kind: Kind
    port: int
    expect: Outcome  # for UDP: open (it arrived) or dropped (it did not)
    sport: int | None = None  # a fixed source port (else an ephemeral one, still told to decide())
    to: str = "inet1"  # tcp-out/udp-out: inet1, inet2 (lab internet hosts) or loopback
    group: str | None = None  # udp-in: send to this multicast group instead of the management address

    def label(self) -> str:
        extra = f" from port {self.sport}" if self.sport else ""
        extra += f" to {self.group}" if self.group else ""
        extra += f" to {self.to}" if self.kind.endswith("out") else ""
        return f"{self.kind} {self.port}{extra}"


@dataclass(frozen=True)
class RuleSet:
    name: str
    commands: tuple[str, ...]  # ufw arguments; {host} {mgmt} {uplink} {inet1} {inet2} are filled in
    probes: tuple[Probe, ...]
    enabled: bool = True
    ipv6: bool = True  # IPV6= of /etc/default/ufw


def tcp_in(port: int, expect: Outcome, sport: int | None = None) -> Probe:
    return Probe("tcp-in", port, expect, sport=sport)


def udp_in(port: int, expect: Outcome, sport: int | None = None, group: str | None = None) -> Probe:
    return Probe("udp-in", port, expect, sport=sport, group=group)


def tcp_out(port: int, expect: Outcome, to: str = "inet1") -> Probe:
    return Probe("tcp-out", port, expect, to=to)


def udp_out(port: int, expect: Outcome) -> Probe:
    return Probe("udp-out", port, expect)


def tcp_in6(port: int, expect: Outcome) -> Probe:
    return Probe("tcp-in6", port, expect)


RULE_SETS = (
    RuleSet(
        "first-match",
        (
            "default deny incoming",
            "default allow outgoing",
            "deny 7001/tcp",
            "allow 7000:7002/tcp",  # ufw would update an identical rule's action instead of adding one
            "allow 7005/tcp",
            "deny 7004:7006/tcp",
            "reject 7003/tcp",
            "allow 7010,7012/tcp",
            "limit 7020/tcp",
            "allow 7030",
            "allow 7031/udp",
            "reject 7033/udp",
            "allow proto tcp from {host} to any port 7040",
            "allow proto tcp from 198.18.254.0/24 to any port 7041",
            "allow in on eth0 to any port 7042 proto tcp",
            "allow in on eth1 to any port 7043 proto tcp",
            "allow in on eth+ to any port 7044 proto tcp",
            "allow proto tcp to {mgmt} port 7045",
            "allow proto tcp to {uplink} port 7046",
            "allow proto tcp from any port 1024:65535 to any port 7047",
            "allow 7050:7052/udp",
            "deny out 7101/tcp",
            "reject out 7102/tcp",
            "deny out to {inet1} port 7104 proto tcp",
            "deny out on eth1 to any port 7105 proto tcp",
            "deny out on eth0 to any port 7106 proto tcp",
            "deny out 7111/udp",
        ),
        (
            tcp_in(7000, "open"),
            tcp_in(7001, "dropped"),  # the DENY before the range ALLOW wins
            tcp_in(7002, "open"),
            tcp_in(7003, "refused"),
            tcp_in(7004, "dropped"),
            tcp_in(7005, "open"),  # the ALLOW before the range DENY wins
            tcp_in(7006, "dropped"),
            tcp_in(7007, "dropped"),
            tcp_in(7010, "open"),
            tcp_in(7011, "dropped"),
            tcp_in(7012, "open"),
            tcp_in(7020, "open"),
            tcp_in(7030, "open"),
            tcp_in(7031, "dropped"),
            tcp_in(7040, "open"),
            tcp_in(7041, "dropped"),
            tcp_in(7042, "open"),
            tcp_in(7043, "dropped"),
            tcp_in(7044, "open"),
            tcp_in(7045, "open"),
            tcp_in(7046, "dropped"),
            tcp_in(7047, "open", sport=40123),
            tcp_in(7047, "dropped", sport=1000),
            tcp_in(7060, "dropped"),
            udp_in(7030, "open"),
            udp_in(7031, "open"),
            udp_in(7033, "dropped"),
            udp_in(7051, "open"),
            udp_in(7053, "dropped"),
            tcp_out(7101, "dropped"),
            tcp_out(7102, "refused"),
            tcp_out(7103, "open"),
            tcp_out(7104, "dropped", to="inet1"),
            tcp_out(7104, "open", to="inet2"),
            tcp_out(7105, "dropped"),
            tcp_out(7106, "open"),
            tcp_out(7001, "open", to="loopback"),
            udp_out(7111, "dropped"),
            udp_out(7112, "open"),
            tcp_in6(7000, "open"),
            tcp_in6(7001, "dropped"),
            tcp_in6(7040, "dropped"),  # the rule from the host's IPv4 address has no IPv6 twin
        ),
    ),
    RuleSet(
        "open-in-closed-out",
        (
            "default allow incoming",
            "default deny outgoing",
            "deny 7001/tcp",
            "reject 7003/udp",
            "deny proto tcp from {host} to any port 7005",
            "deny proto tcp from 198.18.254.0/24 to any port 7006",
            "allow out 7101/tcp",
            "allow out to {inet2} port 7103 proto tcp",
            "allow out on eth0 to any port 7106 proto tcp",
            "allow out 7111/udp",
        ),
        (
            tcp_in(7001, "dropped"),
            tcp_in(7002, "open"),
            udp_in(7003, "dropped"),
            udp_in(7004, "open"),
            tcp_in(7005, "dropped"),
            tcp_in(7006, "open"),
            tcp_out(7101, "open"),
            tcp_out(7102, "dropped"),
            tcp_out(7103, "open", to="inet2"),
            tcp_out(7103, "dropped", to="inet1"),
            tcp_out(7106, "dropped"),
            udp_out(7111, "open"),
            udp_out(7112, "dropped"),
            tcp_in6(7002, "open"),
        ),
    ),
    RuleSet(
        "reject-defaults",
        (
            "default reject incoming",
            "default reject outgoing",
            "allow 7002/tcp",
            "deny 7003/tcp",
            "allow out 7101/tcp",
        ),
        (
            tcp_in(7001, "refused"),
            tcp_in(7002, "open"),
            tcp_in(7003, "dropped"),
            udp_in(7004, "dropped"),
            tcp_out(7101, "open"),
            tcp_out(7102, "refused"),
            tcp_in6(7001, "refused"),
        ),
    ),
    RuleSet(
        "before-rules",
        ("default deny incoming", "default allow outgoing", "deny out 7101/tcp", "deny 7001/tcp"),
        (
            udp_in(68, "open", sport=67),  # DHCP client replies
            udp_in(68, "dropped", sport=1067),
            udp_in(5353, "open", group="224.0.0.251"),  # mDNS multicast
            udp_in(5353, "dropped"),  # unicast 5353 is not mDNS multicast
            udp_in(1900, "open", group="239.255.255.250"),  # UPnP multicast
            udp_in(1900, "dropped"),
            tcp_out(7101, "open", to="loopback"),
            tcp_out(7101, "dropped"),
            tcp_in(7001, "dropped"),
        ),
    ),
    RuleSet(
        "ipv6",
        (
            "default deny incoming",
            "default allow outgoing",
            "allow 7061/tcp",
            "deny 7062/tcp",
            "allow proto tcp from fe80::/10 to any port 7064",
            "allow proto tcp from 2001:db8::/32 to any port 7065",
        ),
        (
            tcp_in6(7061, "open"),
            tcp_in6(7062, "dropped"),
            tcp_in6(7063, "dropped"),
            tcp_in6(7064, "open"),
            tcp_in(7064, "dropped"),
            tcp_in6(7065, "dropped"),
        ),
    ),
    RuleSet(
        "ipv6-off",
        ("default deny incoming", "default allow outgoing", "allow 7061/tcp"),
        (tcp_in(7061, "open"), tcp_in6(7061, "dropped")),
        ipv6=False,
    ),
    RuleSet(
        "inactive",
        ("default deny incoming", "default deny outgoing", "deny 7001/tcp"),
        (tcp_in(7001, "open"), udp_in(7004, "open"), tcp_out(7101, "open"), tcp_in6(7001, "open")),
        enabled=False,
    ),
)

IN_TCP = sorted({p.port for s in RULE_SETS for p in s.probes if p.kind in ("tcp-in", "tcp-in6")} | {7001})
IN_UDP = sorted({p.port for s in RULE_SETS for p in s.probes if p.kind == "udp-in"})
OUT_TCP = sorted({p.port for s in RULE_SETS for p in s.probes if p.kind == "tcp-out"})
OUT_UDP = sorted({p.port for s in RULE_SETS for p in s.probes if p.kind == "udp-out"})

# Holds TCP ports (dual-stack) and UDP ports, joins multicast groups, logs every datagram's payload.
LISTENER = r"""
import json, os, selectors, socket, sys
cfg = json.loads(sys.argv[1])
log = open(cfg["log"], "a", buffering=1)
sel = selectors.DefaultSelector()
for port in cfg["tcp"]:
    s = socket.socket(socket.AF_INET6 if cfg["tcp6"] else socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if cfg["tcp6"]:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::" if cfg["tcp6"] else "0.0.0.0", port))
    s.listen(64)
    sel.register(s, selectors.EVENT_READ, "tcp")
for port in cfg["udp"]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    for group in cfg["groups"].get(str(port), []):
        mreq = socket.inet_aton(group) + socket.inet_aton(cfg["member_of"])
        s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    sel.register(s, selectors.EVENT_READ, "udp")
with open(cfg["pidfile"], "w") as f:
    f.write(str(os.getpid()))
while True:
    for key, _ in sel.select():
        try:
            if key.data == "tcp":
                key.fileobj.accept()[0].close()
            else:
                data, peer = key.fileobj.recvfrom(2048)
                log.write(data.decode("ascii", "replace") + "\n")
                key.fileobj.sendto(data, peer)
        except OSError:
            pass
"""

# Runs on the appliance: outbound probes, in parallel; prints [[outcome, source port], ...].
OUTBOUND = r"""
import concurrent.futures, errno, json, socket, sys
probes = json.loads(sys.argv[1])
def one(p):
    proto, addr, port, token = p
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
    s.settimeout(PROBE_TIMEOUT)
    try:
        s.bind(("127.0.0.1" if addr == "127.0.0.1" else "0.0.0.0", 0))
        sport = s.getsockname()[1]
        if proto == "tcp":
            s.connect((addr, port))
        else:
            s.sendto(token.encode(), (addr, port))
        return ["open" if proto == "tcp" else "sent", sport]
    except ConnectionRefusedError:
        return ["refused", sport]
    except PermissionError:
        return ["dropped", sport]
    except socket.timeout:
        return ["dropped", sport]
    except OSError as exc:
        return ["error " + errno.errorcode.get(exc.errno, str(exc.errno)), sport]
    finally:
        s.close()
with concurrent.futures.ThreadPoolExecutor(32) as pool:
    print(json.dumps(list(pool.map(one, probes))))
""".replace("PROBE_TIMEOUT", str(PROBE_TIMEOUT))


@dataclass
class Bench:
    appliance: Appliance
    host: str
    mgmt: str
    uplink: str
    inet: dict[str, str]
    link: str  # the host's end of the management link
    host6: str | None  # link-local addresses of the management link, when both ends have one
    mgmt6: str | None
    inet_log: Path
    applied: list[str] = field(default_factory=list)

    def sh(self, command: str, timeout: float = 60.0) -> str:
        status, out, err = self.appliance.run(command, timeout=timeout)
        assert status == 0, f"{command!r} failed ({status}): {err or out}"
        return out


def _link_local(text: str) -> str | None:
    for line in text.splitlines():
        fields = line.split()
        if "inet6" in fields:
            address = fields[fields.index("inet6") + 1].split("/")[0]
            if address.startswith("fe80:") and "tentative" not in fields:
                return address
    return None


def run_here(command: list[str]) -> str:
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def _upload(bench: Bench, path: str, text: str) -> None:
    data = base64.b64encode(text.encode()).decode()
    bench.sh(f"echo {data} | base64 -d | sudo -n tee {path} >/dev/null")


@pytest.fixture(scope="module")
def bench(lab: LabSession, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bench]:
    appliance = lab.up("coppercube", name="ufw-diff")
    index = int(appliance.state["index"])
    link = f"psl{index}m"
    hosts = sorted(appliance.state["hosts"].values())
    inet_log = tmp_path_factory.mktemp("ufw-diff") / "inet.log"
    inet_log.touch()
    bench = Bench(
        appliance=appliance,
        host=f"198.18.{index}.1",
        mgmt=appliance.address,
        uplink=f"198.19.{index}.2",
        inet={"inet1": hosts[0], "inet2": hosts[1], "loopback": "127.0.0.1"},
        link=link,
        host6=None,
        mgmt6=None,
        inet_log=inet_log,
    )
    for _ in range(50):  # link-local addresses are usable once duplicate address detection is done
        bench.host6 = _link_local(run_here(["ip", "-6", "-o", "addr", "show", "dev", link]))
        bench.mgmt6 = _link_local(bench.sh("ip -6 -o addr show dev eth0"))
        if bench.host6 and bench.mgmt6:
            break
        time.sleep(0.1)
    config = {
        "tcp": IN_TCP + [p for p in OUT_TCP if p not in IN_TCP],  # also the appliance's loopback probes
        "tcp6": True,
        "udp": IN_UDP,
        "groups": {"5353": ["224.0.0.251"], "1900": ["239.255.255.250"]},
        "member_of": bench.mgmt,
        "log": "/run/ufw-diff.log",
        "pidfile": "/run/ufw-diff.pid",
    }
    _upload(bench, "/run/ufw-diff-listener.py", LISTENER)
    _upload(bench, "/run/ufw-diff-outbound.py", OUTBOUND)
    start = (
        "setsid nohup python3 /run/ufw-diff-listener.py "
        f"{shlex.quote(json.dumps(config))} </dev/null >/run/ufw-diff-listener.out 2>&1 &\n"
    )
    _upload(bench, "/run/ufw-diff-start.sh", start)
    bench.sh("sudo -n sh /run/ufw-diff-start.sh")
    inet_config = {
        "tcp": OUT_TCP,
        "tcp6": False,
        "udp": OUT_UDP,
        "groups": {},
        "member_of": "",
        "log": str(inet_log),
        "pidfile": str(inet_log.with_suffix(".pid")),
    }
    inet = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            lab.lab.internet.namespace,
            "python3",
            "-c",
            LISTENER,
            json.dumps(inet_config),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            ready = bench.appliance.run("test -s /run/ufw-diff.pid")[0] == 0
            if ready and inet_log.with_suffix(".pid").exists():
                break
            time.sleep(0.2)
        else:
            pytest.fail(
                "the differential listeners did not start: "
                + bench.sh("sudo -n cat /run/ufw-diff-listener.out")
            )
        yield bench
    finally:
        inet.kill()
        inet.wait(timeout=10)
        bench.appliance.run("sudo -n sh -c 'kill $(cat /run/ufw-diff.pid)'")
        lab.down(appliance)


def apply(bench: Bench, rules: RuleSet) -> UfwState:
    """Reset the appliance's ufw to `rules` through ufw itself, then read its state back."""
    fill = {"host": bench.host, "mgmt": bench.mgmt, "uplink": bench.uplink, **bench.inet}
    ipv6 = "yes" if rules.ipv6 else "no"
    commands = [
        "ufw --force reset >/dev/null",  # leaves ufw disabled; backs up the old files by the second
        # /etc/default/ufw is a bind-mounted file: rewrite it in place, do not replace it
        f"sed 's/^IPV6=.*/IPV6={ipv6}/' /etc/default/ufw > /run/ufw-default && "
        "cat /run/ufw-default > /etc/default/ufw",
        "ufw " + MANAGEMENT_RULE.format(**fill) + " >/dev/null",
        *[f"ufw {c.format(**fill)} >/dev/null" for c in rules.commands],
    ]
    if rules.enabled:
        commands.append("ufw --force enable >/dev/null")
    script = "set -e\n" + "\n".join(commands) + "\n"
    time.sleep(1.1)  # `ufw reset` refuses to run twice in the same second
    data = base64.b64encode(script.encode()).decode()
    bench.sh(f"echo {data} | base64 -d | sudo -n sh", timeout=180)
    bench.applied.append(rules.name)
    return read_state(bench)


def read_state(bench: Bench) -> UfwState:
    status = bench.sh("sudo -n ufw status verbose")
    files = [bench.sh(f"sudo -n cat {p}") for p in ("/etc/ufw/user.rules", "/etc/ufw/user6.rules")]
    default = bench.sh("cat /etc/default/ufw")
    return ufw_state(status, files[0], files[1], default_ufw=default)


def status_only_state(bench: Bench) -> UfwState:
    return ufw_state(
        bench.sh("sudo -n ufw status verbose"), None, None, default_ufw=bench.sh("cat /etc/default/ufw")
    )


# ------------------------------------------------------------------------------------------
# probes


def _tcp_connect(
    family: int,
    target: tuple[str, int] | tuple[str, int, int, int],
    source: tuple[str, int] | tuple[str, int, int, int],
) -> tuple[Outcome, int]:
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Without IP(V6)_RECVERR, Linux TCP over IPv6 keeps an ICMPv6 port unreachable for the SYN as
    # a soft error and retransmits: a REJECT (default reject policy) would look like a DROP.
    if family == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVERR, 1)
    else:
        s.setsockopt(socket.IPPROTO_IP, IP_RECVERR, 1)
    s.settimeout(PROBE_TIMEOUT)
    try:
        s.bind(source)
        sport = s.getsockname()[1]
        try:
            s.connect(target)
            return "open", sport
        except ConnectionRefusedError:
            return "refused", sport
        except TimeoutError:
            return "dropped", sport
    finally:
        s.close()


def probe_tcp_in(bench: Bench, probe: Probe) -> tuple[Outcome, int]:
    if probe.kind == "tcp-in6":
        assert bench.host6 and bench.mgmt6
        scope = socket.if_nametoindex(bench.link)
        return _tcp_connect(socket.AF_INET6, (bench.mgmt6, probe.port, 0, scope), (bench.host6, 0, 0, scope))
    return _tcp_connect(socket.AF_INET, (bench.mgmt, probe.port), (bench.host, probe.sport or 0))


def send_udp_in(bench: Bench, probe: Probe, token: str) -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((bench.host, probe.sport or 0))
        if probe.group:
            # out of the lab link only, one hop, and no copy to the host's own mDNS/UPnP listeners
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(bench.host))
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
        s.sendto(token.encode(), (probe.group or bench.mgmt, probe.port))
        return int(s.getsockname()[1])
    finally:
        s.close()


@dataclass(frozen=True)
class Observed:
    probe: Probe
    outcome: Outcome | str
    packet: Packet  # everything the probe knows about its packet
    loose: Packet  # direction, proto, port (and family) only


def run_probes(bench: Bench, rules: RuleSet) -> list[Observed]:
    found: list[Observed] = []
    tag = f"{rules.name}-{time.monotonic_ns()}"
    tcp = [p for p in rules.probes if p.kind in ("tcp-in", "tcp-in6")]
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda p: probe_tcp_in(bench, p), tcp))
    for probe, (outcome, sport) in zip(tcp, results, strict=True):
        v6 = probe.kind == "tcp-in6"
        remote, local = (bench.host6, bench.mgmt6) if v6 else (bench.host, bench.mgmt)
        packet = Packet(
            "in", "tcp", probe.port, remote=remote, interface="eth0", v6=v6, sport=sport, local=local
        )
        found.append(Observed(probe, outcome, packet, Packet("in", "tcp", probe.port, v6=v6)))

    udp = [p for p in rules.probes if p.kind == "udp-in"]
    sent = [(p, f"{tag}-in-{i}", send_udp_in(bench, p, f"{tag}-in-{i}")) for i, p in enumerate(udp)]

    out = [p for p in rules.probes if p.kind in ("tcp-out", "udp-out")]
    requests = [[p.kind[:3], bench.inet[p.to], p.port, f"{tag}-out-{i}"] for i, p in enumerate(out)]
    answers = json.loads(bench.sh(f"python3 /run/ufw-diff-outbound.py {shlex.quote(json.dumps(requests))}"))

    time.sleep(0.5)  # let the datagrams land
    arrived_in = set(bench.sh("sudo -n cat /run/ufw-diff.log").split())
    arrived_out = set(bench.inet_log.read_text().split())
    for probe, token, sport in sent:
        local = probe.group or bench.mgmt
        packet = Packet(
            "in", "udp", probe.port, remote=bench.host, interface="eth0", sport=sport, local=local
        )
        outcome = "open" if token in arrived_in else "dropped"
        found.append(Observed(probe, outcome, packet, Packet("in", "udp", probe.port)))
    for probe, request, (outcome, sport) in zip(out, requests, answers, strict=True):
        proto: Literal["tcp", "udp"] = "tcp" if probe.kind == "tcp-out" else "udp"
        if proto == "udp" and outcome == "sent":
            outcome = "open" if request[3] in arrived_out else "dropped"
        loop = probe.to == "loopback"
        packet = Packet(
            "out",
            proto,
            probe.port,
            remote=bench.inet[probe.to],
            interface="lo" if loop else "eth1",
            sport=sport,
            local="127.0.0.1" if loop else bench.uplink,
        )
        found.append(Observed(probe, outcome, packet, Packet("out", proto, probe.port)))
    return found


def predicted(verdict: UfwVerdict, state: UfwState, packet: Packet) -> Outcome:
    """What a real packet should meet, by the verdict: through, refused (REJECT) or dropped."""
    if verdict.permitted:
        return "open"
    if packet.proto == "udp":
        return "dropped"  # a rejected datagram does not arrive either
    if verdict.decided_by == "rule":
        assert verdict.rule is not None
        return "refused" if verdict.rule.action == "reject" else "dropped"
    default = state.default_in if packet.direction == "in" else state.default_out
    if verdict.decided_by == "default" and (state.ipv6 or not packet.v6) and default == "reject":
        return "refused"
    return "dropped"


def essence(verdict: UfwVerdict) -> tuple[bool, str, str | None, bool]:
    rule = verdict.rule.describe() if verdict.rule else None
    return verdict.permitted, verdict.decided_by, rule, verdict.limited


# ------------------------------------------------------------------------------------------


def test_there_are_at_least_40_combinations() -> None:
    assert sum(len(r.probes) for r in RULE_SETS) >= 40


@pytest.mark.parametrize("rules", RULE_SETS, ids=lambda r: r.name)
def test_decide_predicts_real_packets(bench: Bench, rules: RuleSet) -> None:
    if any(p.kind == "tcp-in6" for p in rules.probes) and not (bench.host6 and bench.mgmt6):
        pytest.fail(f"no IPv6 link-local addresses on the management link ({bench.host6}, {bench.mgmt6})")
    state = apply(bench, rules)
    assert state.active == rules.enabled
    assert state.ipv6 == rules.ipv6
    from_status = status_only_state(bench)
    problems = []
    for seen in run_probes(bench, rules):
        verdict = decide(state, seen.packet)
        loose = decide(state, seen.loose)
        what = f"{seen.probe.label()}: real {seen.outcome}"
        if seen.outcome != seen.probe.expect:
            problems.append(
                f"{what}, but the rule set was meant to give {seen.probe.expect} ({verdict.reason})"
            )
        if predicted(verdict, state, seen.packet) != seen.outcome:
            problems.append(
                f"{what}, decide() says {predicted(verdict, state, seen.packet)}: {verdict.reason}"
            )
        # a bare packet means any non-loopback interface: it says nothing about the loopback probes
        bare = predicted(loose, state, seen.loose)
        if seen.probe.to != "loopback" and not loose.partial and bare != seen.outcome:
            problems.append(f"{what}, decide() on the bare port says {bare}: {loose.reason}")
        again = decide(from_status, seen.packet)
        if essence(again) != essence(verdict):
            problems.append(f"{what}: from `ufw status` alone decide() says {again.reason}")
    assert not problems, "\n".join(problems)
