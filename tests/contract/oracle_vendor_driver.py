"""The vendor half of the contract test: track the scenario with ``agentsight`` 0.1.4.

Run as a subprocess (the vendor SDK keeps process-wide state and registers an ``atexit`` hook)::

    PYTHONPATH=<root> python oracle_vendor_driver.py {visit|engage} <endpoint> <conversation_id>

Prints one JSON line: whether the SDK was enabled and flushed, and the ingest answer.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from typing import Any

import agentsight
from agentsight.sdk import core
from agentsight.sdk.instrumentation.base import record_llm_call

from tests.contract.oracle_scenario import (
    API_KEY,
    CONVERSATION,
    TURNS,
    VISIT,
    Attachments,
    Button,
    Message,
    Step,
    Tool,
    Usage,
)


@agentsight.tool(name="database_lookup")
def database_lookup(db: str) -> str:
    """The scenario's lookup tool."""
    return _outcome("database_lookup")


@agentsight.tool(name="send_email")
def send_email(to: str) -> str:
    """The scenario's failing tool."""
    return _outcome("send_email")


@agentsight.tool(name="fallback_to_human")
def fallback_to_human() -> str:
    """The scenario's escalation tool."""
    return _outcome("fallback_to_human")


TOOLS = {
    "database_lookup": database_lookup,
    "send_email": send_email,
    "fallback_to_human": fallback_to_human,
}
TOOL_STEPS = {step.name: step for turn in TURNS for step in turn if isinstance(step, Tool)}


def _outcome(name: str) -> str:
    """The scripted response, or the scripted error raised."""
    step = TOOL_STEPS[name]
    if step.error is not None:
        raise RuntimeError(step.error)
    assert step.response is not None
    return step.response


def _track(step: Step) -> None:
    """One scenario step through the vendor's public API."""
    if isinstance(step, Message):
        emit = agentsight.user_message if step.sender == "end_user" else agentsight.agent_message
        emit(step.text, step.metadata)
    elif isinstance(step, Tool):
        # A failed tool call is data: the decorator records it, the application carries on.
        with contextlib.suppress(RuntimeError):
            TOOLS[step.name](**step.arguments)
    elif isinstance(step, Usage):
        record_llm_call(
            step.system, step.model, step.input_tokens, step.output_tokens, operation="chat"
        )
    elif isinstance(step, Button):
        agentsight.button(step.event, step.label, step.value, step.metadata)
    elif isinstance(step, Attachments):
        agentsight.record_attachments([dict(f) for f in step.files], sender=step.sender)


def main(phase: str, endpoint: str, conversation_id: str) -> dict[str, Any]:
    """Run one phase and report what happened."""
    # verify_key=False: no preflight thread, so compression never depends on a race.
    enabled = agentsight.init(
        api_key=API_KEY,
        endpoint=endpoint,
        auto_instrument=False,
        verify_key=False,
        export_interval_ms=60_000,
    )
    if phase == "visit":
        agentsight.open_conversation(conversation_id, **VISIT)
    else:
        with agentsight.conversation(conversation_id, **CONVERSATION):
            for turn in TURNS:
                with agentsight.turn():
                    for step in turn:
                        _track(step)
    flushed = agentsight.flush(30_000)
    exporter = core.get_exporter()
    answer = getattr(exporter, "last_response", None)
    agentsight.shutdown()
    return {"enabled": enabled, "flushed": flushed, "last_response": answer}


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    print(json.dumps(main(*sys.argv[1:4])), flush=True)
