"""The conversation-field table: every consumer of a conversation's fields derives from it.

A row's ``name`` is at once the parameter of the public calls, the key of the wire block, the
server's column and the read API's key. Adding a field is one row here plus its explicit
parameter in ``get_or_create_conversation``, ``initialize_conversation`` and ``conversation``
(tests/unit/test_field_table.py fails until every consumer agrees with the table).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final


class Kind(enum.Enum):
    """What a field holds, and so how the tracker and the server check it."""

    TEXT = "text"  # free text up to 255 characters; PII redaction covers it
    IP = "ip"  # an IPv4 or IPv6 address (the tracker checks it; the server takes a string)
    ENVIRONMENT = "environment"  # a slug: production, development or an alias
    JSON = "json"  # a JSON object; PII redaction covers its keys and strings

    @property
    def redacted(self) -> bool:
        """Whether PII redaction rewrites the field (the others are checked, not free text)."""
        return self in (Kind.TEXT, Kind.JSON)


class Shown(enum.Enum):
    """Where the viewer's conversation page shows a field."""

    TITLE = "title"  # the page's heading (the conversation id when absent)
    BADGE = "badge"  # a badge beside the heading
    FACT = "fact"  # a labelled entry in the facts list
    DOCUMENT = "document"  # a collapsed, pretty-printed document


@dataclass(frozen=True, slots=True)
class ConversationField:
    """One conversation field and how each part of the library treats it."""

    name: str
    attribute: str  # the span attribute the tracker and conversation(...) set
    kind: Kind
    label: str  # how the viewer and the CLI transcript name it
    shown: Shown
    positional: bool = False  # in the seed's positional order (new fields are keyword-only)
    filterable: bool = False  # the read API filters conversations by ?<name>=<value>
    listed: bool = False  # shown on each row of the viewer's conversation list
    choice: bool = False  # the viewer's list offers a drop-down of its stored values

    column_type: str = "TEXT"  # the server's column type (a JSON object is stored as text)


# In the wire block's order; the positional rows are in the seed's parameter order.
FIELDS: Final[tuple[ConversationField, ...]] = (
    ConversationField(
        "name", "agentsight.conversation.name", Kind.TEXT, "Name", Shown.TITLE, filterable=True
    ),
    ConversationField(
        "customer_id",
        "agentsight.conversation.customer_id",
        Kind.TEXT,
        "Customer",
        Shown.FACT,
        positional=True,
        filterable=True,
        listed=True,
    ),
    ConversationField(
        "customer_ip_address",
        "agentsight.conversation.customer_ip",
        Kind.IP,
        "IP address",
        Shown.FACT,
        positional=True,
        filterable=True,
    ),
    ConversationField(
        "device",
        "agentsight.conversation.device",
        Kind.TEXT,
        "Device",
        Shown.FACT,
        positional=True,
        filterable=True,
        listed=True,
        choice=True,
    ),
    ConversationField(
        "source",
        "agentsight.conversation.source",
        Kind.TEXT,
        "Source",
        Shown.FACT,
        positional=True,
        filterable=True,
        listed=True,
        choice=True,
    ),
    ConversationField(
        "language",
        "agentsight.conversation.language",
        Kind.TEXT,
        "Language",
        Shown.FACT,
        positional=True,
        filterable=True,
    ),
    ConversationField(
        "environment",
        "agentsight.conversation.environment",
        Kind.ENVIRONMENT,
        "Environment",
        Shown.BADGE,
        positional=True,
        filterable=True,
        choice=True,
    ),
    ConversationField(
        "metadata",
        "agentsight.conversation.metadata",
        Kind.JSON,
        "Metadata",
        Shown.DOCUMENT,
        positional=True,
    ),
)
NAMES: Final = tuple(field.name for field in FIELDS)
BY_NAME: Final = {field.name: field for field in FIELDS}
# The span attributes that carry them (one look in C tells a span without any).
ATTRIBUTES: Final = frozenset(field.attribute for field in FIELDS)
# The fields stored and read as they are: all but the JSON documents.
SCALARS: Final = tuple(field for field in FIELDS if field.kind is not Kind.JSON)
