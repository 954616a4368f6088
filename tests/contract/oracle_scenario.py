"""One support conversation, as data, tracked by both the vendor SDK and agentsight_otel.

Shared by the contract test (our half, in-process) and ``oracle_vendor_driver.py`` (the vendor
half, in a subprocess), so both halves track exactly the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

API_KEY = "ags_0123456789abcdef0123456789abcdef_c0ffee"

# initialize_conversation / agentsight.open_conversation: the visit, nobody engaged yet.
VISIT: dict[str, Any] = {
    "customer_id": "u-1",
    "customer_ip_address": "203.0.113.7",
    "device": "desktop",
    "source": "web",
    "language": "en-US",
    "environment": "production",
    "metadata": {"page_url": "https://shop.example/p/1"},
}

# get_or_create_conversation / agentsight.conversation: the engaged conversation.
CONVERSATION: dict[str, Any] = {
    "customer_id": "u-1",
    "device": "desktop",
    "name": "Password Reset",
    "environment": "production",
    "metadata": {"session_id": "abc123", "plan": "pro"},
}


@dataclass(frozen=True)
class Message:
    """A message from ``end_user`` or ``agent``."""

    sender: str
    text: str
    metadata: dict[str, Any] | None = None


@dataclass(frozen=True)
class Tool:
    """A tool call: its arguments and either a response or an error message."""

    name: str
    arguments: dict[str, Any]
    response: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Usage:
    """One model call's token usage."""

    system: str
    model: str
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class Button:
    """A button click."""

    event: str
    label: str
    value: str
    metadata: dict[str, Any] | None = None


@dataclass(frozen=True)
class Attachments:
    """A record that files were shared (descriptors only)."""

    sender: str
    files: tuple[dict[str, Any], ...]


Step = Message | Tool | Usage | Button | Attachments

# Each inner list is one interaction (one vendor turn; one send_tracked_data for us).
TURNS: list[list[Step]] = [
    [
        Message("end_user", "How do I reset my password?", {"message_id": "msg_001"}),
        Tool("database_lookup", {"db": "PostgreSQL"}, response="User found"),
        Tool("send_email", {"to": "a@b.c"}, error="smtp down"),
        Usage("openai", "gpt-4o-mini", 100, 25),
        Button("user_confirmation", "Confirm Order", "order_123", {"price": 99.99}),
        Attachments(
            "end_user", ({"filename": "report.pdf", "size": 1234, "mime_type": "application/pdf"},)
        ),
        Message("agent", "Click 'Forgot Password' on the login page.", {"model": "gpt-4"}),
    ],
    [
        Message("end_user", "Still locked out. Can I talk to a person?"),
        Tool("fallback_to_human", {}, response="ticket T-1"),
        Usage("openai", "gpt-4o-mini", 40, 10),
        Message(
            "agent",
            "I opened ticket T-1; a colleague will reply shortly.",
            {"model": "gpt-4", "escalated": True},
        ),
    ],
]
