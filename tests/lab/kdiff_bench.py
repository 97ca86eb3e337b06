"""The kernel differential's bench: an appliance, a probe namespace, two links, two agents.

One lab appliance with two extra links (eth7, ens8) to a probe namespace of this test, and an
agent (kernel_agent.py) in each; kdiff_kernel applies the rule sets and sends the packets.

What a packet meets is made to depend on the firewall alone: neighbours are fixed entries on both
sides (a rule set that drops ICMPv6 would otherwise stop IPv6 neighbour discovery), ICMP errors
are not rate limited in the appliance, its connection tracking and `recent` lists are emptied
before each rule set, every OUTPUT rule is for NEW connections only (answers always get out), and
a TCP probe reports what became of its SYN (a rule may answer the connection's next packets).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kdiff_addresses import LINKS, ON_LINK, POOL
from kdiff_rules import RuleSet

from pytest_portspec.errors import LabError
from pytest_portspec.lab.fixture import Appliance, LabSession

AGENT = Path(__file__).with_name("kernel_agent.py")


def run(
    argv: list[str], input: str | None = None, timeout: float = 60.0, check: bool = True
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)[:200]} failed ({done.returncode}): {done.stderr or done.stdout}")
    return done


def chunks(items: list[RuleSet], parts: int) -> Iterator[list[RuleSet]]:
    """The rule sets shared out among the benches."""
    for n in range(parts):
        yield items[n::parts]


class Agent:
    """kernel_agent.py in a namespace, one JSON line per request and per answer."""

    def __init__(self, argv: list[str], role: str, config: dict[str, Any], log: Path) -> None:
        self.log = log
        self.stderr = open(log, "wb")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [*argv, sys.executable, "-I", str(AGENT), role, json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
        )
        self.buffer = b""
        ready = self.receive(15.0)
        if "ready" not in ready:
            raise RuntimeError(f"agent {role} did not start: {ready}")

    def send(self, request: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(request) + "\n").encode())
        self.proc.stdin.flush()

    def receive(self, timeout: float = 60.0) -> dict[str, Any]:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.proc.stdout], [], [], max(left, 0))
            chunk = os.read(self.proc.stdout.fileno(), 1 << 20) if ready else b""
            if not chunk:
                why = "timed out" if not ready else "ended"
                raise RuntimeError(f"agent {why}: {self.log.read_text(errors='replace')[-2000:]}")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        answer: dict[str, Any] = json.loads(line)
        return answer

    def ask(self, request: dict[str, Any], timeout: float = 60.0) -> dict[str, Any]:
        self.send(request)
        return self.receive(timeout)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            if self.proc.stdin:
                self.proc.stdin.close()
        if self.proc.poll() is None:
            self.proc.terminate()  # our own child, by its pid
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout:
            self.proc.stdout.close()
        self.stderr.close()


class Bench:
    """One appliance of the lab with this test's probe namespace and links."""

    def __init__(self, session: LabSession, name: str, namespace: str, workdir: Path) -> None:
        self.session, self.name, self.namespace, self.workdir = session, name, namespace, workdir
        self.appliance: Appliance | None = None
        self.agents: list[Agent] = []
        self.created = False
        self.default_ufw = ""

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.appliance = self.session.up("coppercube", name=self.name)
        self.pid = int(self.appliance.state["pids"]["sshd"])
        self.app_ns = str(self.appliance.state["netns"])
        self._create_probe_namespace()
        self._create_links()
        self._fix_neighbours()
        # every REJECT's ICMP error must be sent, however many come at once
        limits = ("net.ipv4.icmp_ratelimit=0", "net.ipv4.icmp_ratemask=0", "net.ipv6.icmp.ratelimit=0",
                  "net.ipv6.icmp.ratemask=0")  # fmt: skip
        run(["ip", "netns", "exec", self.app_ns, "sysctl", "-qw", *limits])
        self.default_ufw = self.inside("cat /etc/default/ufw").stdout
        self._start_agents()

    def _create_probe_namespace(self) -> None:
        if Path("/run/netns", self.namespace).exists():  # left by an earlier run of this test that was killed
            run(["ip", "netns", "del", self.namespace])
        run(["ip", "netns", "add", self.namespace])
        self.created = True
        netns = ["ip", "netns", "exec", self.namespace]
        run([*netns, "sysctl", "-qw", "net.ipv4.ip_forward=0", "net.ipv6.conf.all.forwarding=0"])

    def _create_links(self) -> None:
        probe_batch = ["link set lo up"]
        app_batch = []
        for link in LINKS:
            run(["ip", "link", "add", link.probe_end, "netns", self.namespace, "type", "veth",
                 "peer", "name", link.iface, "netns", self.app_ns])  # fmt: skip
            for address in (*link.sources4, *link.sources6):
                prefix = next((p for k, p in ON_LINK.items() if address.startswith(k)), None)
                length = prefix or ("/128" if ":" in address else "/32")
                extra = " nodad" if ":" in address else ""
                probe_batch.append(f"addr add {address}{length} dev {link.probe_end}{extra}")
            probe_batch.append(f"link set {link.probe_end} up")
            app_batch += [
                f"addr add {link.own4}/24 dev {link.iface}",
                f"addr add {link.own6}/64 dev {link.iface} nodad",
                f"link set {link.iface} up",
            ]
        for link in LINKS:
            app_batch += [f"route add {net} dev {link.iface}" for net in link.routed]
        run(["ip", "-n", self.namespace, "-batch", "-"], input="\n".join(probe_batch) + "\n")
        run(["ip", "-n", self.app_ns, "-batch", "-"], input="\n".join(app_batch) + "\n")

    def _fix_neighbours(self) -> None:
        """Neighbours fixed on both sides: a rule set that drops ICMPv6 would otherwise stop neighbour
        discovery, and with it every IPv6 packet whatever the rules say about its flow (the model
        judges flows, not neighbour discovery)."""
        probe_neigh, app_neigh = [], []
        for link in LINKS:
            probe_mac = self._mac(self.namespace, link.probe_end)
            app_mac = self._mac(self.app_ns, link.iface)
            for own in (link.own4, link.own6):
                probe_neigh.append(f"neigh replace {own} lladdr {app_mac} dev {link.probe_end} nud permanent")
            for source in (*link.sources4, *link.sources6):
                app_neigh.append(f"neigh replace {source} lladdr {probe_mac} dev {link.iface} nud permanent")
        run(["ip", "-n", self.namespace, "-batch", "-"], input="\n".join(probe_neigh) + "\n")
        run(["ip", "-n", self.app_ns, "-batch", "-"], input="\n".join(app_neigh) + "\n")

    @staticmethod
    def _mac(namespace: str, link: str) -> str:
        shown = json.loads(run(["ip", "-n", namespace, "-j", "link", "show", "dev", link]).stdout)
        return str(shown[0]["address"])

    def _start_agents(self) -> None:
        enter = ["nsenter", "-t", str(self.pid), "-m", "-n"]
        self.appliance_agent = Agent(
            enter, "appliance", {"ports": list(POOL)}, self.workdir / "appliance-agent.log"
        )
        self.agents.append(self.appliance_agent)
        netns = ["ip", "netns", "exec", self.namespace]
        self.probe_agent = Agent(netns, "probe", {}, self.workdir / "probe-agent.log")
        self.agents.append(self.probe_agent)

    def inside(
        self, script: str, input: str | None = None, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        """A shell script in the appliance's mount and network namespaces."""
        return run(
            ["nsenter", "-t", str(self.pid), "-m", "-n", "sh", "-c", script], input=input, timeout=timeout
        )

    def close(self) -> None:
        if self.agents:
            with contextlib.suppress(RuntimeError, OSError):
                self.appliance_agent.ask({"op": "reset"}, timeout=10)  # less for the namespace's cleanup
        for agent in self.agents:
            agent.close()
        self.agents = []
        if self.created:
            for link in LINKS:  # both ends go; then the namespace, with nothing left in it
                run(["ip", "-n", self.namespace, "link", "del", link.probe_end], check=False)
            run(["ip", "netns", "del", self.namespace], check=False)
            self.created = False
        if self.appliance is not None:
            self._appliance_down(self.appliance)
            self.appliance = None

    def _appliance_down(self, appliance: Appliance) -> None:
        try:
            self.session.down(appliance)
        except LabError:
            # the lab waits 5 s for the kernel to clean the namespace up, which a busy machine
            # can take longer over: wait for the management link to go, and ask once more
            management = f"psl{appliance.state['index']}m"
            deadline = time.monotonic() + 30
            while run(["ip", "link", "show", management], check=False).returncode == 0:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            self.session.down(appliance)
