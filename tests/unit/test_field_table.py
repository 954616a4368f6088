"""Every consumer of a conversation's fields agrees with the one field table (_fields.py).

Parametrised by row: a new row fails here until its parameter, checks, column, filter and
display exist.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any, NamedTuple
from urllib.parse import quote, urlencode

import pytest

from agentsight_otel import _semconv as sc
from agentsight_otel import conversation
from agentsight_otel._current import current_attributes
from agentsight_otel._fields import FIELDS, ConversationField, Kind, Shown
from agentsight_otel._mapping.payload import PayloadBuilder
from agentsight_otel._mapping.redacted import KEPT, REDACTED
from agentsight_otel._server.schema import connect
from agentsight_otel._server.transcript import render_transcript
from agentsight_otel._server.validation import block_errors
from agentsight_otel._tracker.tracker import ConversationTracker
from agentsight_otel.exceptions import ValidationError
from agentsight_otel.server import LocalServer
from tests.server.server_helpers import Api, block, body


class Samples(NamedTuple):
    """Values of one kind: sent, as stored and read back, refused by the tracker and server."""

    good: Any
    stored: Any
    tracker_bad: Any
    server_bad: Any


# Kind.IP: the server takes any string (the vendor's backend does); the tracker checks it.
SAMPLES = {
    Kind.TEXT: Samples("value-1", "value-1", 7, 7),
    Kind.IP: Samples("203.0.113.7", "203.0.113.7", "not-an-address", 7),
    Kind.ENVIRONMENT: Samples("dev", "development", "", "staging"),
    Kind.JSON: Samples({"plan": "pro"}, {"plan": "pro"}, "text", "text"),
}
ROWS = pytest.mark.parametrize("row", FIELDS, ids=[row.name for row in FIELDS])
PUBLIC = {
    "get_or_create_conversation": ConversationTracker.get_or_create_conversation,
    "initialize_conversation": ConversationTracker.initialize_conversation,
    "conversation": conversation,
}


def test_every_kind_has_samples_and_names_are_unique() -> None:
    assert set(SAMPLES) == set(Kind)
    assert len({row.name for row in FIELDS}) == len(FIELDS)
    assert len({row.attribute for row in FIELDS}) == len(FIELDS)


def test_the_tracker_signatures_keep_the_seeds_positional_order() -> None:
    seed = [row.name for row in FIELDS if row.positional]
    for call in ("get_or_create_conversation", "initialize_conversation"):
        parameters = list(inspect.signature(PUBLIC[call]).parameters.values())
        positional = [p.name for p in parameters if p.kind is p.POSITIONAL_OR_KEYWORD]
        assert positional == ["self", "conversation_id", *seed], call


@ROWS
@pytest.mark.parametrize("call", PUBLIC)
def test_each_public_call_takes_the_field(row: ConversationField, call: str) -> None:
    parameter = inspect.signature(PUBLIC[call]).parameters[row.name]
    assert parameter.default is None
    if call == "conversation" or not row.positional:
        assert parameter.kind is parameter.KEYWORD_ONLY


@ROWS
def test_semconv_names_the_attribute(row: ConversationField) -> None:
    if row.kind is Kind.JSON:
        assert row.name == "metadata" and row.attribute == sc.CONVERSATION_METADATA
    else:
        assert sc.CONVERSATION_FIELDS[row.name] == row.attribute


@ROWS
def test_the_tracker_checks_the_field(row: ConversationField) -> None:
    samples = SAMPLES[row.kind]
    with conversation("c-table", **{row.name: samples.good}):
        attributes = current_attributes()
    assert attributes is not None and row.attribute in attributes
    with pytest.raises(ValidationError, match=row.name):
        conversation("c-table", **{row.name: samples.tracker_bad})


@ROWS
def test_the_mapping_puts_the_field_on_the_wire_block(row: ConversationField) -> None:
    samples = SAMPLES[row.kind]
    with conversation("c-table", **{row.name: samples.good}):
        attributes = current_attributes()
    assert attributes is not None
    fields: dict[str, Any] = {}
    PayloadBuilder()._stamped_fields(attributes, fields)
    assert fields[row.name] == samples.stored


@ROWS
def test_redaction_covers_or_keeps_the_field(row: ConversationField) -> None:
    redacted = {field.key for field in REDACTED}
    assert (row.attribute in redacted) is row.kind.redacted
    assert (row.attribute in KEPT) is not row.kind.redacted


@ROWS
def test_the_server_validates_the_field(row: ConversationField) -> None:
    samples = SAMPLES[row.kind]
    assert block_errors(block(**{row.name: samples.good})) == {}
    assert row.name in block_errors(block(**{row.name: samples.server_bad}))


@ROWS
def test_the_schema_has_the_column(row: ConversationField) -> None:
    db = connect(":memory:")
    try:
        columns = {c["name"]: c["type"] for c in db.execute("PRAGMA table_info(conversations)")}
    finally:
        db.close()
    assert columns[row.name] == row.column_type


@pytest.fixture(scope="module")
def stored() -> Iterator[Api]:
    """A server holding, per row, one conversation with only that field set."""
    with LocalServer() as server:
        api = Api(server.url)
        blocks = [
            block(conversation_id=f"with-{row.name}", **{row.name: SAMPLES[row.kind].good})
            for row in FIELDS
        ]
        assert api.ingest(body(*blocks, block(conversation_id="without"))).status_code == 200
        try:
            yield api
        finally:
            api.session.close()


@ROWS
def test_the_read_api_returns_the_field(row: ConversationField, stored: Api) -> None:
    assert stored.read(f"with-{row.name}")[row.name] == SAMPLES[row.kind].stored


@ROWS
def test_a_filterable_field_has_a_filter(row: ConversationField, stored: Api) -> None:
    value = SAMPLES[row.kind].good
    response = stored.get("/api/conversations/?" + urlencode({row.name: value}))
    ids = [record["conversation_id"] for record in response.json()["results"]]
    # A field the table says is not filterable is ignored, as unknown filters are.
    assert (ids == [f"with-{row.name}"]) is row.filterable


@ROWS
def test_the_viewer_shows_the_field(row: ConversationField, stored: Api) -> None:
    samples = SAMPLES[row.kind]
    page = stored.get(f"/conversations/{quote(f'with-{row.name}')}/").text
    shown = "plan" if row.kind is Kind.JSON else str(samples.stored)
    assert shown in page
    if row.shown in (Shown.FACT, Shown.DOCUMENT):
        assert f">{row.label}<" in page
    listing = stored.get("/").text
    if row.listed:
        assert f"{row.label.lower()} <b>{samples.stored}</b>" in listing
    if row.choice:
        assert row.filterable
        assert f'<select name="{row.name}"' in listing
        assert f'<option value="{samples.stored}"' in listing


@ROWS
def test_the_transcript_names_the_field(row: ConversationField) -> None:
    samples = SAMPLES[row.kind]
    record = {"conversation_id": "c-table", row.name: samples.stored}
    text = render_transcript(record, [], [], [], [], {})
    if row.shown is Shown.DOCUMENT:
        assert "plan" not in text
    else:
        assert f"{row.label + ':':<14}{samples.stored}" in text
