"""Cost estimates: genai-prices' own figures, unknown models unpriced, never a network call."""

from __future__ import annotations

import socket
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from genai_prices import Usage, calc_price

from agentsight_otel._server import reads
from agentsight_otel._server.pricing import cost_usd
from agentsight_otel._server.store import Store
from agentsight_otel._server.validation import validate_ingest
from tests.server.server_helpers import at, block, body, span, turn


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connection attempt fails the test: prices come from the installed package only."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"pricing tried to connect: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _expected(model: str, provider: str | None, moment: str, **tokens: int) -> Decimal:
    """genai-prices' own calculation."""
    when = datetime.fromisoformat(moment)
    found = calc_price(Usage(**tokens), model, provider_id=provider, genai_request_timestamp=when)
    return Decimal(found.total_price)


def test_a_known_model_costs_what_genai_prices_says() -> None:
    price = cost_usd("gpt-4o", "openai", (1000, 100, 0, 0), at(0))
    assert price == _expected("gpt-4o", "openai", at(0), input_tokens=1000, output_tokens=100)
    assert price is not None and price > 0


def test_cache_reads_are_part_of_genai_prices_input() -> None:
    # The wire's input count is uncached input; genai-prices counts cached input in it.
    price = cost_usd("gpt-4o", "openai", (1000, 100, 500, 0), at(0))
    tokens = {"input_tokens": 1500, "output_tokens": 100, "cache_read_tokens": 500}
    assert price == _expected("gpt-4o", "openai", at(0), **tokens)
    uncached = cost_usd("gpt-4o", "openai", (1500, 100, 0, 0), at(0))
    assert price is not None and uncached is not None and price < uncached


def test_semantic_convention_systems_name_genai_prices_providers() -> None:
    price = cost_usd("claude-3-5-sonnet-20241022", "anthropic", (1000, 100, 0, 0), at(0))
    tokens = {"input_tokens": 1000, "output_tokens": 100}
    assert price == _expected("claude-3-5-sonnet-20241022", "anthropic", at(0), **tokens)
    assert cost_usd("gpt-4o-mini", None, (10, 10, 0, 0), at(0)) is not None


@pytest.mark.parametrize(
    ("model", "system"),
    [
        ("my-finetune-v7", None),
        ("unknown", None),
        ("", "openai"),
        ("gpt-4o", "no-such-provider"),  # a provider genai-prices lacks: no borrowed rate
        ("llama3.2", "ollama"),
    ],
)
def test_unknown_models_and_providers_are_unpriced(model: str, system: str | None) -> None:
    assert cost_usd(model, system, (1000, 100, 0, 0), at(0)) is None


def test_conversation_usage_prices_each_model_and_sums_the_priced_ones(tmp_path: Path) -> None:
    store = Store(tmp_path / "prices.db")
    opening = turn(start=0)
    calls = []
    for model, system, tokens in (
        ("gpt-4o", "openai", (1000, 100)),
        ("gpt-4o", "openai", (2000, 300)),
        ("house-model", None, (50, 5)),
    ):
        call = span("llm", start=0.1)
        call["parent_span_id"] = opening["span_id"]
        call["attributes"].update(
            {
                "gen_ai.request.model": model,
                "gen_ai.usage.input_tokens": tokens[0],
                "gen_ai.usage.output_tokens": tokens[1],
            }
        )
        if system:
            call["attributes"]["gen_ai.system"] = system
        calls.append(call)
    blocks = validate_ingest(body(block(opening, *calls)))
    assert isinstance(blocks, list)
    store.ingest(blocks)
    usage = store.usage("conv-1")
    store.close()
    gpt = sum(
        _expected("gpt-4o", "openai", at(0.1), input_tokens=i, output_tokens=o)
        for i, o in ((1000, 100), (2000, 300))
    )
    assert usage["by_model"]["gpt-4o"]["cost_usd"] == f"{gpt:.8f}"
    assert usage["by_model"]["gpt-4o"]["cost_source"] == "backend"
    assert usage["by_model"]["house-model"]["cost_usd"] is None
    assert usage["by_model"]["house-model"]["cost_source"] == "unpriced"
    assert usage["cost_usd"] == f"{gpt:.8f}"
    assert usage["cost_sources"] == ["backend", "unpriced"]
    assert reads.empty_usage()["cost_usd"] is None
