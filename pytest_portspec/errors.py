"""The exceptions pytest-portspec raises, in one tree.

    PortspecError                 base: anything this package raises on purpose
    ├── SpecError                 one or more spec files cannot be used
    │                             (each Problem names file, line, key path, what is wrong)
    ├── SpecNotFoundError         a spec name or path that does not exist
    ├── ConfigurationError        a run's devices and options do not fit together (a device
    │                             given twice, a --port row no spec has, a role missing)
    ├── SelectionError            a profile, condition, role or firmware choice the spec
    │                             does not offer
    ├── LabError                  the emulator cannot do what was asked (not root, a system
    │   │                         tool missing, a name already up, a bad drift)
    │   └── LabCommandError       a system command of the emulator failed (carries the
    │                             command and its output)
    ├── DeviceError               a device cannot be checked: unreachable, SSH refused,
    │                             authentication, host key, sudo, a missing tool, a lost
    │                             connection (carries the device; every item of it errors)
    └── RulesetError              a firewall ruleset (iptables-save, nft JSON, ipset) has a
                                  line the model cannot read (carries the source, table,
                                  chain and line)

Every message is meant for the person running the tool: one sentence (or one line
per problem) that says where and what, never a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a spec (or other YAML input) file."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class PortspecError(Exception):
    """Base class of every error pytest-portspec raises on purpose."""


class SpecError(PortspecError):
    """A spec file is malformed or inconsistent; carries every problem found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class SpecNotFoundError(PortspecError):
    """No spec has the given name (or the given path does not exist)."""


class ConfigurationError(PortspecError):
    """The devices and options of a run do not fit together; one sentence naming the device or option."""


class SelectionError(PortspecError):
    """A profile, condition, role or firmware version that a spec does not offer."""


class LabError(PortspecError):
    """The emulator cannot do what was asked; the message says what to do instead."""


class LabCommandError(LabError):
    """A system command run by the emulator failed."""

    def __init__(self, argv: Sequence[str], returncode: int, output: str) -> None:
        self.argv = tuple(argv)
        self.returncode = returncode
        self.output = output
        shown = " ".join(self.argv)
        detail = output.strip().splitlines()[-1] if output.strip() else "no output"
        super().__init__(f"command failed ({returncode}): {shown}: {detail}")


class DeviceError(PortspecError):
    """A device cannot be checked; the message says why in one sentence, naming the device."""

    def __init__(self, device: str, message: str) -> None:
        self.device = device
        self.reason = message
        super().__init__(f"{device}: {message}")


class RulesetError(PortspecError):
    """A ruleset text cannot be read; the message names the source, table, chain and line."""

    def __init__(self, source: str, where: str, message: str) -> None:
        self.source = source
        self.where = where
        super().__init__(f"{source}: {where}: {message}" if where else f"{source}: {message}")
