"""The user's choices checked against what a spec offers: profile (or firmware), conditions, role.

Each unknown name is a SelectionError that names what the spec does offer.
"""

from __future__ import annotations

from collections.abc import Sequence

from pytest_portspec.errors import SelectionError
from pytest_portspec.spec.expectations import ConditionChoice
from pytest_portspec.spec.model import Profile, Spec, Version, parse_version
from pytest_portspec.spec.yamlsrc import suggest
from pytest_portspec.text import quoted

ALL = "all"


def choose_profile(spec: Spec, name: str | None, firmware: str | None) -> Profile:
    version = _version(firmware) if firmware is not None else None
    if name is not None:
        if name not in spec.profiles:
            raise SelectionError(
                f"spec {spec.name!r} has no profile {quoted(name)}{suggest(name, list(spec.profiles))}; "
                f"profiles: {', '.join(spec.profiles)}"
            )
        chosen = spec.profiles[name]
        if version is not None and chosen.firmware and not chosen.firmware.contains(version):
            raise SelectionError(
                f"profile {name!r} of {spec.name!r} is for firmware {chosen.firmware}, not {firmware}"
            )
        return chosen
    if version is None:
        return spec.default_profile
    fitting = [p for p in spec.profiles.values() if p.firmware is None or p.firmware.contains(version)]
    if spec.default_profile in fitting:
        return spec.default_profile
    if len(fitting) == 1:
        return fitting[0]
    names = ", ".join(p.name for p in fitting) or "none"
    raise SelectionError(
        f"firmware {firmware} of {spec.name!r} fits profiles: {names}; choose one with --profile"
    )


def _version(text: str) -> Version:
    version = parse_version(text)
    if version is None:
        raise SelectionError(f"firmware version {quoted(text)} is not a dotted number such as 1.6")
    return version


def choose_conditions(spec: Spec, enable: Sequence[str], disable: Sequence[str]) -> list[ConditionChoice]:
    known = list(spec.conditions)
    for name in [*enable, *disable]:
        if name != ALL and name not in spec.conditions:
            offered = ", ".join(known) or "none"
            raise SelectionError(
                f"spec {spec.name!r} has no condition {quoted(name)}{suggest(name, known)}; "
                f"conditions: {offered}"
            )
    both = sorted(set(enable) & set(disable))
    if both:
        raise SelectionError(f"condition {quoted(both[0])} is both enabled and disabled")
    choices = []
    for condition in spec.conditions.values():
        name = condition.name
        if name in disable:
            choices.append(ConditionChoice(name, False, f"--disable {name}"))
        elif name in enable:
            choices.append(ConditionChoice(name, True, f"--enable {name}"))
        elif ALL in enable:
            choices.append(ConditionChoice(name, True, "--enable all"))
        elif ALL in disable:
            choices.append(ConditionChoice(name, False, "--disable all"))
        else:
            choices.append(ConditionChoice(name, condition.default, "default"))
    return choices


def check_role(spec: Spec, role: str | None) -> None:
    if role is not None and role not in spec.roles:
        offered = ", ".join(spec.roles) or "none (it describes a single node)"
        raise SelectionError(
            f"spec {spec.name!r} has no role {quoted(role)}{suggest(role, list(spec.roles))}; "
            f"roles: {offered}"
        )
