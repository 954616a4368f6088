"""The seed's response shapes for ``send_tracked_data`` and ``get_tracked_data_summary``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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


def _counts() -> dict[str, int]:
    """A zeroed summary."""
    return dict.fromkeys(COUNTED.values(), 0)


def send_response(
    conversation_id: str, items: Sequence[Item], settlement: Settlement
) -> dict[str, Any]:
    """What ``send_tracked_data`` returns: each item with the backend's settlement."""
    summary = _counts()
    summary["errors"] = 0
    summary["pending"] = 0
    success = settlement.status == "delivered"
    rows = []
    for index, item in enumerate(sorted(items, key=lambda entry: entry.timestamp_ns)):
        row: dict[str, Any] = {
            "index": index,
            "type": item.type,
            "timestamp": iso_utc(item.timestamp_ns),
            "success": success,
            "status": settlement.status,
        }
        if settlement.status in FAILED:
            row["error"] = settlement.detail
            summary["errors"] += 1
        elif settlement.status == "pending":
            summary["pending"] += 1
        if item.type in COUNTED:
            summary[COUNTED[item.type]] += 1
        rows.append(row)
    return {
        "conversation_id": conversation_id,
        "status": settlement.status,
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
