"""ssh_config's `Include`, expanded before paramiko reads the text (paramiko's parser has none).

    expand(path) -> Expanded(text, origins)    origins[i]: the (file, line) of the text's line i + 1

As OpenSSH's readconf.c does: a relative path is under ~/.ssh (a user configuration's rule), `~`
is the home directory, globs are expanded in sorted order, a path that matches no file is no error,
and includes nest at most MAX_DEPTH deep. An `Include` inside a `Host` or `Match` block includes
the file only where that block applies: the block's condition is joined to each of the included
file's own `Host` / `Match` lines (`Host a` becomes the criterion `originalhost a`, which paramiko
matches the same way), and after the included file the outer block's header is repeated, so the
lines after the `Include` belong to it again.

Every file's `Match exec` line is refused here, naming its file:line: paramiko would run the command
while looking a host up, and portspec runs no command from ssh_config that the user did not name
for reaching the host (ProxyCommand).
"""

from __future__ import annotations

import glob
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

MAX_DEPTH = 16  # OpenSSH's READCONF_MAX_DEPTH
_LINE = re.compile(r"\s*(?P<key>\w+)(?:\s*=\s*|\s+)(?P<value>.*?)\s*")
_LONE_CRITERIA = {"all", "canonical", "final"}  # Match criteria without an argument

Origin = tuple[Path, int]


@dataclass
class Expanded:
    """The text paramiko reads, and where each of its lines came from."""

    lines: list[str] = field(default_factory=list)
    origins: list[Origin] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(self.lines) + "\n"

    def add(self, line: str, origin: Origin) -> None:
        self.lines.append(line)
        self.origins.append(origin)

    def where(self, index: int) -> str:
        path, number = self.origins[index]
        return f"{path}:{number}"


def expand(path: Path) -> Expanded:
    """The file with every Include expanded; ValueError with one sentence naming file:line."""
    out = Expanded()
    _read(path, out, None, 0)
    return out


def split_line(line: str) -> tuple[str, str] | None:
    """(keyword in lower case, value) of a setting line; None for a blank, comment or odd line."""
    if not line.strip() or line.lstrip().startswith("#"):
        return None
    found = _LINE.fullmatch(line)
    return (found.group("key").lower(), found.group("value")) if found else None


def _read(path: Path, out: Expanded, outer: list[str] | None, depth: int) -> bool:
    """Append the file's lines under the `outer` condition (None: none); whether it opened a block."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ValueError(f"cannot read the ssh_config file {path}: {exc.strerror or exc}") from None
    current, header = outer, None  # the condition of this file's lines now, and the line that set it
    for number, line in enumerate(text.splitlines(), 1):
        origin = (path, number)
        parsed = split_line(line)
        if parsed is None:
            continue
        key, value = parsed
        if key in ("host", "match"):
            criteria = _criteria(key, value, origin)
            current = _and(outer, criteria)
            header = line if outer is None else _match(current)
            out.add(header, origin)
        elif key == "include":
            _include(value, out, origin, current, header, depth)
        else:
            out.add(line, origin)
    return header is not None


def _include(
    value: str, out: Expanded, origin: Origin, current: list[str] | None, header: str | None, depth: int
) -> None:
    """Each file the Include names, under this block's condition; this block's header again after one
    that opened blocks of its own (at the top: `Host *`, every host, as before any block)."""
    if depth + 1 > MAX_DEPTH:
        raise ValueError(f"{_at(origin)}: Include nests more than {MAX_DEPTH} files deep (an Include loop?)")
    for pattern in _words(value, origin):
        for found in _files(pattern):
            if _read(found, out, current, depth + 1):
                out.add(header or (_match(current) if current is not None else "Host *"), origin)


def _files(pattern: str) -> list[Path]:
    """The files a path names: ~ expanded, a relative path under ~/.ssh, globs sorted."""
    expanded = os.path.expanduser(pattern)
    if not os.path.isabs(expanded):
        expanded = os.path.join(os.path.expanduser("~/.ssh"), expanded)
    return [Path(p) for p in sorted(glob.glob(expanded)) if os.path.isfile(p)]


def _criteria(key: str, value: str, origin: Origin) -> list[str]:
    """A Host or Match line as Match criteria; a `Match exec` is refused (module docstring)."""
    words = _words(value, origin)
    if key == "host":
        return ["originalhost", ",".join(words)] if words else ["all"]
    index = 0
    while index < len(words):
        keyword = words[index].lstrip("!").lower()
        if keyword == "exec":
            raise ValueError(
                f"{_at(origin)}: `Match exec` would run a command: portspec does not run commands "
                "from ssh_config (pass --ssh-config with a file without it)"
            )
        index += 1 if keyword in _LONE_CRITERIA else 2
    return words


def _and(first: list[str] | None, second: list[str]) -> list[str]:
    """Both conditions: `all` (or None) is no condition."""
    if first is None or first == ["all"]:
        return second
    if second == ["all"]:
        return first
    return [*first, *second]


def _match(criteria: list[str]) -> str:
    return "Match " + " ".join(shlex.quote(w) for w in criteria)


def _words(value: str, origin: Origin) -> list[str]:
    try:
        return shlex.split(value, comments=True)
    except ValueError:
        if "exec" in value.lower():  # an unreadable Match may hide an exec: refused all the same
            raise ValueError(
                f"{_at(origin)}: `Match exec` would run a command: portspec does not run "
                "commands from ssh_config (pass --ssh-config with a file without it)"
            ) from None
        raise ValueError(f"{_at(origin)}: cannot read this line (unbalanced quotes)") from None


def _at(origin: Origin) -> str:
    return f"{origin[0]}:{origin[1]}"
