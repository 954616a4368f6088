"""AgentSight's attachment limits (INGEST.md "Attachment bytes"), shared by client and server."""

from __future__ import annotations

from typing import Final

MIB: Final = 1024 * 1024
MAX_FILES: Final = 10
MAX_FILE_BYTES: Final = 25 * MIB
MAX_CALL_BYTES: Final = 40 * MIB
MODES: Final = ("base64", "form_data")
MAX_FILENAME: Final = 255


def megabytes(size: int) -> str:
    """A size for error messages, e.g. ``25.0 MiB``."""
    return f"{size / MIB:.1f} MiB"
