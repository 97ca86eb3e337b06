"""Who holds a socket (pure): ss's process column read by its grammar, and the kernel's own name
for each pid (the snapshot's processes section), which the column is checked against.

A process chooses its name (`prctl(PR_SET_NAME)`, up to 15 bytes, anything but NUL) and ss prints
it raw between quotes, cut at its first ")" (ss reads it from /proc/PID/stat): a name such as
`nginx",pid=1` or `nginx)x` must never read as nginx. So the column is parsed by its grammar,

    users:(ENTRY(,ENTRY)*)    ENTRY = ("NAME",pid=N,fd=M)    NAME: any characters

every reading of it whose names fit in the kernel's 15 bytes is found (the limit is what keeps
two processes from reading as one named `a",pid=1,fd=2),("b`), and an owner is credited only when
there is exactly one and the kernel's name for the pid is that NAME.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from pytest_portspec.text import printable

Entry = tuple[str, int]  # (name as ss shows it, pid)
NO_COLUMN = "ss shows no process (a kernel socket, or ss was not run as root)"
_TAIL = re.compile(r'",pid=(\d+),fd=\d+\)')
_NAME_END = '",pid='
COMM_BYTES = 15  # TASK_COMM_LEN - 1: the longest name the kernel keeps, and ss shows
_PROCESS_LINE = re.compile(r"(\d+)\t([0-9a-f]*)\t([0-9a-f]*)")


def users_column(line: str) -> tuple[tuple[Entry, ...], str]:
    """The (name, pid) entries of a line's `users:((...))`, and "" ; or () and why none is credited."""
    start = line.find("users:(")
    if start < 0:
        return (), NO_COLUMN
    readings = _readings(line[start + len("users:(") :])
    if len(readings) > 1:
        return (), "ss's process column reads more than one way (a process name holds its punctuation)"
    if not readings:
        return (), "ss's process column is in a form this tool cannot read"
    return readings[0], ""


def _readings(text: str) -> list[tuple[Entry, ...]]:
    """Every way `text` (what follows `users:(`) reads as entries, a closing ")" and the line's end
    or a space (ss -e adds details); two are enough to know it is ambiguous."""

    @cache
    def from_(pos: int) -> tuple[tuple[Entry, ...], ...]:
        found: list[tuple[Entry, ...]] = []
        if not text.startswith('("', pos):
            return ()
        end_of_name = text.find(_NAME_END, pos + 2)
        while end_of_name >= 0 and len(found) < 2:
            tail = _TAIL.match(text, end_of_name)
            name = text[pos + 2 : end_of_name]
            if len(name.encode()) > COMM_BYTES:
                break  # every later end makes the name longer still
            if tail:
                entry = (name, int(tail.group(1)))
                after = tail.end()
                if text.startswith(",", after):
                    found += [(entry, *rest) for rest in from_(after + 1)]
                elif text.startswith(")", after) and text[after + 1 : after + 2] in ("", " ", "\t"):
                    found.append((entry,))
            end_of_name = text.find(_NAME_END, end_of_name + 1)
        return tuple(found[:2])

    return list(from_(0))


@dataclass(frozen=True)
class Process:
    """What the kernel says of one pid: its name (/proc/PID/comm) and program (/proc/PID/exe)."""

    pid: int
    comm: bytes
    exe: bytes

    def shown(self) -> str:
        """The kernel's name as text, control characters escaped (it is quoted in verdicts)."""
        return printable(self.comm.decode("utf-8", "backslashreplace"))

    def evidence(self) -> str:
        exe = printable(self.exe.decode("utf-8", "backslashreplace"))
        # /proc/PID/exe needs root for another user's process: in --sudo-mode commands it is read as
        # the SSH user, so say the owner rests on the kernel's name alone (it always does: exe is evidence)
        program = f"program {exe}" if exe else "program unreadable without root: checked by its name only"
        return f"pid {self.pid}: the kernel names it {self.shown()!r}, {program}"


def parse_processes(text: str) -> dict[int, Process]:
    """The processes section: `PID<TAB>hex(comm)<TAB>hex(exe)` lines. A pid listed twice, or a line
    not in this form, is believed for nothing."""
    found: dict[int, Process] = {}
    twice: set[int] = set()
    for line in text.splitlines():
        match = _PROCESS_LINE.fullmatch(line)
        if not match or len(match.group(2)) % 2 or len(match.group(3)) % 2:
            continue
        pid = int(match.group(1))
        comm, exe = (bytes.fromhex(match.group(i)).removesuffix(b"\n") for i in (2, 3))
        if pid in found:
            twice.add(pid)
        if comm:  # the process exited before its name was read
            found[pid] = Process(pid, comm, exe)
    return {pid: p for pid, p in found.items() if pid not in twice}


def confirmed(entry: Entry, processes: dict[int, Process]) -> str:
    """ "" when the kernel's name for the pid is the name ss shows, else why the entry is not believed."""
    name, pid = entry
    process = processes.get(pid)
    if process is None:
        return f"pid {pid} was not among the processes read (it may have exited)"
    plain = all(0x20 <= b < 0x7F for b in process.comm) and b")" not in process.comm
    if plain and process.comm.decode("ascii") == name:
        return ""
    return f"ss shows pid {pid} as {printable(name)!r}, the kernel names it {process.shown()!r}"
