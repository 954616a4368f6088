"""Small public helpers from the seed API."""

import uuid


def generate_conversation_id() -> str:
    """A new random conversation id, e.g. ``conv_3f2a...``."""
    return f"conv_{uuid.uuid4().hex}"
