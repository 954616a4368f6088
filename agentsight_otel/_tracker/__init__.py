"""The seed tracker API on OpenTelemetry (``tracker.ConversationTracker``, composed of parts)."""
