"""``make demo``: a support conversation tracked through the real exporter, shown as a transcript.

Without ``AGENTSIGHT_API_KEY`` it runs against the project's own local AgentSight-compatible
server over real HTTP and prints what that server received; with the key set it sends to
AgentSight (``AGENTSIGHT_API_ENDPOINT`` or the default) and prints the send summaries.
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
import shutil
import struct
import sys
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from agentsight_otel import conversation_tracker, traced_action
from agentsight_otel._config import join_url
from agentsight_otel._delivery.transport import network_reason
from agentsight_otel._log import logger
from agentsight_otel._server.viewer_format import counted
from agentsight_otel.helpers import generate_conversation_id

DEFAULT_DB = ".agentsight/demo.db"
DEFAULT_PORT = 8600


@traced_action
def lookup_order(order_id: str) -> dict[str, Any]:
    """Find the order in the shop's database."""
    time.sleep(0.04)
    return {"order_id": order_id, "status": "shipped", "carrier": "PostNL", "total_eur": 89.90}


@traced_action(name="check_shipment")
def track_parcel(carrier: str, tracking_code: str) -> str:
    """Ask the carrier where the parcel is."""
    time.sleep(0.06)
    return f"{carrier} {tracking_code}: delivered 2 days ago, signed for at the door"


def without_secrets(arguments: dict[str, Any]) -> dict[str, Any]:
    """What a tool's span may record of its arguments: everything but credentials."""
    return {k: ("[redacted]" if k.endswith("token") else v) for k, v in arguments.items()}


@traced_action(redact=without_secrets)
def issue_refund(order_id: str, amount_eur: float, api_token: str) -> str:
    """Refund through the payment provider; the token never reaches the span."""
    time.sleep(0.03)
    raise TimeoutError("payment provider did not answer within 30 s")


def photo_png() -> str:
    """A tiny real PNG (a 2x2 brown square), base64 encoded, standing for a customer photo."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    rows = b"".join(b"\x00" + b"\x8b\x5a\x2b" * 2 for _ in range(2))
    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
    return base64.b64encode(png).decode("ascii")


def converse(conversation_id: str) -> list[dict[str, Any]]:
    """Two turns of a delivery complaint, each ended by a send."""
    return [*_complaint(conversation_id), _resolution()]


def _complaint(conversation_id: str) -> list[dict[str, Any]]:
    """Open the conversation; the first turn: the complaint, a lookup and a photo."""
    tracker = conversation_tracker
    customer = {"customer_id": "cust-4821", "device": "desktop"}
    opened = tracker.initialize_conversation(
        conversation_id,
        **customer,
        source="web",
        language="en-GB",
        metadata={"page_url": "https://shop.example/orders/A-1009"},
    )
    tracker.get_or_create_conversation(
        conversation_id,
        **customer,
        name="Parcel marked delivered but missing",
        environment="development",
        metadata={"plan": "premium"},
    )
    tracker.track_human_message("Hi, my order A-1009 says delivered but nothing arrived.")
    order = lookup_order("A-1009")
    status = track_parcel(order["carrier"], "3SABCD1234567")
    tracker.track_token_usage(
        prompt_tokens=412, completion_tokens=96, model="gpt-4o-mini", provider="openai"
    )
    tracker.track_agent_message(
        f"I'm sorry about that. The carrier says: {status}. Could you send a photo of where "
        "parcels are usually left, so I can open a claim?",
        metadata={"model": "gpt-4o-mini"},
    )
    tracker.track_human_message(
        "Here's the photo. Nothing there, and the neighbours have nothing either.",
        attachments=[{"filename": "front-door.png", "data": photo_png(), "mime_type": "image/png"}],
    )
    return [opened, tracker.send_tracked_data()]


def _resolution() -> dict[str, Any]:
    """The second turn: a choice, a refund that times out, a ticket instead."""
    tracker = conversation_tracker
    tracker.track_agent_message(
        "Thanks. I can refund you now or send a replacement. Which would you prefer?"
    )
    tracker.track_button(
        "resolution_choice", label="Refund to card", value="refund", metadata={"order_id": "A-1009"}
    )
    try:
        issue_refund("A-1009", 89.90, api_token="sk-live-not-a-real-token")
    except TimeoutError:
        started = datetime.now(timezone.utc)
        time.sleep(0.02)
        tracker.track_action(
            "open_ticket",
            started_at=started,
            ended_at=datetime.now(timezone.utc),
            tools_used={"queue": "refunds"},
            response="Ticket RF-5531 opened for a manual refund",
        )
    tracker.track_token_usage(
        prompt_tokens=655, completion_tokens=71, model="gpt-4o-mini", provider="openai"
    )
    tracker.track_agent_message(
        "The payment system is slow right now, so I've opened ticket "
        "RF-5531: a colleague will refund EUR 89.90 within one "
        "business day."
    )
    tracker.track_human_message("Great, thank you!")
    return tracker.send_tracked_data()


def summary_line(result: dict[str, Any]) -> str:
    """One line per send: what went and what the backend said."""
    # The summary's keys are plural nouns ("answers"), or "pending", which has no singular.
    counts = ", ".join(
        counted(v, k[:-1] if k.endswith("s") else k, k) for k, v in result["summary"].items() if v
    )
    return f"  send -> {result['status']}: {counts or 'visit only'}"


def fetch(url: str, key: str, cid: str) -> list[Any]:
    """The conversation as the local server stored it."""
    headers = {"Authorization": f"Api-Key {key}"}
    base = f"{url}/api/conversations/{quote(cid, safe='')}/"
    names = ("", "transcript/", "actions/", "buttons/", "attachments/", "usage/")
    parts = [requests.get(base + name, headers=headers, timeout=10).json() for name in names]
    conversation, transcript, actions, buttons, attachments, usage = parts
    return [
        conversation,
        transcript["messages"],
        actions["actions"],
        buttons["buttons"],
        attachments["attachments"],
        usage,
    ]


def run_local(db_path: str) -> None:
    """Against the project's own server on 127.0.0.1 storing into db_path, then print it."""
    from agentsight_otel.server import LocalServer, render_transcript

    key = f"ags_{secrets.token_hex(16)}_{secrets.token_hex(3)}"
    with LocalServer(db_path, api_keys=[key]) as server:
        # Not the server's URL: this server stops with the demo (`serve` opens the data later).
        print(
            f"Tracking a support conversation into {db_path}, through a local "
            "AgentSight-compatible server this demo runs while it lasts"
        )
        conversation_tracker.configure(api_key=key, endpoint=server.url)
        cid = generate_conversation_id()
        for result in converse(cid):
            print(summary_line(result))
        conversation_tracker.shutdown()
        print("\nWhat the server received:\n")
        conversation, *rest = fetch(server.url, key, cid)
        print(render_transcript(conversation, *rest))
    if db_path != ":memory:":
        print(f"Stored in {db_path}. To browse it in the viewer:\n")
        print(f"  {runnable_command()} serve --db {db_path}")
        print(f"  then open http://127.0.0.1:{DEFAULT_PORT}/conversations/{conversation['id']}/")


def run_agentsight() -> int:
    """Against AgentSight itself, configured from the environment; 1 when it was not reached."""
    endpoint = conversation_tracker.settings.endpoint
    unreachable = _unreachable(endpoint)
    if unreachable:
        print(
            f"agentsight-otel demo: cannot reach AgentSight at {endpoint}: {unreachable}",
            file=sys.stderr,
        )
        return 1
    print(f"Sending to AgentSight at {endpoint}")
    cid = generate_conversation_id()
    with _errors_logged() as errors:
        for result in converse(cid):
            print(summary_line(result))
        conversation_tracker.shutdown()
    if errors:
        print(
            f"agentsight-otel demo: conversation {cid} did not all reach {endpoint}: {errors[0]}",
            file=sys.stderr,
        )
        return 1
    print(f"\nConversation {cid} sent; open it in AgentSight.")
    return 0


def _unreachable(endpoint: str) -> str | None:
    """Why the endpoint cannot be reached (no key sent), or None when it answers at all."""
    try:
        requests.get(join_url(endpoint, "/api/me/"), timeout=5).close()
    except requests.RequestException as exc:
        return network_reason(exc)
    return None


@contextmanager
def _errors_logged() -> Iterator[list[str]]:
    """The library's ERROR records while the block runs: each one is something not delivered."""
    errors: list[str] = []
    handler = _Collect(errors)
    logger.addHandler(handler)
    try:
        yield errors
    finally:
        logger.removeHandler(handler)


class _Collect(logging.Handler):
    """Keeps the first line of every ERROR record."""

    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.ERROR)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        """Note the record's first line."""
        self.into.append(record.getMessage().splitlines()[0][:300])


def runnable_command() -> str:
    """How the user runs this CLI again: the name on PATH, else the running script's path."""
    script = sys.argv[0]
    if Path(script).name != "agentsight-otel":  # python -m agentsight_otel, or embedded
        return f"{_as_run(sys.executable)} -m agentsight_otel"
    return _as_run(script)


def _as_run(program: str) -> str:
    """A program's name when PATH finds that same file, else its (relative) path."""
    found = shutil.which(Path(program).name)
    if found and Path(found).resolve() == Path(program).resolve():
        return Path(program).name
    relative = os.path.relpath(program)
    return relative if not relative.startswith("..") else program


def main(db_path: str = DEFAULT_DB) -> int:
    """Run the demo in the mode the environment asks for; the exit status."""
    if os.environ.get("AGENTSIGHT_API_KEY", "").strip():
        return run_agentsight()
    run_local(db_path)
    return 0
