"""``@traced_action``: a tool function's every call becomes an action span (see ``actions``)."""

from agentsight_otel.actions import traced_action

__all__ = ["traced_action"]
