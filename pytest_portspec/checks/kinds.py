"""The registry of check kinds: the one place a kind is named, and every list of kinds read from it.

A kind is one line of `KINDS` below and its module's declaration: the line gives what must be known
without the checks' machinery (the plugin's markers, the waiver file's `check:` values, the report's
columns), the declaration what runs (which rows have the check, its evaluation):

    KINDS = (..., CheckKind("icmp", "row", "pytest_portspec.checks.icmp:ICMP"))
    ICMP = RowCheck(applies=has_icmp_check, evaluate=check_icmp)       # at checks/icmp.py's end

The order of `KINDS` is the order of the markers, of the choices a waiver file is told, of a row's
items (kinds in this order) and of the report's columns. A device's device-wide items follow its
rows' items in the order of their keys. This module stays light (the plugin reads it at load): the
declarations are imported only when checks are planned or run.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, overload

if TYPE_CHECKING:
    from pytest_portspec.checks.context import Declarations, Facts
    from pytest_portspec.checks.verdict import Verdict
    from pytest_portspec.spec.policy import EffectivePolicy, Expectation

Scope = Literal["row", "device", "site"]  # a row's check on one device; a device-wide one; a flow of a site
NAME = re.compile(r"[a-z][a-z0-9_]*")  # a pytest marker (`pytest.mark.NAME`, `-m NAME`) and node id part


@dataclass(frozen=True)
class CheckKind:
    """A kind of check as registered: its name (marker, node id suffix, report column, results file's
    `check`), its scope, and where its declaration is ("module:ATTRIBUTE", imported when used)."""

    name: str
    scope: Scope
    declared_in: str

    def __post_init__(self) -> None:
        if not NAME.fullmatch(self.name):
            raise ValueError(f"check kind {self.name!r}: expected a lower-case name ([a-z][a-z0-9_]*)")
        if self.declared_in.count(":") != 1:
            raise ValueError(
                f"check kind {self.name!r}: expected MODULE:ATTRIBUTE, found {self.declared_in!r}"
            )

    @property
    def column(self) -> bool:
        """Row and site kinds are columns of the report's matrices; device-wide kinds have sections."""
        return self.scope != "device"


@dataclass(frozen=True)
class RowCheck:
    """A row kind's declaration: which rows have the check on a device (whether or not the row
    applies there: skips are reported too), and its evaluation of one row on one device."""

    applies: Callable[[Expectation], bool]
    evaluate: Callable[[Expectation, Facts, Declarations], Verdict]
    # a row that no kind has still gets an item of the kinds saying so here (a manual row's skip)
    otherwise: Callable[[Expectation], bool] | None = None


@dataclass(frozen=True)
class DeviceCheck:
    """A device-wide kind's declaration: its items' keys, and the evaluation of one key on a device."""

    keys: tuple[str, ...]
    evaluate: Callable[[EffectivePolicy, Facts, Declarations, str], Verdict]


@dataclass(frozen=True)
class SiteCheck:
    """A site kind's declaration (a node-to-node flow): its items are planned from the site's flows."""

    evaluate: Callable[..., Verdict]


Declaration = RowCheck | DeviceCheck | SiteCheck
DECLARED: dict[Scope, type[Declaration]] = {"row": RowCheck, "device": DeviceCheck, "site": SiteCheck}

# the registration list: the one line a new check kind adds (besides its module's declaration)
KINDS: tuple[CheckKind, ...] = (
    CheckKind("ufw", "row", "pytest_portspec.checks.firewall:UFW"),
    CheckKind("listening", "row", "pytest_portspec.checks.sockets:LISTENING"),
    CheckKind("outbound", "row", "pytest_portspec.checks.reach:OUTBOUND"),
    CheckKind("inbound", "row", "pytest_portspec.checks.reach:INBOUND"),
    CheckKind("exposure", "device", "pytest_portspec.checks.exposure:EXPOSURE"),
    CheckKind("default", "device", "pytest_portspec.checks.defaults:DEFAULT"),
    CheckKind("pair", "site", "pytest_portspec.checks.flows:PAIR"),
)
_registered: list[CheckKind] = list(KINDS)


def registered() -> tuple[CheckKind, ...]:
    return tuple(_registered)


def names(scope: Scope | None = None) -> tuple[str, ...]:
    """The registered kinds' names (of one scope), in registration order."""
    return tuple(k.name for k in _registered if scope is None or k.scope == scope)


def columns(scope: Literal["row", "site"] = "row") -> tuple[str, ...]:
    """The report matrix's check columns: a device's (row kinds) or a site's (site kinds)."""
    return tuple(k.name for k in _registered if k.column and k.scope == scope)


def kind(name: str) -> CheckKind:
    for k in _registered:
        if k.name == name:
            return k
    raise KeyError(f"no check kind {name!r} (registered: {', '.join(names())})")


class _Names(Sequence[str]):
    """The registered names, read when used: the plugin's markers include a kind a conftest registers."""

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return names()[index]

    def __len__(self) -> int:
        return len(_registered)

    def __iter__(self) -> Iterator[str]:
        return iter(names())


NAMES: Sequence[str] = _Names()


def register(new: CheckKind) -> None:
    """Add a kind after the built-in ones (a plugin's or a test's) before the session is configured, e.g.
    from a conftest: the markers and waiver choices are read then, the report's columns when
    report/data.py is first imported."""
    if new.name in names():
        raise ValueError(f"check kind {new.name!r} is registered already")
    _registered.append(new)


def unregister(name: str) -> None:
    _registered.remove(kind(name))


def declaration(of: CheckKind) -> Declaration:
    """A kind's declaration, from its module (imported here: the checks' machinery loads when used)."""
    module, _, attribute = of.declared_in.partition(":")
    found = getattr(importlib.import_module(module), attribute, None)
    wanted = DECLARED[of.scope]
    if not isinstance(found, wanted):
        raise TypeError(f"check kind {of.name!r}: {of.declared_in} is not a {wanted.__name__}")
    return found


def row_checks() -> list[tuple[str, RowCheck]]:
    """The row kinds with their declarations, in registration order."""
    found = [(k.name, declaration(k)) for k in _registered if k.scope == "row"]
    return [(name, d) for name, d in found if isinstance(d, RowCheck)]


def device_items() -> list[tuple[str, str, DeviceCheck]]:
    """A device's device-wide items as (key, kind, declaration), in the order of their keys."""
    found = [(k.name, declaration(k)) for k in _registered if k.scope == "device"]
    items = [(key, name, d) for name, d in found if isinstance(d, DeviceCheck) for key in d.keys]
    return sorted(items, key=lambda item: item[0])
