"""A device's whole run, bounded in time: whatever a device does (or does not do), the caller goes on.

    device deadline = connect allowance + 60 s (state command) + (2 x probe timeout + 30 s)
                      (outbound probes' command) + probe timeout (inbound probes) + 30 s (local work)
    connect allowance = 2 x (4 x --connect-timeout + 15 s)    (transports/ssh.py; 0 for the fake)

With the defaults (--connect-timeout 10, --probe-timeout 3): 110 + 60 + 36 + 3 + 30 = 239 s. Each
remote command has its own total deadline as well (transports/ssh.py); the read-only proof at the end is
bounded by its command deadline (60 s, plus reconnecting).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from pytest_portspec.errors import DeviceError
from pytest_portspec.text import clip, printable

STATE_TIMEOUT = 60.0  # seconds the state command (and the proof's) may take, each
LOCAL_ALLOWANCE = 30.0  # seconds of the device deadline for the tester's own work (parsing, judging)
REASON_LIMIT = 600  # characters of a device's error sentence


def outbound_timeout(probe_timeout: float) -> float:
    """The outbound probes' command deadline: every probe runs at once, some twice (a retry)."""
    return probe_timeout * 2 + 30


def device_deadline(connect_allowance: float, probe_timeout: float) -> float:
    """Seconds one device's run may take (module docstring)."""
    return (
        connect_allowance + STATE_TIMEOUT + outbound_timeout(probe_timeout) + probe_timeout + LOCAL_ALLOWANCE
    )


def run_within(label: str, limit: float, work: Callable[[], None]) -> DeviceError | None:
    """Run `work` in a thread of its own and wait at most `limit` seconds: its failure, or the deadline
    passing, is the device's error (one printable sentence), never a traceback. After the deadline the
    thread is left to end on its own (the caller closes the connection it waits on)."""
    failures: list[DeviceError] = []
    done = threading.Event()

    def guarded() -> None:
        try:
            work()
        except DeviceError as exc:
            failures.append(exc)
        except Exception as exc:  # a reader failing on what a device said: the device's error, not a crash
            what = f"{type(exc).__name__}: {exc}"
            failures.append(DeviceError(label, f"portspec could not read this device's answers ({what})"))
        finally:
            done.set()

    threading.Thread(target=guarded, name=label, daemon=True).start()
    if not done.wait(limit):
        return DeviceError(label, f"the device did not finish within its deadline of {limit:g} s")
    if failures:
        return DeviceError(label, clip(printable(failures[0].reason), REASON_LIMIT))
    return None
