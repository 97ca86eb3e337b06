"""A worker's own guard: a device that names another tester is an error there, never probed.

The controller sends each device to its tester's worker (engine/testers.py, plugin/xdist.py);
this guard holds whatever schedules the items (another --dist, another pytest-xdist): an inbound
probe from the wrong network would pass or fail for reasons of that network, not the device's.
"""

from __future__ import annotations

from pytest_portspec.errors import DeviceError


def refuse(label: str, tester: str | None, checked_from: str | None) -> None:
    """Raise DeviceError if a device naming `tester` is about to be checked from elsewhere."""
    if tester is not None and checked_from != tester:
        where = f"worker {checked_from!r}" if checked_from else "the machine running pytest"
        raise DeviceError(
            label,
            f"names tester {tester!r} but was sent to {where}: its inbound probes would leave from "
            "another network",
        )
