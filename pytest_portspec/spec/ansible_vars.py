"""One Ansible host's variables as `ansible-inventory --list` shows them, read as values (pure).

Every value is untrusted text: a Jinja template (`{{ ... }}`) is not evaluated and a vault value
(`{"__ansible_vault": ...}`) not decrypted; either is a problem naming the host and the variable,
never used as it is. A `!unsafe` value (`{"__ansible_unsafe": ...}`) is plain text by definition.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pytest_portspec.errors import Problem
from pytest_portspec.text import quoted

_TRUE = frozenset({"true", "yes", "on", "y", "t", "1"})  # Ansible's boolean filter's words
_FALSE = frozenset({"false", "no", "off", "n", "f", "0"})
_TEMPLATE = ("{{", "{%", "{#")


@dataclass
class HostVars:
    source: str  # the inventory path, for the problems
    host: str  # the inventory hostname
    values: Mapping[str, object]
    problems: list[Problem] = field(default_factory=list)

    def problem(self, var: str, message: str) -> None:
        self.problems.append(Problem(self.source, None, f"{self.host}.{var}" if var else self.host, message))

    def has(self, var: str) -> bool:
        return var in self.values and self.values[var] is not None

    def raw(self, var: str) -> object:
        """The value, unwrapped from `!unsafe`; None (a problem said) for a template or a vault."""
        value = self.values.get(var)
        if isinstance(value, Mapping) and set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        if isinstance(value, Mapping) and "__ansible_vault" in value:
            self.problem(var, "a vault-encrypted value: portspec does not decrypt vaults")
            return None
        if isinstance(value, str) and any(mark in value for mark in _TEMPLATE):
            self.problem(var, f"{quoted(value)} is a Jinja template: portspec does not evaluate templates")
            return None
        return value

    def text(self, var: str) -> str | None:
        value = self.raw(var)
        if value is None:
            return None
        if isinstance(value, float):  # an INI line's 21.10 arrives as 21.1: which one was meant?
            self.problem(
                var, f"{value!r} arrived as a number: quote it ('{value!r}') so it stays the text written"
            )
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            self.problem(var, f"expected text, found {quoted(value)}")
            return None
        text = str(value).strip()
        if not text:
            self.problem(var, "expected text, found an empty value")
            return None
        return text

    def names(self, var: str) -> tuple[str, ...]:
        """A name, a list of names, or names separated by commas (an INI line's `a,b`)."""
        value = self.raw(var)
        if value is None:
            return ()
        items = (
            value if isinstance(value, list) else str(value).split(",") if isinstance(value, str) else None
        )
        if items is None or not all(isinstance(i, str) and i.strip() for i in items):
            self.problem(var, f"expected a name or a list of names, found {quoted(value)}")
            return ()
        found = tuple(i.strip() for i in items)
        for i in found:
            if any(mark in i for mark in _TEMPLATE):
                self.problem(var, f"{quoted(i)} is a Jinja template: portspec does not evaluate templates")
                return ()
        return found

    def flag(self, var: str) -> bool | None:
        value = self.raw(var)
        if value is None:
            return None
        if isinstance(value, bool):
            return value
        word = str(value).strip().lower() if isinstance(value, (str, int)) else ""
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
        self.problem(var, f"expected true or false, found {quoted(value)}")
        return None

    def port(self, var: str) -> int | None:
        value = self.raw(var)
        if value is None:
            return None
        number = value if isinstance(value, int) and not isinstance(value, bool) else None
        if isinstance(value, str) and value.strip().isdigit():
            number = int(value.strip())
        if number is None or not 1 <= number <= 65535:
            self.problem(var, f"expected an SSH port 1-65535, found {quoted(value)}")
            return None
        return number
