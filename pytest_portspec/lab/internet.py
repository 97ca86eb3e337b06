"""The simulated internet: one namespace shared by the lab, reached by every appliance's uplink.

It holds an address for every destination host of the running specs (198.19.128.0/17),
and per appliance: a DNS server (dnsmasq) on the appliance's gateway address that
resolves the spec's host names to those addresses, TCP and UDP servers on the
destination ports (a real SNTP server on 123/udp), and a site firewall chain.
Nothing in it routes anywhere else: it has no default route and does not forward.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_portspec.lab.plan import Addresses, AppliancePlan, service_address
from pytest_portspec.lab.processes import (
    in_namespace,
    kill,
    netns_exists,
    netns_pids,
    no_forwarding,
    run_services,
    start,
    wait_for,
)
from pytest_portspec.lab.system import run

SERVICE_LINK = "lo"  # the host addresses live on loopback: no dummy-link module needed
DNS_PORT = 53


@dataclass(frozen=True)
class Internet:
    """The internet namespace of one lab directory."""

    namespace: str
    root: Path

    def ensure(self) -> None:
        if netns_exists(self.namespace):
            return
        run(["ip", "netns", "add", self.namespace])
        run(["ip", "-n", self.namespace, "link", "set", "lo", "up"])
        no_forwarding(self.namespace)
        (self.root / "hosts.json").write_text("{}", encoding="utf-8")

    def remove(self) -> None:
        kill(netns_pids(self.namespace))
        if netns_exists(self.namespace):
            run(["ip", "netns", "del", self.namespace])
        (self.root / "hosts.json").unlink(missing_ok=True)

    def host_addresses(self, hosts: tuple[str, ...]) -> dict[str, str]:
        """Give every host name a stable lab address (shared by all appliances) and put it up."""
        path = self.root / "hosts.json"
        known: dict[str, str] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        for host in hosts:
            if host not in known:
                known[host] = service_address(len(known))
                run(["ip", "-n", self.namespace, "addr", "replace", f"{known[host]}/32", "dev", SERVICE_LINK])
        path.write_text(json.dumps(known, indent=2), encoding="utf-8")
        return {host: known[host] for host in hosts}

    def start_site(
        self, run_dir: Path, addresses: Addresses, plan: AppliancePlan, hosts: dict[str, str]
    ) -> dict[str, Any]:
        """DNS, servers and site firewall for one appliance; returns their pids."""
        resolvable = {h: a for h, a in hosts.items() if h not in plan.dns_failures}
        hosts_file = run_dir / "lab-hosts"
        hosts_file.write_text("".join(f"{a} {h}\n" for h, a in sorted(resolvable.items())), encoding="utf-8")
        dnsmasq = start(
            [
                "ip",
                "netns",
                "exec",
                self.namespace,
                "dnsmasq",
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                "--no-resolv",
                "--no-hosts",
                f"--addn-hosts={hosts_file}",
                "--local=/#/",
                f"--listen-address={addresses.gateway}",
                "--bind-interfaces",
                f"--port={DNS_PORT}",
                "--user=nobody",
                "--group=nogroup",
                "--pid-file=",
                f"--log-facility={run_dir / 'dnsmasq.log'}",
            ],
            run_dir / "dnsmasq.out",
        )
        self._site_firewall(addresses, plan)
        ports = [(proto, port) for proto, port in plan.internet_ports if port != DNS_PORT]
        groups: list[dict[str, Any]] = []
        if ports:
            sockets = [{"proto": proto, "address": "0.0.0.0", "port": port} for proto, port in ports]
            groups = run_services(
                ["ip", "netns", "exec", self.namespace],
                {"reuseport": True, "groups": [{"name": "lab-internet", "sockets": sockets}]},
            )
        wait_for(lambda: self._listening_udp(addresses.gateway, DNS_PORT), 5.0, "lab DNS server")
        return {"dnsmasq": dnsmasq, "servers": [g["pid"] for g in groups]}

    def _listening_udp(self, address: str, port: int) -> bool:
        out = run(
            ["ip", "netns", "exec", self.namespace, "ss", "-Hnul", f"src {address}:{port}"], check=False
        )
        return bool(out.strip())

    @staticmethod
    def chain(addresses: Addresses) -> str:
        return f"pslab-site-{addresses.index}"

    @staticmethod
    def uplink_link(addresses: Addresses) -> str:
        return f"psl{addresses.index}u"

    def _site_firewall(self, addresses: Addresses, plan: AppliancePlan) -> None:
        name = self.chain(addresses)
        rules = ["*filter", f":{name} - [0:0]", f"-A INPUT -i {self.uplink_link(addresses)} -j {name}"]
        rules += [f"-A {name} -p {proto} --dport {port} -j DROP" for proto, port in plan.site_blocks]
        run(
            ["ip", "netns", "exec", self.namespace, "iptables-restore", "--noflush"],
            input="\n".join([*rules, "COMMIT", ""]),
        )

    def stop_site(self, addresses: Addresses, pids: dict[str, Any]) -> None:
        ours = [
            p for p in (pids.get("dnsmasq", 0), *pids.get("servers", [])) if in_namespace(p, self.namespace)
        ]
        kill(ours)
        if not netns_exists(self.namespace):
            return
        name = self.chain(addresses)
        ipt = ["ip", "netns", "exec", self.namespace, "iptables"]
        run([*ipt, "-D", "INPUT", "-i", self.uplink_link(addresses), "-j", name], check=False)
        run([*ipt, "-F", name], check=False)
        run([*ipt, "-X", name], check=False)
