"""`portspec lab up / down / status`: bring appliances up from specs and take them down again."""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_portspec.errors import LabError, PortspecError
from pytest_portspec.lab import appliance, enclave, hidden, internet
from pytest_portspec.lab.drifts import apply_drifts
from pytest_portspec.lab.plan import Addresses, plan_appliance
from pytest_portspec.lab.processes import alive, in_namespace, kill, netns_exists, netns_pids, wait_for
from pytest_portspec.lab.segment import Segments
from pytest_portspec.lab.store import Store, check_name
from pytest_portspec.lab.system import require_lab_host, run
from pytest_portspec.spec.catalog import find_spec
from pytest_portspec.spec.policy import effective_policy


@dataclass
class UpRequest:
    spec: str
    name: str | None = None
    profile: str | None = None
    enable: Sequence[str] = ()
    disable: Sequence[str] = ()
    drifts: Sequence[str] = ()
    role: str | None = None
    spec_dirs: Sequence[Any] = field(default_factory=list)
    site: str | None = None  # joins the site's shared segment (portspec lab up --inventory)


class Lab:
    def __init__(self, store: Store | None = None) -> None:
        self.store = store or Store.default()
        self.internet = internet.Internet(self.store.namespace("inet"), self.store.root)
        self.segments = Segments(self.store.root / "segments.json", self.store.namespace(""))

    def up(self, request: UpRequest) -> dict[str, Any]:
        require_lab_host()
        spec = find_spec(request.spec, list(request.spec_dirs))
        if spec.roles and request.role is None:
            raise LabError(
                f"spec {spec.name!r} describes several node roles ({', '.join(spec.roles)}): pass --role"
            )
        name = check_name(request.name or "-".join(filter(None, [spec.name, request.role])))
        policy = effective_policy(
            spec, profile=request.profile, enable=request.enable, disable=request.disable, role=request.role
        )
        with self.store.lock():
            if self.store.state(name) is not None:
                raise LabError(f"appliance {name!r} is already up (portspec lab down {name} first)")
            index = self.store.free_index()
            plan = apply_drifts(plan_appliance(policy, index), request.drifts)
            if plan.path_blocks and request.site is None:
                raise LabError("a path-block drift needs a site's nodes: portspec lab up --inventory FILE")
            addresses = Addresses(index)
            state: dict[str, Any] = {
                "name": name,
                "index": index,
                "status": "starting",
                "spec": spec.name,
                "spec_path": str(spec.path),
                "profile": policy.profile.name,
                "role": request.role,
                "enabled": policy.enabled,
                "drifts": list(plan.drifts),
                "management_address": addresses.management,
                "ssh_port": 22,
                "ssh_user": appliance.LAB_USER,
                "netns": self.store.namespace(name),
                "pids": {},
                "site": request.site,
                "path_blocks": [list(block) for block in plan.path_blocks],
            }
            self.store.save(state)  # from here on, `down` can clean up whatever happens
            try:
                self._bring_up(state, plan, addresses)
            except (PortspecError, OSError, RuntimeError) as exc:
                self._take_down(state)
                raise LabError(f"appliance {name!r} did not come up: {exc}") from None
            return state

    def _bring_up(self, state: dict[str, Any], plan: Any, addresses: Addresses) -> None:
        started = time.monotonic()
        name, run_dir = state["name"], self.store.run_dir(state["name"])
        user_key, host_key = self.store.user_key(), self.store.host_key(name)
        self.internet.ensure()
        appliance.create_links(state["netns"], self.internet, addresses)
        if state["site"]:
            segment = self.segments.get(state["site"])
            segment.ensure()
            state["segment_address"] = segment.attach(state["netns"], state["index"])
        hosts = self.internet.host_addresses(plan.hosts)
        state["pids"]["site"] = self.internet.start_site(run_dir, addresses, plan, hosts)
        appliance.write_overlay(run_dir, addresses, user_key.with_suffix(".pub"), plan)
        config = appliance.sshd_config(run_dir, addresses, host_key)
        sshd = appliance.start_sshd(state["netns"], run_dir, addresses, config)
        state["pids"]["sshd"] = sshd
        self.store.save(state)
        appliance.configure_ufw(sshd, run_dir, plan)
        if plan.ufw_missing:
            appliance.hide_ufw(sshd)
        groups = appliance.start_listeners(sshd, plan)
        state["pids"]["listeners"] = [g["pid"] for g in groups]
        if plan.hidden_listeners:
            hidden_ns = hidden.hidden_namespace(self.store, name)
            state["hidden_netns"] = hidden_ns
            state["pids"]["hidden"] = hidden.bring_up(
                state["netns"], hidden_ns, addresses, plan.hidden_listeners, groups
            )
        known_hosts = run_dir / "known_hosts"
        known_hosts.write_text(appliance.known_hosts_line(addresses, host_key), encoding="utf-8")
        state.update(
            {
                "status": "up",
                "private_key": str(user_key),
                "known_hosts": str(known_hosts),
                "listeners": groups,
                "hosts": hosts,
                "destinations": plan.configured | {"dns": addresses.gateway},
                "resolver": addresses.gateway,
                "ufw_enabled": plan.ufw_enabled,
                "site_blocks": [f"{port}/{proto}" for proto, port in plan.site_blocks],
                "dns_failures": list(plan.dns_failures),
                "hidden_listeners": [f"{port}/{proto}" for proto, port in plan.hidden_listeners],
                "sudo_password_file": str(run_dir / "sudo-password") if plan.sudo_password else None,
                "up_seconds": round(time.monotonic() - started, 2),
            }
        )
        self.store.save(state)

    def down(self, names: Sequence[str] = (), everything: bool = False) -> list[str]:
        require_lab_host()
        with self.store.lock():
            states = self.store.states()
            if everything:
                chosen = states
            else:
                known = {s["name"]: s for s in states}
                missing = [n for n in names if n not in known]
                if missing:
                    raise LabError(
                        f"no appliance named {missing[0]!r} is up; up: {', '.join(known) or 'none'}"
                    )
                chosen = [known[n] for n in names]
            for state in chosen:
                self._take_down(state)
            remaining = self.store.states()
            for segment in self.segments.all():
                if everything or not any(s.get("site") == segment.site for s in remaining):
                    segment.remove()
                    self.segments.release(segment.site)
            if everything or not remaining:
                self.internet.remove()
            if everything:
                enclave.remove_all(self.store)
                hidden.remove_all(self.store)  # an interrupted up's, whose state is gone
            return [s["name"] for s in chosen]

    def _take_down(self, state: dict[str, Any]) -> None:
        name = state["name"]
        ns = state.get("netns") or self.store.namespace(name)
        pids = state.get("pids", {})
        kill(netns_pids(ns))  # everything in the appliance's namespace is the lab's, recorded pids may not be
        hidden.remove(hidden.hidden_namespace(self.store, name))  # by its name: it may not be recorded yet
        if state.get("site") and "index" in state:
            self.segments.get(state["site"]).unblock(state["index"], state.get("segment_address"))
        if "index" in state:
            addresses = Addresses(state["index"])
            self.internet.stop_site(addresses, pids.get("site", {}))
            if netns_exists(ns):
                run(["ip", "netns", "del", ns])
            enclave.unblock(addresses)  # its link may have been in an enclave
            link = appliance.management_link(addresses)
            wait_for(lambda: not _link_exists(link), 5.0, f"removal of {link}")
        shutil.rmtree(self.store.run_dir(name), ignore_errors=True)

    def status(self) -> list[dict[str, Any]]:
        states = self.store.states()
        for state in states:
            sshd = state.get("pids", {}).get("sshd", 0)
            running = sshd and alive(sshd) and in_namespace(sshd, state.get("netns", ""))
            if state.get("status") == "up" and not running:
                state["status"] = "broken (sshd is not running)"
        return states


def _link_exists(link: str) -> bool:
    return bool(run(["ip", "-o", "link", "show", link], check=False).strip())
