"""AgentSight conversation tracking on OpenTelemetry.

Importing this package reads no configuration, opens no connection, loads no ``.env`` and adds
no logging handlers; the ready ``conversation_tracker`` configures itself on first use.
"""

from typing import TYPE_CHECKING, Any

from agentsight_otel._actions import traced_action
from agentsight_otel._current import Conversation, conversation
from agentsight_otel._export.exporter import AgentSightSpanExporter
from agentsight_otel._redaction import Redactor
from agentsight_otel._tracker.lifecycle import install_sigterm_handler
from agentsight_otel._tracker.tracker import ConversationTracker
from agentsight_otel._version import __version__

if TYPE_CHECKING:
    from agentsight_otel._export.log_exporter import AgentSightLogExporter

conversation_tracker = ConversationTracker()


def __getattr__(name: str) -> Any:
    """``AgentSightLogExporter`` on first use: it loads the SDK's logs module, which apps
    without it need not import."""
    if name == "AgentSightLogExporter":
        from agentsight_otel._export.log_exporter import AgentSightLogExporter

        return AgentSightLogExporter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AgentSightLogExporter",
    "AgentSightSpanExporter",
    "Conversation",
    "ConversationTracker",
    "Redactor",
    "__version__",
    "conversation",
    "conversation_tracker",
    "install_sigterm_handler",
    "traced_action",
]
