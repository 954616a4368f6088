"""Naming a call's arguments: planned once per function, cheap on every call."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

# A first positional parameter with one of these names is the instance or class: not recorded.
_RECEIVERS = frozenset({"self", "cls"})
_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


class ArgumentPlan:
    """Gives what ``Signature.bind`` plus ``apply_defaults`` gives, without binding per call.

    The result is in signature order; ``self``/``cls`` are left out; ``*args`` becomes a tuple
    and ``**kwargs`` a dict under their own names, as the vendor SDK records them.
    """

    __slots__ = (
        "_count",
        "_keyword_only",
        "_keywords",
        "_named",
        "_positional",
        "_receiver",
        "_skip",
        "_tails",
        "_var_keyword",
        "_var_positional",
    )

    def __init__(self, signature: inspect.Signature) -> None:
        params = list(signature.parameters.values())
        positional = [p for p in params if p.kind in _POSITIONAL]
        self._receiver = (
            positional[0].name if positional and positional[0].name in _RECEIVERS else None
        )
        self._positional = tuple(p.name for p in positional)
        self._count = len(self._positional)
        self._skip = 1 if self._receiver is not None else 0
        self._named = self._positional[self._skip :]
        self._keyword_only = tuple(
            (p.name, p.default) for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY
        )
        star = [p.name for p in params if p.kind is inspect.Parameter.VAR_POSITIONAL]
        dstar = [p.name for p in params if p.kind is inspect.Parameter.VAR_KEYWORD]
        self._var_positional = star[0] if star else None
        self._var_keyword = dstar[0] if dstar else None
        self._keywords = frozenset(
            [p.name for p in positional if p.kind is not inspect.Parameter.POSITIONAL_ONLY]
            + [name for name, _ in self._keyword_only]
        )
        # For a call with n positional arguments and no keywords: what follows them, in order.
        self._tails = tuple(self._tail(positional[n:]) for n in range(len(positional) + 1))

    def _tail(self, rest: list[inspect.Parameter]) -> dict[str, Any]:
        """Defaults of the parameters after the given ones, in signature order."""
        tail = {p.name: p.default for p in rest if p.default is not inspect.Parameter.empty}
        if self._var_positional is not None:
            tail[self._var_positional] = ()
        tail.update(
            (name, default)
            for name, default in self._keyword_only
            if default is not inspect.Parameter.empty
        )
        return tail

    @classmethod
    def of(cls, func: Callable[..., Any]) -> ArgumentPlan | None:
        """The plan for ``func``, or None when its signature cannot be read (some builtins)."""
        try:
            return cls(inspect.signature(func))
        except (TypeError, ValueError):
            return None

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """The call's arguments by parameter name."""
        if kwargs or len(args) > self._count:
            return self._bind_general(args, kwargs)
        # Positional arguments only: most calls. (zip's strict= would make it ~5x slower.)
        bound = dict(zip(self._named, args[self._skip :]))  # noqa: B905
        tail = self._tails[len(args)]
        if tail:
            bound.update(tail)
        if self._var_keyword is not None:
            bound[self._var_keyword] = {}
        return bound

    def _bind_general(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """Keywords, surplus positionals or both; never raises for a call Python would refuse."""
        names = self._positional
        bound = dict(zip(names, args))  # noqa: B905 (strict= makes zip ~5x slower)
        tail = self._tails[min(len(args), len(names))]
        for name in names[len(args) :]:
            if name in kwargs and name in self._keywords:
                bound[name] = kwargs[name]
            elif name in tail:
                bound[name] = tail[name]
        extra = args[len(names) :]
        if self._var_positional is not None:
            bound[self._var_positional] = extra
        else:
            bound.update((f"arg{len(names) + i}", value) for i, value in enumerate(extra))
        for name, default in self._keyword_only:
            if name in kwargs:
                bound[name] = kwargs[name]
            elif default is not inspect.Parameter.empty:
                bound[name] = default
        rest = {k: v for k, v in kwargs.items() if k not in self._keywords}
        if self._var_keyword is not None:
            bound[self._var_keyword] = rest
        else:
            bound.update(rest)
        if self._receiver is not None:
            bound.pop(self._receiver, None)
        return bound


def positional_fallback(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """Arguments of a function without a readable signature: ``arg0``, ``arg1``, keywords."""
    bound = {f"arg{i}": value for i, value in enumerate(args)}
    bound.update(kwargs)
    return bound
