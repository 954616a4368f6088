"""A tiny YAML reader for the subset our config files use (PyYAML is not a dependency).

Block mappings and block sequences of scalars by indentation, one-line flow sequences of
scalars, quoted and plain scalars, comments. Anything else raises, so a config that outgrows
the subset fails its test loudly instead of being misread.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_KEY = re.compile(r"^([A-Za-z0-9_./-]+):(?:\s+(.*))?$")


@dataclass(frozen=True)
class _Line:
    number: int
    indent: int
    text: str


def parse(source: str) -> Any:
    """The document as dicts, lists and strings (numbers and booleans stay strings)."""
    lines = _lines(source)
    if not lines:
        return None
    value, index = _block(lines, 0, lines[0].indent)
    if index != len(lines):
        raise ValueError(f"line {lines[index].number}: unexpected indentation")
    return value


def _lines(source: str) -> list[_Line]:
    """Significant lines without comments."""
    lines = []
    for number, raw in enumerate(source.splitlines(), 1):
        if "\t" in raw[: len(raw) - len(raw.lstrip())]:
            raise ValueError(f"line {number}: tab indentation")
        text = _strip_comment(raw).rstrip()
        if text.strip():
            lines.append(_Line(number, len(text) - len(text.lstrip()), text.strip()))
    return lines


def _strip_comment(raw: str) -> str:
    """The line up to a ``#`` that starts a comment (outside quotes, after a space)."""
    quote = ""
    for index, char in enumerate(raw):
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == "#" and (index == 0 or raw[index - 1].isspace()):
            return raw[:index]
    return raw


def _block(lines: list[_Line], index: int, indent: int) -> tuple[Any, int]:
    """A mapping or a sequence starting at ``index``."""
    if lines[index].text.startswith("- "):
        return _sequence(lines, index, indent)
    return _mapping(lines, index, indent)


def _mapping(lines: list[_Line], index: int, indent: int) -> tuple[dict[str, Any], int]:
    """Keys at ``indent`` and their values."""
    result: dict[str, Any] = {}
    while index < len(lines) and lines[index].indent == indent:
        line = lines[index]
        match = _KEY.match(line.text)
        if match is None:
            raise ValueError(f"line {line.number}: expected 'key: value', got {line.text!r}")
        key, rest = match.group(1), match.group(2)
        if key in result:
            raise ValueError(f"line {line.number}: duplicate key {key!r}")
        index += 1
        if rest:
            result[key] = _scalar(rest, line.number)
        elif index < len(lines) and lines[index].indent > indent:
            result[key], index = _block(lines, index, lines[index].indent)
        elif index < len(lines) and lines[index].text.startswith("- "):
            result[key], index = _sequence(lines, index, indent)
        else:
            result[key] = None
    return result, index


def _sequence(lines: list[_Line], index: int, indent: int) -> tuple[list[Any], int]:
    """``- scalar`` items at ``indent``."""
    items = []
    while index < len(lines) and lines[index].indent == indent:
        line = lines[index]
        if not line.text.startswith("- "):
            break
        item = line.text[2:].strip()
        if _KEY.match(item):
            raise ValueError(f"line {line.number}: mappings inside sequences are not supported")
        items.append(_scalar(item, line.number))
        index += 1
    return items, index


def _scalar(text: str, number: int) -> Any:
    """A quoted or plain scalar, or a one-line flow sequence of them."""
    if text.startswith("[") and text.endswith("]"):
        inner = text[1:-1].strip()
        return [_scalar(part.strip(), number) for part in _split_flow(inner)] if inner else []
    if text[:1] in "{|>&*!":
        raise ValueError(f"line {number}: unsupported YAML construct {text!r}")
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


def _split_flow(inner: str) -> list[str]:
    """Split a flow sequence's items on commas outside quotes."""
    parts, quote, current = [], "", ""
    for char in inner:
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == ",":
            parts.append(current)
            current = ""
            continue
        current += char
    parts.append(current)
    return parts
