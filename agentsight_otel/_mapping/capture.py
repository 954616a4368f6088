"""What to tell a user whose instrumentation records model calls without their messages."""

from __future__ import annotations

# Scope-name prefix → the setting that turns message capture on for that instrumentation.
_SETTINGS = (
    (
        "openinference.",
        "OpenInference hides them: unset OPENINFERENCE_HIDE_INPUT_MESSAGES and "
        "OPENINFERENCE_HIDE_OUTPUT_MESSAGES (or pass TraceConfig(hide_input_messages=False, "
        "hide_output_messages=False))",
    ),
    ("opentelemetry.instrumentation.openai.", "OpenLLMetry: set TRACELOOP_TRACE_CONTENT=true"),
    ("traceloop", "OpenLLMetry: set TRACELOOP_TRACE_CONTENT=true"),
    ("pydantic-ai", "Pydantic AI: InstrumentationSettings(include_content=True)"),
    ("logfire", "Pydantic AI: InstrumentationSettings(include_content=True)"),
)
_OTEL_GENAI = (
    "OpenTelemetry GenAI instrumentation: set "
    "OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental and "
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=span_only (in an event mode, add "
    "AgentSightLogExporter to the LoggerProvider the instrumentation writes to)"
)


def capture_notice(scope: str) -> str:
    """The INFO line for model calls of ``scope`` recorded without message content."""
    setting = next((text for prefix, text in _SETTINGS if scope.startswith(prefix)), _OTEL_GENAI)
    return (
        f"model calls recorded by {scope or 'an unnamed instrumentation'} carry no messages, so "
        f"their AgentSight turns have no transcript (turns, actions and usage are sent). "
        f"To capture messages: {setting}"
    )
