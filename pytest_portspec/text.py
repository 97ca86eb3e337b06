"""Text that came from a device or a file, made safe to show (pure).

    printable(text)  control and invisible characters (ESC, CR, BEL, bidi overrides) escaped
    clip(text)       at most ~200 characters of a value quoted in an error line
    quoted(value)    its repr, clipped

A device or a file is untrusted input: `ESC[2J` would clear the reviewer's terminal, `ESC]0;...BEL`
set its title, a bidi override reorder what an error line seems to say. Everything shown in a
terminal that came from outside passes through `printable` (HTML is escaped by its template engine).
"""

from __future__ import annotations

QUOTE_LIMIT = 200  # characters of a value an error line quotes


def printable(text: str) -> str:
    """One line: every character that is not printable (newline and tab too) escaped."""
    if text.isprintable():  # the common case, checked in C, not character by character
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def printable_lines(text: str) -> str:
    """Several lines: each line made printable, the newlines between them kept."""
    return "\n".join(printable(line) for line in text.split("\n"))


def clip(text: str, limit: int = QUOTE_LIMIT) -> str:
    """At most `limit` characters of a value, saying how many more there were."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"


def quoted(value: object) -> str:
    """A value as an error line quotes it: its repr, at most ~200 characters of it."""
    return clip(repr(value))
