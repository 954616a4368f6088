"""Exceptions raised at a call when the caller's input or configuration is wrong.

The library's own failures (network, backend, internal errors) are never raised into the
application: they are logged on the ``agentsight_otel`` logger and reported in summaries.
"""


class AgentSightError(Exception):
    """Base class for every exception this library raises at a call."""


class ConfigurationError(AgentSightError, ValueError):
    """A configuration value (argument or environment) is unusable."""


class InvalidApiKeyError(ConfigurationError):
    """The API key does not look like an AgentSight key; the message never contains the key."""


class ValidationError(AgentSightError, ValueError):
    """A tracking call got input it cannot record; nothing already tracked is affected."""


class NothingToSendError(ValidationError):
    """``send_tracked_data`` was called for a conversation with nothing tracked."""
