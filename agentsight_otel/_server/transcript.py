"""A conversation rendered as aligned plain text for people to read."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from agentsight_otel._server.validation import parse_timestamp
from agentsight_otel._server.viewer_format import (
    NO_CONTENT_HINT,
    cost,
    counted,
    incomplete,
    incomplete_why,
)

WIDTH = 88
_LABEL_WIDTH = 8
_SENDERS = {"end_user": "User:", "agent": "Agent:"}
_FALLBACK_TIME = datetime.min.replace(tzinfo=timezone.utc)


def render_transcript(
    conversation: dict[str, Any],
    messages: list[dict[str, Any]],
    actions: list[dict[str, Any]],
    buttons: list[dict[str, Any]],
    attachments: list[dict[str, Any]],
    usage: dict[str, Any],
) -> str:
    """Header, a chronological timeline of everything tracked, and a token usage footer."""
    entries = [(_when(m.get("timestamp")), 0, _message_lines(m)) for m in messages]
    # Each turn that ended incomplete says so, and why, when it ended.
    entries += [
        (_when(m.get("turn_ended_at") or m.get("timestamp")), 4, _incomplete_lines(m))
        for m in _incomplete_turns(messages)
    ]
    entries += [(_when(a.get("started_at")), 1, _action_lines(a)) for a in actions]
    entries += [(_when(b.get("timestamp")), 2, _button_lines(b)) for b in buttons]
    # A record of files sent with a message is already shown under that message.
    entries += [
        (_when(f.get("timestamp")), 3, _attachment_lines(f))
        for f in attachments
        if not f.get("message_ref")
    ]
    # sorted() is stable, so messages keep their stored order when timestamps tie.
    entries.sort(key=lambda entry: (entry[0], entry[1]))
    rule = "-" * WIDTH
    lines = _header(conversation)
    if entries and entries[0][0] != _FALLBACK_TIME:
        lines.append(
            f"{'Started:':<14}{entries[0][0].astimezone(timezone.utc):%Y-%m-%d %H:%M:%S} UTC"
        )
    lines.append(rule)
    for when, _, body in entries:
        lines.extend(_stamped(when, body))
    if not messages and (usage.get("totals") or {}).get("calls"):
        lines.append(f"({NO_CONTENT_HINT})")
    elif not entries:
        lines.append("(nothing tracked yet)")
    lines += [rule, _usage_line(usage)]
    return "\n".join(lines) + "\n"


def _header(conversation: Mapping[str, Any]) -> list[str]:
    """Aligned key/value lines naming the conversation."""
    pairs = [
        ("Conversation", conversation.get("conversation_id")),
        ("Name", conversation.get("name")),
        ("Customer", conversation.get("customer_id")),
        ("Environment", conversation.get("environment")),
        ("Source", conversation.get("source")),
        ("Device", conversation.get("device")),
        ("Language", conversation.get("language")),
    ]
    return [f"{key + ':':<14}{value}" for key, value in pairs if value not in (None, "")]


def _stamped(when: datetime, body: list[str]) -> list[str]:
    """An entry's lines, the first prefixed with its UTC time and the rest indented to match."""
    stamp = "--:--:--.---" if when == _FALLBACK_TIME else _clock(when)
    pad = " " * len(stamp)
    return [f"{stamp if index == 0 else pad}  {line}".rstrip() for index, line in enumerate(body)]


def _clock(when: datetime) -> str:
    """HH:MM:SS.mmm in UTC."""
    utc = when.astimezone(timezone.utc)
    return f"{utc:%H:%M:%S}.{utc.microsecond // 1000:03d}"


def _message_lines(message: Mapping[str, Any]) -> list[str]:
    """A message, wrapped under its sender label, then the files uploaded with it."""
    sender = str(message.get("sender") or "unknown")
    label = _SENDERS.get(sender, f"{sender.replace('_', ' ').title()}:")
    lines = _labelled(label, str(message.get("content") or ""))
    for file in message.get("files") or []:
        if isinstance(file, Mapping):
            lines += _labelled("", f"+ attached {_file_text(file)}")
    return lines


def _incomplete_turns(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The last message of each turn that ended incomplete (messages come in time order)."""
    turns = {str(m.get("turn_id")): m for m in messages if m.get("turn_complete") is False}
    return list(turns.values())


def _incomplete_lines(message: Mapping[str, Any]) -> list[str]:
    """The line closing an incomplete turn: its reason and what that means."""
    reason = message.get("incomplete_reason")
    why = incomplete_why(reason)
    return _labelled("Turn:", f"ended {incomplete(reason)}" + (f" ({why})" if why else ""))


def _action_lines(action: Mapping[str, Any]) -> list[str]:
    """An action with its duration, status and error."""
    summary = f"{action.get('name')}  {float(action.get('duration_ms') or 0):.3f} ms"
    # OTel's "unset" only means no status was set: nothing worth a word.
    if action.get("status") in ("ok", "error"):
        summary += f"  {action['status']}"
    if action.get("escalation"):
        summary += "  [escalation to a human]"
    if action.get("error"):
        summary += f" ({action['error']})"
    label = "Task:" if action.get("kind") == "task" else "Action:"
    return _labelled(label, summary)


def _button_lines(button: Mapping[str, Any]) -> list[str]:
    """A button click: label, value and event."""
    text = f"{button.get('label') or '(no label)'}"
    if button.get("value") not in (None, ""):
        text += f" = {button['value']}"
    if button.get("event"):
        text += f"  ({button['event']})"
    return _labelled("Button:", text)


def _attachment_lines(record: Mapping[str, Any]) -> list[str]:
    """Who shared how many files, and which."""
    files = record.get("files") or []
    names = ", ".join(_file_text(f) for f in files if isinstance(f, Mapping))
    count = record.get("count", len(files))
    sender = str(record.get("sender") or "someone")
    text = f"{_SENDERS.get(sender, sender + ':')[:-1]} shared {counted(count, 'file')}"
    return _labelled("Files:", f"{text}: {names}" if names else text)


def _file_text(file: Mapping[str, Any]) -> str:
    """One attachment descriptor, e.g. report.pdf (1234 B, application/pdf)."""
    details = [f"{file['size']} B"] if file.get("size") is not None else []
    details += [str(file["mime_type"])] if file.get("mime_type") else []
    name = str(file.get("filename") or "unnamed")
    return f"{name} ({', '.join(details)})" if details else name


def _usage_line(usage: Mapping[str, Any]) -> str:
    """The token footer: totals, then per model with its estimated cost, then the total cost."""
    totals = usage.get("totals") or {}
    line = (
        f"Tokens: {totals.get('input_tokens', 0)} in, {totals.get('output_tokens', 0)} out,"
        f" {totals.get('total_tokens', 0)} total in {counted(totals.get('calls', 0), 'call')}"
    )
    cached = totals.get("cache_read_tokens", 0) + totals.get("cache_write_tokens", 0)
    if cached:
        line += f" ({totals.get('cache_read_tokens', 0)} cache read,"
        line += f" {totals.get('cache_write_tokens', 0)} cache write)"
    for model, entry in sorted((usage.get("by_model") or {}).items()):
        line += f"\n  {model}: {entry.get('input_tokens', 0)} in / {entry.get('output_tokens', 0)}"
        line += f" out, {counted(entry.get('calls', 0), 'call')}"
        if "cost_source" in entry:
            line += f", {cost(entry.get('cost_usd'))}"
    # No source named: read from the real service, the figure is its own, not an estimate.
    if usage.get("cost_usd") is not None:
        line += f"\nCost: {cost(usage['cost_usd'])}"
    return line


def _labelled(label: str, text: str) -> list[str]:
    """Text after a fixed-width label, wrapped so continuation lines align under it."""
    indent = " " * (_LABEL_WIDTH + 1)
    # The timestamp column (12 characters and 2 spaces) sits before the label.
    width = WIDTH - 14
    lines: list[str] = []
    for index, paragraph in enumerate(text.splitlines() or [""]):
        first = f"{label:<{_LABEL_WIDTH}} " if index == 0 else indent
        wrapped = textwrap.wrap(
            paragraph, width, initial_indent=first, subsequent_indent=indent
        ) or [first.rstrip()]
        lines.extend(wrapped)
    return lines


def _when(value: object) -> datetime:
    """The moment an entry happened; entries without one sort first."""
    return parse_timestamp(value) or _FALLBACK_TIME
