"""The settings-table mechanism: each setting declared once, as a dataclass field, with its
environment variable, default, check and one-line doc; resolution reads the table.

Used by the delivery settings (``_config.Settings``) and the bridge (``_bridge.config``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

from agentsight_otel.exceptions import ConfigurationError

T = TypeVar("T")
# A check takes a value and where it came from (an argument or a variable, for the message)
# and returns the value to keep, or raises ConfigurationError.
Check = Callable[[Any, str], Any]
_KEY = "agentsight_otel.setting"


@dataclass(frozen=True)
class Param:
    """One row of a settings table."""

    name: str
    default: Any
    check: Check
    doc: str
    env: str | None = None
    # Reads the variable's text when it differs from ``check`` (say, "1" for True).
    from_env: Check | None = None
    # Where the setting is a keyword argument (``configure``, ``exporter``); () for none.
    arguments: tuple[str, ...] = ()
    # How docs/configuration.md shows the default when its repr would not say it well.
    shown_default: str | None = None

    def read_env(self, environ: Mapping[str, str]) -> str | None:
        """The variable's stripped text; None when unset or blank."""
        if self.env is None:
            return None
        raw = environ.get(self.env, "").strip()
        return raw or None

    def parse_env(self, raw: str) -> Any:
        """The variable's text, checked (raises ConfigurationError)."""
        return (self.from_env or self.check)(raw, self.env or self.name)


def setting(
    default: T,
    *,
    check: Check,
    doc: str,
    env: str | None = None,
    from_env: Check | None = None,
    arguments: tuple[str, ...] = (),
    shown_default: str | None = None,
    compare: bool = True,
    repr: bool = True,
) -> T:
    """A dataclass field that is a row of the settings table."""
    row = {
        "check": check,
        "doc": doc,
        "env": env,
        "from_env": from_env,
        "arguments": arguments,
        "shown_default": shown_default,
    }
    made: T = field(default=default, compare=compare, repr=repr, metadata={_KEY: row})
    return made


def table(cls: type) -> tuple[Param, ...]:
    """The settings table a dataclass declares, in field order."""
    return tuple(
        Param(name=f.name, default=f.default, **f.metadata[_KEY])
        for f in fields(cls)
        if _KEY in f.metadata
    )


def checked(rows: Iterable[Param], explicit: Mapping[str, object], what: str) -> dict[str, Any]:
    """The explicit values that are not None, each through its check; unknown names refused."""
    by_name = {row.name: row for row in rows}
    unknown = set(explicit) - set(by_name)
    if unknown:
        raise ConfigurationError(f"unknown {what}(s): {', '.join(sorted(unknown))}")
    return {
        name: by_name[name].check(value, name)
        for name, value in explicit.items()
        if value is not None
    }


def from_environment(
    rows: Iterable[Param],
    environ: Mapping[str, str] | None = None,
    on_error: Callable[[Param, ConfigurationError], None] | None = None,
) -> dict[str, Any]:
    """The values the environment sets; a bad one goes to ``on_error`` (raised without it)."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for row in rows:
        raw = row.read_env(env)
        if raw is None:
            continue
        try:
            values[row.name] = row.parse_env(raw)
        except ConfigurationError as exc:
            if on_error is None:
                raise
            on_error(row, exc)
    return values


def arguments_of(rows: Iterable[Param], where: str, values: Mapping[str, object]) -> dict[str, Any]:
    """The settings a function of ``where`` was given (its ``locals()``), None left out."""
    return {
        row.name: values[row.name]
        for row in rows
        if where in row.arguments and values.get(row.name) is not None
    }
