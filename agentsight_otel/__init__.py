"""AgentSight conversation tracking on OpenTelemetry.

Importing this package reads no configuration, opens no connection, loads no ``.env`` and adds
no logging handlers; the ready ``conversation_tracker`` configures itself on first use.
"""

from agentsight_otel._actions import traced_action
from agentsight_otel._current import Conversation, conversation
from agentsight_otel._export.exporter import AgentSightSpanExporter
from agentsight_otel._tracker.lifecycle import install_sigterm_handler
from agentsight_otel._tracker.tracker import ConversationTracker
from agentsight_otel._version import __version__

conversation_tracker = ConversationTracker()

__all__ = [
    "AgentSightSpanExporter",
    "Conversation",
    "ConversationTracker",
    "__version__",
    "conversation",
    "conversation_tracker",
    "install_sigterm_handler",
    "traced_action",
]
