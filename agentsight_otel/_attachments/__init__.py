"""Attachments: checking input in both seed modes, and delivering the bytes off the caller's thread.

Light on purpose (the server imports the limits): the tracker glue lives in ``tracking``.
"""

from agentsight_otel._attachments.limits import MAX_CALL_BYTES, MAX_FILE_BYTES, MAX_FILES, MODES
from agentsight_otel._attachments.normalize import (
    AttachmentFile,
    Batch,
    describe_attachments,
    prepare,
)

__all__ = [
    "MAX_CALL_BYTES",
    "MAX_FILES",
    "MAX_FILE_BYTES",
    "MODES",
    "AttachmentFile",
    "Batch",
    "describe_attachments",
    "prepare",
]
