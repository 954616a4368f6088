"""The seed tracker API on OpenTelemetry."""

from agentsight_otel._tracker.tracker import ConversationTracker

__all__ = ["ConversationTracker"]
