"""The seed tracker API on OpenTelemetry."""

from agentsight_otel.tracker.tracker import ConversationTracker

__all__ = ["ConversationTracker"]
