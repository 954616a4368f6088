"""An OpenAI-compatible model server on 127.0.0.1 with scripted answers.

Real HTTP that real instrumentation sees: ``/v1/chat/completions`` answers each request with the
next scripted reply (text or tool calls), as one JSON response or as SSE chunks ending with a
usage chunk when the client asks for ``stream_options.include_usage``; ``/v1/responses`` (the
Responses API) answers the same way, as one response object or as its streamed events ending
with ``response.completed``. Token counts are deterministic: input = 10 per message (or input
item) received, output = 5 per reply.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from agentsight_otel._serving import BackgroundServer, uvicorn_config

OUTPUT_TOKENS = 5
INPUT_TOKENS_PER_MESSAGE = 10


@dataclass(frozen=True)
class ToolCall:
    """A function call the model asks for."""

    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Reply:
    """One scripted model answer: text, or tool calls."""

    text: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass
class ModelServer:
    """The scripted server; ``requests`` keeps every request body received, in order."""

    replies: list[Reply] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    model: str = "test-model"

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/responses", self._responses, methods=["POST"]),
            ]
        )
        self._server = BackgroundServer(uvicorn_config(app), "127.0.0.1", 0, "model-server")
        self.base_url = self._server.url + "/v1"

    def script(self, *replies: Reply) -> None:
        """Queue the next answers."""
        with self._lock:
            self.replies.extend(replies)

    def __enter__(self) -> ModelServer:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()

    def _next(self, body: dict[str, Any]) -> Reply | None:
        """Record a request; the reply scripted for it, or None when none is left."""
        with self._lock:
            self.requests.append(body)
            return self.replies.pop(0) if self.replies else None

    async def _chat(self, request: Request) -> Response:
        body = await request.json()
        reply = self._next(body)
        if reply is None:
            return _NO_REPLY
        usage = _usage(len(body.get("messages", [])))
        created = int(time.time())
        if body.get("stream"):
            include = bool((body.get("stream_options") or {}).get("include_usage"))
            chunks = _chunks(reply, self.model, created, usage if include else None)
            return StreamingResponse(_sse(chunks), media_type="text/event-stream")
        return JSONResponse(_completion(reply, self.model, created, usage))

    async def _responses(self, request: Request) -> Response:
        body = await request.json()
        reply = self._next(body)
        if reply is None:
            return _NO_REPLY
        given = body.get("input")
        items = len(given) if isinstance(given, list) else 1
        response = _response(reply, self.model, int(time.time()), items, body)
        if body.get("stream"):
            return StreamingResponse(
                _sse(_response_events(response)), media_type="text/event-stream"
            )
        return JSONResponse(response)


_NO_REPLY = JSONResponse({"error": {"message": "no scripted reply"}}, status_code=500)


def _usage(messages: int) -> dict[str, int]:
    """Deterministic counts for a request of ``messages`` messages."""
    prompt = INPUT_TOKENS_PER_MESSAGE * messages
    return {
        "prompt_tokens": prompt,
        "completion_tokens": OUTPUT_TOKENS,
        "total_tokens": prompt + OUTPUT_TOKENS,
    }


def _message(reply: Reply) -> dict[str, Any]:
    """The assistant message of a reply."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.text}
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
            }
            for call in reply.tool_calls
        ]
    return message


def _finish(reply: Reply) -> str:
    return "tool_calls" if reply.tool_calls else "stop"


def _completion(reply: Reply, model: str, created: int, usage: dict[str, int]) -> dict[str, Any]:
    """A non-streamed chat completion."""
    return {
        "id": f"chatcmpl-{created}",
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "message": _message(reply), "finish_reason": _finish(reply)}],
        "usage": usage,
    }


def _chunks(
    reply: Reply, model: str, created: int, usage: dict[str, int] | None
) -> Iterator[dict[str, Any]]:
    """The streamed form: role, content in two pieces or tool calls, finish, usage."""
    base = {"id": f"chatcmpl-{created}", "object": "chat.completion.chunk", "created": created}
    base["model"] = model

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return {**base, "choices": [choice]}

    yield chunk({"role": "assistant", "content": ""})
    if reply.text:
        middle = len(reply.text) // 2
        yield chunk({"content": reply.text[:middle]})
        yield chunk({"content": reply.text[middle:]})
    for index, call in enumerate(reply.tool_calls):
        function = {"name": call.name, "arguments": json.dumps(call.arguments)}
        delta = {"index": index, "id": call.id, "type": "function", "function": function}
        yield chunk({"tool_calls": [delta]})
    yield chunk({}, _finish(reply))
    if usage is not None:
        yield {**base, "choices": [], "usage": usage}


async def _sse(chunks: Iterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    """Server-sent events, ending with ``[DONE]``."""
    for item in chunks:
        yield f"data: {json.dumps(item)}\n\n".encode()
    yield b"data: [DONE]\n\n"


def _response(
    reply: Reply, model: str, created: int, items: int, body: dict[str, Any]
) -> dict[str, Any]:
    """A Responses API response object: a message with the text, or function calls."""
    output: list[dict[str, Any]] = [
        {
            "type": "function_call",
            "id": f"fc_{call.id}",
            "call_id": call.id,
            "name": call.name,
            "arguments": json.dumps(call.arguments),
            "status": "completed",
        }
        for call in reply.tool_calls
    ]
    if reply.text is not None:
        text = {"type": "output_text", "text": reply.text, "annotations": []}
        output.append(
            {
                "type": "message",
                "id": f"msg_{created}",
                "status": "completed",
                "role": "assistant",
                "content": [text],
            }
        )
    prompt = INPUT_TOKENS_PER_MESSAGE * items
    return {
        "id": f"resp_{created}",
        "object": "response",
        "created_at": created,
        "status": "completed",
        "model": model,
        "output": output,
        "instructions": body.get("instructions"),
        "parallel_tool_calls": True,
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools", []),
        "text": {"format": {"type": "text"}},
        "error": None,
        "incomplete_details": None,
        "usage": {
            "input_tokens": prompt,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": OUTPUT_TOKENS,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": prompt + OUTPUT_TOKENS,
        },
    }


def _response_events(response: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The streamed form: created, each output item with its text in two deltas, completed."""
    sequence = iter(range(1_000))
    started = {**response, "status": "in_progress", "output": [], "usage": None}

    def event(kind: str, **fields: Any) -> dict[str, Any]:
        return {"type": kind, "sequence_number": next(sequence), **fields}

    yield event("response.created", response=started)
    for index, item in enumerate(response["output"]):
        if item["type"] != "message":
            yield event("response.output_item.added", output_index=index, item=item)
            yield event("response.output_item.done", output_index=index, item=item)
            continue
        yield event("response.output_item.added", output_index=index, item={**item, "content": []})
        text = item["content"][0]["text"]
        where = {"item_id": item["id"], "output_index": index, "content_index": 0}
        empty = {"type": "output_text", "text": "", "annotations": []}
        yield event("response.content_part.added", part=empty, **where)
        middle = len(text) // 2
        for piece in (text[:middle], text[middle:]):
            yield event("response.output_text.delta", delta=piece, logprobs=[], **where)
        yield event("response.output_text.done", text=text, logprobs=[], **where)
        yield event("response.content_part.done", part=item["content"][0], **where)
        yield event("response.output_item.done", output_index=index, item=item)
    yield event("response.completed", response=response)
