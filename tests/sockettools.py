"""The snapshot's processes section for plain-data tests (`from sockettools import ...`)."""

from __future__ import annotations

from pytest_portspec.parse.owners import users_column


def processes_section(ss_text: str, exe_dir: str = "/usr/sbin") -> str:
    """What the processes section prints for the pids of an `ss -H -tulpn` text when each process
    is what ss calls it: `PID<TAB>hex(comm + newline)<TAB>hex(exe + newline)`."""
    names: dict[int, str] = {}
    for line in ss_text.splitlines():
        for name, pid in users_column(line)[0]:
            names[pid] = name
    return "\n".join(
        f"{pid}\t{(name + chr(10)).encode().hex()}\t{f'{exe_dir}/{name}{chr(10)}'.encode().hex()}"
        for pid, name in sorted(names.items())
    )
