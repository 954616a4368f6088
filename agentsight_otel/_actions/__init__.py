"""``@traced_action``: tool functions become AgentSight actions with their real duration.

One job per module: ``decorator`` picks the wrapper for a function's shape; ``spec`` holds what
a function records, decided once, and places each call; ``call`` records and ends one action
span; ``streams`` covers generators and awaitables; ``plan`` names arguments without binding per
call.
"""

from agentsight_otel._actions.decorator import traced_action

__all__ = ["traced_action"]
