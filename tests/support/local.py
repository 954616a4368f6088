"""Reading what the project's local AgentSight-compatible server stored, over its HTTP API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests

from agentsight_otel.server import render_transcript
from agentsight_otel.testing import TEST_API_KEY


def read_local(url: str, conversation_id: str, part: str = "", api_key: str = TEST_API_KEY) -> Any:
    """A read endpoint of the local AgentSight-compatible server (``part`` like "transcript/")."""
    answer = requests.get(
        f"{url}/api/conversations/{conversation_id}/{part}",
        headers={"Authorization": f"Api-Key {api_key}"},
        timeout=10,
    )
    answer.raise_for_status()
    return answer.json()


def rendered_transcript(read: Callable[[str], Any]) -> str:
    """The printed transcript of one conversation, from ``read(part)`` of its read endpoints."""
    parts = [read(p) for p in ("", "transcript/", "actions/", "buttons/", "attachments/", "usage/")]
    conversation, messages, actions, buttons, attachments, usage = parts
    return render_transcript(
        conversation,
        messages["messages"],
        actions["actions"],
        buttons["buttons"],
        attachments["attachments"],
        usage,
    )
