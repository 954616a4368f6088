"""What to tell a user whose instrumentation records model calls without their messages."""

from __future__ import annotations

_OTEL_GENAI = (
    "OpenTelemetry GenAI instrumentation: set "
    "OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental and "
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=span_only (in an event mode, add "
    "AgentSightLogExporter to the LoggerProvider the instrumentation writes to)"
)
_PYDANTIC_AI = "Pydantic AI: InstrumentationSettings(include_content=True)"
_OPENLLMETRY = "OpenLLMetry: set TRACELOOP_TRACE_CONTENT=true"
# Scope-name prefix → the setting that turns message capture on for that instrumentation; the
# first that matches wins (OpenLLMetry's OpenAI scope is under the OpenTelemetry namespace).
_SETTINGS = (
    (
        "openinference.",
        "OpenInference hides them: unset OPENINFERENCE_HIDE_INPUT_MESSAGES and "
        "OPENINFERENCE_HIDE_OUTPUT_MESSAGES (or pass TraceConfig(hide_input_messages=False, "
        "hide_output_messages=False))",
    ),
    ("opentelemetry.instrumentation.openai.", _OPENLLMETRY),
    ("traceloop", _OPENLLMETRY),
    ("pydantic-ai", _PYDANTIC_AI),
    ("logfire", _PYDANTIC_AI),
    ("opentelemetry.instrumentation.", _OTEL_GENAI),
    ("opentelemetry.util.genai", _OTEL_GENAI),
)
# The Vercel AI SDK's tracer is named just "ai".
_VERCEL = (
    "the Vercel AI SDK: keep experimental_telemetry's recordInputs and recordOutputs on "
    "(their default)"
)


def capture_notice(scope: str) -> str:
    """The INFO line for model calls of ``scope`` recorded without message content.

    A setting is named only for instrumentations recognised by their scope: any other advice
    would be a guess.
    """
    if scope == "ai":
        setting: str | None = _VERCEL
    else:
        setting = next((text for prefix, text in _SETTINGS if scope.startswith(prefix)), None)
    advice = (
        f"To capture messages: {setting}"
        if setting is not None
        else "Turn on message (content) capture in that instrumentation."
    )
    return (
        f"model calls recorded by {scope or 'an unnamed instrumentation'} carry no messages, so "
        f"their AgentSight turns have no transcript (turns, actions and usage are sent). {advice}"
    )
