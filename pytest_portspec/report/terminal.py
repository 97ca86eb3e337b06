"""The terminal's summary of a run, read from its results records (pure: no pytest).

The summary and the session's exit status are read from the whole run's records (merged from
the xdist workers' parts), so a run spread over workers says what a run in one process says.
"""

from __future__ import annotations

from collections import Counter

from pytest_portspec.outcome.records import NOT_RUN, Device, Outcome, Result, Site
from pytest_portspec.report.data import partial_run

Line = tuple[str, bool]  # a line of the summary, and whether it is bad news (shown red)


def read(device: Device | Site) -> bool:
    """Whether the run read the device (its snapshot, or the error that stopped it); a site has
    no snapshot of its own."""
    return isinstance(device, Device) and device.read


def changed(outcome: Outcome) -> list[str]:
    """The devices whose firewall state changed during the run: the session fails."""
    return outcome.changed()


def counts(outcome: Outcome, label: str) -> str:
    """`1 failed, 3 passed` of a device's items that ran, or `not run`."""
    return _counts(outcome.results_of(label))


def _counts(results: tuple[Result, ...]) -> str:
    found = Counter(r.outcome for r in results)
    found.pop(NOT_RUN, None)
    return ", ".join(f"{n} {o}" for o, n in sorted(found.items())) or "not run"


def summary(outcome: Outcome) -> list[Line]:
    """The terminal's lines per device and site, then the warnings and the session errors."""
    grouped = outcome.by_device()  # once: a device's items looked up, not searched for in the whole run
    lines = [_device_line(grouped, d) for d in outcome.devices if isinstance(d, Device) and d.read]
    for site in outcome.sites():
        shown = _counts(grouped.get(site.device, ()))
        flows = f"{len(site.rows)} node-to-node flow(s)"
        lines.append((f"portspec {site.device}: {flows}, {shown}", "failed" in shown or "error" in shown))
    lines += [_unproven(d) for d in outcome.devices if isinstance(d, Device) and _proof_missing(d)]
    lines += [(f"portspec: warning: unused waiver {w.where}: {w.why}", False) for w in outcome.unused_waivers]
    partial = partial_run(outcome.run)
    if partial:
        lines.append((f"portspec: partial run, not a sign-off: {partial}", True))
    for label in changed(outcome):
        lines.append(
            (
                f"portspec {label}: SESSION ERROR: the device's firewall state changed during "
                f"the run (ufw files or iptables rules differ from the start)",
                True,
            )
        )
    return lines


def _device_line(grouped: dict[str, tuple[Result, ...]], device: Device) -> Line:
    state = f"error: {device.error}" if device.error else _counts(grouped.get(device.device, ()))
    text = f"portspec {device.device}: {device.remote_commands} remote command(s), {device.snapshot_s:.1f} s"
    where = f" on worker {device.checked_from}" if device.checked_from else ""  # where its probes left from
    return f"{text}{where}, {state}", device.error is not None


def _proof_missing(device: Device) -> bool:
    """Read at the start, and no proof at the end (the final fingerprint could not be taken)."""
    return device.fingerprint.start is not None and device.read_only is None


def _unproven(device: Device) -> Line:
    why = device.read_only_problem or "the final fingerprint command failed"
    return f"portspec {device.device}: the read-only proof could not be made: {why}", True
