"""Running a local program (ansible-inventory, nmap): no shell, a total deadline, caps on what it
prints, and the whole process group killed when it passes either.

    run_local(argv, deadline=..., output_cap=...) -> Finished(code, out, err)
    LocalRunError: it did not start, ran past its deadline or printed past its cap (`kind` says which)

The caller turns a LocalRunError into its own sentence: it knows what the program was doing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Literal

from pytest_portspec.errors import PortspecError
from pytest_portspec.text import printable

ERROR_CAP = 64 * 1024  # bytes of a program's diagnostics kept (the rest is read and dropped)
RunFailure = Literal["start", "deadline", "output"]


class LocalRunError(PortspecError):
    """The program could not start ("start"), ran past its deadline ("deadline") or printed past
    its output cap ("output"); in the last two cases its whole process group was killed."""

    def __init__(self, kind: RunFailure, message: str) -> None:
        self.kind = kind
        super().__init__(message)


@dataclass(frozen=True)
class Finished:
    code: int  # its exit status (negative: the signal that ended it)
    out: bytes
    err: bytes  # at most ERROR_CAP bytes of it


def run_local(
    argv: Sequence[str],
    *,
    deadline: float,
    output_cap: int,
    env: Mapping[str, str] | None = None,
    error_cap: int = ERROR_CAP,
) -> Finished:
    """Run without a shell in a session of its own (so a script's children end with it), reading
    both pipes under the caps; past the deadline or the output cap, the whole session is killed."""
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=None if env is None else dict(env),
            start_new_session=True,
        )
    except OSError as exc:
        raise LocalRunError("start", printable(str(exc))) from None  # the caller names the program
    with proc:  # closes both pipes and reaps it, however this ends
        return _collect(proc, deadline, output_cap, error_cap)


def _collect(proc: subprocess.Popen[bytes], deadline: float, output_cap: int, error_cap: int) -> Finished:
    assert proc.stdout is not None and proc.stderr is not None
    out, err = bytearray(), bytearray()
    over: list[bool] = []  # the output passed its cap: the run was killed
    readers = [
        threading.Thread(target=_drain, args=(proc, proc.stdout, out, output_cap, over), daemon=True),
        threading.Thread(target=_drain, args=(proc, proc.stderr, err, error_cap, None), daemon=True),
    ]
    for reader in readers:
        reader.start()
    try:
        proc.wait(timeout=deadline)
    except subprocess.TimeoutExpired:
        _kill(proc)
        proc.wait()
        raise LocalRunError("deadline", f"ran longer than {deadline:g} s: stopped") from None
    finally:
        for reader in readers:
            reader.join(timeout=5)
    if over:
        raise LocalRunError("output", f"printed more than {output_cap // 1024} KiB: stopped")
    return Finished(proc.returncode, bytes(out), bytes(err))


def _drain(
    proc: subprocess.Popen[bytes], pipe: IO[bytes], into: bytearray, cap: int, over: list[bool] | None
) -> None:
    """Read a pipe to its end, keeping at most `cap` bytes; past it, the output (`over` given)
    kills the run: a truncated output is no output (half a JSON or XML document)."""
    while chunk := pipe.read(65536):
        if len(into) + len(chunk) <= cap:
            into += chunk
        elif over is not None and not over:
            over.append(True)
            _kill(proc)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.killpg(proc.pid, signal.SIGKILL)  # its own session: the script's children too
