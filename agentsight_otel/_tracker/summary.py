"""The seed's response shapes for ``send_tracked_data`` and ``get_tracked_data_summary``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from operator import itemgetter
from typing import Any

from agentsight_otel._delivery.ledger import Settlement
from agentsight_otel._mapping.timefmt import iso_utc
from agentsight_otel._tracker.state import Item

COUNTED = {
    "question": "questions",
    "answer": "answers",
    "action": "actions",
    "button": "buttons",
    "attachment": "attachments",
}
FAILED = frozenset({"rejected", "failed"})
_BY_TIME = itemgetter(1)  # Item.timestamp_ns


def _counts() -> dict[str, int]:
    """A zeroed summary."""
    return dict.fromkeys(COUNTED.values(), 0)


def send_response(
    conversation_id: str, items: Sequence[Item], settlement: Settlement
) -> dict[str, Any]:
    """What ``send_tracked_data`` returns: each item with the backend's settlement."""
    status = settlement.status
    success = status == "delivered"
    # One pass building plain dicts: this runs on the caller's thread at every send.
    rows = [
        {
            "index": index,
            "type": item.type,
            "timestamp": iso_utc(item.timestamp_ns),
            "success": success,
            "status": status,
        }
        for index, item in enumerate(sorted(items, key=_BY_TIME))
    ]
    failed = status in FAILED
    if failed:
        for row in rows:
            row["error"] = settlement.detail
    summary = _counts()
    for item in items:
        counted = COUNTED.get(item.type)
        if counted is not None:
            summary[counted] += 1
    summary["errors"] = len(rows) if failed else 0
    summary["pending"] = len(rows) if status == "pending" else 0
    return {
        "conversation_id": conversation_id,
        "status": status,
        "detail": settlement.detail,
        "items": rows,
        "summary": summary,
    }


def pending_summary(conversations: Iterable[tuple[str, Sequence[Item]]]) -> dict[str, Any]:
    """What ``get_tracked_data_summary`` returns: held items in order, with previews."""
    entries = sorted(
        ((item.timestamp_ns, cid, item) for cid, items in conversations for item in items),
        key=lambda entry: entry[0],
    )
    summary = _counts()
    rows = []
    for index, (stamp, cid, item) in enumerate(entries):
        rows.append(
            {
                "index": index,
                "type": item.type,
                "timestamp": iso_utc(stamp),
                "conversation_id": cid,
                "preview": item.preview,
            }
        )
        if item.type in COUNTED:
            summary[COUNTED[item.type]] += 1
    summary["total"] = len(rows)
    return {"items": rows, "summary": summary}


def combine(settlements: Sequence[Settlement]) -> Settlement:
    """The worst of several segment settlements."""
    order = ("rejected", "failed", "pending", "handed_off", "delivered")
    for status in order:
        for settlement in settlements:
            if settlement.status == status:
                return settlement
    return Settlement("delivered")


def merge_responses(responses: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """A send of several conversations: each one's answer, their items and summed summaries."""
    worst = combine([Settlement(r["status"], r["detail"]) for r in responses])
    rows = sorted(
        ({**row, "conversation_id": r["conversation_id"]} for r in responses for row in r["items"]),
        key=lambda row: str(row["timestamp"]),
    )
    summary: dict[str, int] = {}
    for response in responses:
        for key, count in response["summary"].items():
            summary[key] = summary.get(key, 0) + count
    return {
        "conversation_id": None,
        "status": worst.status,
        "detail": worst.detail,
        "items": [{**row, "index": index} for index, row in enumerate(rows)],
        "summary": summary,
        "conversations": list(responses),
    }
