"""Optional PII redaction: e-mail addresses, card numbers and your own patterns, at the call.

The tracker applies a ``Redactor`` to every free-text field before it creates the span or
event, so every route out of the process (the AgentSight exporter, the Collector, any other
exporter on the provider) only ever sees the redacted values; the mapping redacts the same
fields of whatever spans it is given (the bridge). The fields: ``_mapping/redacted.py``.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

from agentsight_otel._checks import bool_from_env
from agentsight_otel._log import RateLimitedLog
from agentsight_otel._sanitize import MAX_TEXT, jsonable
from agentsight_otel.exceptions import ConfigurationError

EMAIL_REPLACEMENT = "[redacted-email]"
CARD_REPLACEMENT = "[redacted-card]"
FAILED_REPLACEMENT = "[redaction-failed]"

# A match may only start where no local-part character precedes it, so every run of such
# characters is scanned once: linear time on any input (3.10 has no possessive quantifiers).
_EMAIL = re.compile(r"(?<![\w.%+-])[\w.%+-]+@[\w-]+(?:\.[\w-]+)+")
# A candidate: a run of ASCII digits, spaces and dashes, 13 characters or more, from a digit
# to a digit. Starting with a character class lets the engine skip to the next digit at once.
_DIGIT_RUN = re.compile(r"[0-9][0-9 -]{11,}[0-9]")
_DIGIT_GROUP = re.compile(r"[0-9]+")
_CARD_MIN, _CARD_MAX = 13, 19
_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)  # a digit's Luhn contribution when doubled
# The encoder keeps MAX_TEXT characters of a text; redacting a few times more bounds the work
# on enormous input while a token cut at the MAX_TEXT boundary is still seen whole.
_CLIP = 4 * MAX_TEXT
_LOG = RateLimitedLog()
# Values with no text of the caller's in them (bytes are encoded as base64, never read).
_UNTOUCHED = (bool, float, bytes, bytearray, memoryview, dt.date, dt.time, type(None))
_SCALARS = frozenset({str, int, float, bool, type(None)})

TextHook = Callable[[str], str]
Pattern = tuple["str | re.Pattern[str]", "str | Callable[[re.Match[str]], str]"]


class Redactor:
    """Replaces e-mail addresses, Luhn-valid card numbers and your patterns in tracked text.

    ``patterns`` are ``(regex, replacement)`` pairs applied with ``re.sub`` after the built-in
    ones; ``function`` (text in, text out) runs last. If ``function`` raises or returns
    something other than a string, the text is replaced by ``[redaction-failed]``: a failing
    hook never lets the original through.
    """

    __slots__ = ("_cards", "_emails", "_function", "_patterns")

    def __init__(
        self,
        *,
        emails: bool = True,
        cards: bool = True,
        patterns: Iterable[Pattern] = (),
        function: TextHook | None = None,
    ) -> None:
        if function is not None and not callable(function):
            raise ConfigurationError("Redactor(function=...) must be callable")
        self._emails = bool(emails)
        self._cards = bool(cards)
        self._patterns = tuple(_compile(pattern) for pattern in patterns)
        self._function = function

    def __repr__(self) -> str:
        hook = getattr(self._function, "__name__", None) if self._function else None
        return (
            f"Redactor(emails={self._emails}, cards={self._cards}, "
            f"patterns={len(self._patterns)}, function={hook})"
        )

    def text(self, value: object) -> Any:
        """A string with PII replaced; anything else as it is (validation judges it)."""
        return self._apply(value) if isinstance(value, str) else value

    def value(self, value: object) -> Any:
        """Strings, and the keys, strings and card-like integers inside containers, redacted."""
        if isinstance(value, str):
            return self._apply(value)
        if isinstance(value, _UNTOUCHED):
            return value
        if type(value) is int:
            return _card_int(value)
        if type(value) is dict and all(
            type(k) is str and type(v) in _SCALARS for k, v in value.items()
        ):
            # The common flat metadata dict: no copy through the general conversion.
            return {self._walk(k): self._walk(v) for k, v in value.items()}
        # Containers and other objects as the encoder would see them: a JSON-safe copy
        # (cycles, depth and odd types resolved, objects as their text), then redacted.
        return self._walk(jsonable(value))

    def _walk(self, node: object) -> object:
        """A redacted copy of a JSON-safe tree (at most ``sanitize.MAX_DEPTH`` deep)."""
        if isinstance(node, str):
            return self._apply(node)
        if isinstance(node, dict):
            return {self._apply(key): self._walk(item) for key, item in node.items()}
        if isinstance(node, list):
            return [self._walk(item) for item in node]
        if type(node) is int:
            return _card_int(node)
        return node

    def _apply(self, text: str) -> str:
        """Every enabled rule, in order, over one string."""
        if len(text) > _CLIP:
            text = text[:_CLIP]
        if self._emails and "@" in text:
            text = _EMAIL.sub(EMAIL_REPLACEMENT, text)
        # Searching first is cheaper than sub's setup on the many strings holding no candidate.
        if self._cards and len(text) >= _CARD_MIN and _DIGIT_RUN.search(text):
            text = _DIGIT_RUN.sub(_redact_run, text)
        for pattern, replacement in self._patterns:
            text = pattern.sub(replacement, text)
        if self._function is not None:
            text = self._call(text)
        return text

    def _call(self, text: str) -> str:
        """The user's hook; on any failure the text is withheld, never passed through."""
        try:
            result = self._function(text)  # type: ignore[misc]
        except Exception as exc:  # the caller's hook, not ours: warned about, text withheld
            _warn(f"raised {type(exc).__name__}")
            return FAILED_REPLACEMENT
        if not isinstance(result, str):
            _warn(f"returned {type(result).__name__}, not str")
            return FAILED_REPLACEMENT
        return result


def redactor_from(option: object, source: str = "redact") -> Redactor | None:
    """``True`` (built-in rules), ``False`` (off), a ``Redactor``, or a text callable."""
    if option is True:
        return Redactor()
    if option is False:
        return None
    if isinstance(option, Redactor):
        return option
    if callable(option):
        return Redactor(function=option)
    raise ConfigurationError(
        f"{source} must be True, False, a Redactor or a callable taking and returning str"
    )


def redactor_from_env(raw: str, source: str) -> Redactor | None:
    """The environment switch: 1/true/yes/on turns the built-in rules on, 0/false/no/off off."""
    return Redactor() if bool_from_env(raw, source) else None


def luhn_valid(digits: str) -> bool:
    """Whether an ASCII digit string passes the Luhn checksum of payment card numbers."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        digit = ord(char) - 48
        if index % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def _redact_run(match: re.Match[str]) -> str:
    """A digit run with every Luhn-valid card number (whole groups, 13-19 digits) replaced."""
    run = match.group()
    groups = [(g.start(), g.end()) for g in _DIGIT_GROUP.finditer(run)]
    if sum(end - start for start, end in groups) < _CARD_MIN:
        return run
    pieces: list[str] = []
    done = index = 0
    while index < len(groups):
        last = _card_end(run, groups, index)
        if last is None:
            index += 1
            continue
        pieces += [run[done : groups[index][0]], CARD_REPLACEMENT]
        done, index = groups[last][1], last + 1
    return "".join(pieces) + run[done:] if pieces else run


def _card_end(run: str, groups: list[tuple[int, int]], first: int) -> int | None:
    """The last group of a card number starting at group ``first``, or None."""
    # Cards are written whole or in groups of 3 to 6 digits, so only a group of 3 or more may be
    # followed by another: constant work per group on any run. The Luhn sum is kept both ways
    # (last digit doubled or not), so each digit is added once.
    plain = doubled = count = 0
    for last in range(first, len(groups)):
        start, end = groups[last]
        if last > first and groups[last - 1][1] - groups[last - 1][0] < 3:
            return None
        for char in run[start:end]:
            digit = ord(char) - 48
            plain, doubled = doubled + digit, plain + _DOUBLED[digit]
        count += end - start
        if count > _CARD_MAX:
            return None
        if count >= _CARD_MIN and plain % 10 == 0:
            return last
    return None


def _card_int(value: int) -> object:
    """A card number given as an integer becomes the card replacement."""
    if 10 ** (_CARD_MIN - 1) <= value < 10**_CARD_MAX and luhn_valid(str(value)):
        return CARD_REPLACEMENT
    return value


def _compile(pattern: object) -> tuple[re.Pattern[str], Any]:
    """One ``(regex, replacement)`` pair, checked."""
    if not isinstance(pattern, tuple) or len(pattern) != 2:
        raise ConfigurationError("Redactor patterns are (regex, replacement) pairs")
    regex, replacement = pattern
    if not isinstance(replacement, str) and not callable(replacement):
        raise ConfigurationError("a pattern's replacement must be a string or a callable")
    try:
        return (regex if isinstance(regex, re.Pattern) else re.compile(regex)), replacement
    except (re.error, TypeError) as exc:
        raise ConfigurationError(f"invalid redaction pattern: {exc}") from None


def _warn(problem: str) -> None:
    """Rate-limited: the hook failed (its text is never logged)."""
    _LOG.log(
        logging.ERROR,
        "redaction-hook",
        f"the PII redaction hook {problem}; the text was replaced by {FAILED_REPLACEMENT}",
    )
