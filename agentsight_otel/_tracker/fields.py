"""Checking conversation fields and counts, and the attributes they become."""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable, Mapping
from typing import Any

from agentsight_otel import _semconv as sc
from agentsight_otel._checks import check_environment
from agentsight_otel._fields import FIELDS, Kind
from agentsight_otel._redaction import Redactor
from agentsight_otel._sanitize import MAX_FIELD, encode_metadata, optional_field
from agentsight_otel.exceptions import ConfigurationError, ValidationError

# Backends keep counts in signed 64-bit columns; a larger one would fail the whole batch.
MAX_TOKENS = 2**63 - 1


def conversation_id(value: object) -> str | None:
    """A conversation id (non-blank string up to 255 characters), or None when not given."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(f"conversation_id must be a string, not {type(value).__name__}")
    cid = value.strip()
    if not cid:
        raise ValidationError("conversation_id must not be empty or whitespace")
    if len(cid) > MAX_FIELD:
        raise ValidationError(f"conversation_id is longer than {MAX_FIELD} characters")
    if not cid.isascii() and not _is_unicode(cid):
        raise ValidationError("conversation_id must be valid Unicode (it has lone surrogates)")
    return cid


def _is_unicode(text: str) -> bool:
    """False for text with lone surrogates, which no UTF-8 encoder or backend accepts."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def required_field(value: object, name: str) -> str:
    """A required short text field (button fields): non-blank, clipped to 255 characters."""
    text = optional_field(value, name)
    if text is None:
        raise ValidationError(f"{name} is required and must not be empty or whitespace")
    return text


def token_count(value: object, name: str) -> int:
    """A non-negative integer token count."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{name} must be an integer, not {type(value).__name__}")
    if value < 0:
        raise ValidationError(f"{name} must not be negative")
    if value > MAX_TOKENS:
        raise ValidationError(f"{name} is larger than a 64-bit count ({MAX_TOKENS})")
    return value


def check_timeout(value: object) -> None:
    """``send_tracked_data``'s timeout: None or a number of seconds (negative means 0)."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValidationError(f"timeout must be a number of seconds, not {type(value).__name__}")
    try:
        seconds = float(value)
    except OverflowError:  # an int too large for a float
        raise ValidationError("timeout is too large a number of seconds") from None
    if math.isnan(seconds):
        raise ValidationError("timeout must be a number of seconds, not NaN")


def conversation_fields(
    given: Mapping[str, object], redactor: Redactor | None = None
) -> dict[str, Any]:
    """Span attributes for the fields given (None means "leave as it is"), free text redacted.

    ``given`` is the public call's ``locals()``: its explicit parameters, read by table name.
    """
    attributes: dict[str, Any] = {}
    for field in FIELDS:
        value = given[field.name]
        if value is None:
            continue
        if redactor is not None and field.kind.redacted:
            value = redactor.value(value) if field.kind is Kind.JSON else redactor.text(value)
        checked = _CHECKS[field.kind](value, field.name)
        if checked is not None:
            attributes[field.attribute] = checked
    return attributes


def _text(value: object, name: str) -> str | None:
    """Free text: a string, clipped to 255 characters; None when blank."""
    return optional_field(value, name)


def _ip_address(value: object, name: str) -> str | None:
    """An IPv4 or IPv6 address in its canonical form; None when blank."""
    text = optional_field(value, name)
    if text is None:
        return None
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise ValidationError(f"{name} is not an IPv4 or IPv6 address") from None


def _environment(value: object, name: str) -> str:
    """An environment slug (an alias made canonical)."""
    try:
        return check_environment(value, name)[:MAX_FIELD]
    except ConfigurationError as exc:
        raise ValidationError(str(exc)) from None


def _json_object(value: object, name: str) -> str | None:
    """A JSON object (a dict or other mapping) as compact JSON text."""
    return encode_metadata(value, name)


# How the tracker checks each kind of field, and what it makes of it.
_CHECKS: dict[Kind, Callable[[object, str], str | None]] = {
    Kind.TEXT: _text,
    Kind.IP: _ip_address,
    Kind.ENVIRONMENT: _environment,
    Kind.JSON: _json_object,
}


def identity_attributes(cid: str) -> dict[str, Any]:
    """The conversation id under AgentSight's name and the names other tools read."""
    return {sc.CONVERSATION_ID: cid, sc.GEN_AI_CONVERSATION_ID: cid, sc.SESSION_ID: cid}


def base_attributes(cid: str, environment: str) -> dict[str, Any]:
    """The attributes every turn of a new conversation starts with."""
    return {**identity_attributes(cid), sc.CONVERSATION_FIELDS["environment"]: environment}
