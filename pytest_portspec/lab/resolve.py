"""`--device SPEC@lab` and `SPEC@lab:NAME`: which running emulated appliance is meant."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pytest_portspec.device.schemes import LAB_HOST, is_lab_host
from pytest_portspec.errors import LabError
from pytest_portspec.lab.store import Store

# "is this the lab?" is answered in schemes.py, where the lab's transport is registered; kept here too
__all__ = ["LAB_HOST", "LabTarget", "is_lab_host", "resolve"]


@dataclass(frozen=True)
class LabTarget:
    """How to reach an emulated appliance over SSH."""

    name: str
    spec: str
    profile: str
    address: str
    port: int
    user: str
    private_key: str
    known_hosts: str
    state: dict[str, Any]


def resolve(spec: str, host: str, store: Store | None = None) -> LabTarget:
    """The running appliance named by `lab` (the one of that spec) or `lab:NAME`."""
    store = store or Store.default()
    _, _, name = host.partition(":")
    running = [s for s in store.states() if s.get("status") == "up"]
    if name:
        chosen = [s for s in running if s["name"] == name]
        if not chosen:
            up = ", ".join(s["name"] for s in running) or "none"
            raise LabError(
                f"no emulated appliance named {name!r} is up (up: {up}); "
                f"start it with: portspec lab up {spec} --name {name}"
            )
    else:
        chosen = [s for s in running if s["spec"] == spec]
        if not chosen:
            raise LabError(f"no emulated {spec} appliance is up; start one with: portspec lab up {spec}")
        if len(chosen) > 1:
            names = ", ".join(sorted(s["name"] for s in chosen))
            raise LabError(f"several emulated {spec} appliances are up ({names}): use {spec}@lab:NAME")
    state = chosen[0]
    if state["spec"] != spec:
        raise LabError(f"emulated appliance {state['name']!r} runs spec {state['spec']!r}, not {spec!r}")
    return LabTarget(
        name=state["name"],
        spec=state["spec"],
        profile=state["profile"],
        address=state["management_address"],
        port=int(state["ssh_port"]),
        user=state["ssh_user"],
        private_key=state["private_key"],
        known_hosts=state["known_hosts"],
        state=state,
    )
