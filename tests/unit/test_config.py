"""Configuration: explicit > environment > default; bad environment values never raise."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest
from opentelemetry.sdk.trace import TracerProvider

from agentsight_otel import AgentSightSpanExporter, ConversationTracker
from agentsight_otel._config import (
    DEFAULT_ENDPOINT,
    ApiKey,
    Settings,
    parse_api_key,
    resolve_settings,
)
from agentsight_otel._delivery.ledger import DeliveryLedger
from agentsight_otel.exceptions import ConfigurationError, InvalidApiKeyError
from agentsight_otel.testing import TEST_API_KEY, FakeClock, ScriptedTransport

from .helpers import ingest_posts, tool_record

OTHER_KEY = "ags_ffffffffffffffffffffffffffffffff_123456"


def test_defaults_without_environment() -> None:
    settings = resolve_settings()
    assert settings.api_key is None
    assert settings.endpoint == DEFAULT_ENDPOINT == "https://api.agentsight.io"
    assert settings.environment == "production"
    assert settings.log_level is None
    assert settings.ingest_url() == "https://api.agentsight.io/api/ingest/"


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTSIGHT_API_KEY", TEST_API_KEY)
    monkeypatch.setenv("AGENTSIGHT_API_ENDPOINT", "http://localhost:8000/")
    monkeypatch.setenv("AGENTSIGHT_LOG_LEVEL", "debug")
    monkeypatch.setenv("AGENTSIGHT_ENVIRONMENT", "Dev")
    settings = resolve_settings()
    assert settings.api_key == ApiKey(TEST_API_KEY)
    assert settings.endpoint == "http://localhost:8000"
    assert settings.log_level == "DEBUG"
    assert settings.environment == "development"
    assert settings.ingest_url() == "http://localhost:8000/api/ingest/"


def test_explicit_overrides_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTSIGHT_API_KEY", TEST_API_KEY)
    monkeypatch.setenv("AGENTSIGHT_API_ENDPOINT", "http://env.example")
    monkeypatch.setenv("AGENTSIGHT_LOG_LEVEL", "DEBUG")
    settings = resolve_settings(
        api_key=OTHER_KEY, endpoint="https://explicit.example/base", log_level="error"
    )
    assert settings.api_key == ApiKey(OTHER_KEY)
    assert settings.endpoint == "https://explicit.example/base"
    assert settings.log_level == "ERROR"
    assert settings.ingest_url() == "https://explicit.example/base/api/ingest/"


def test_exporter_reads_environment_and_arguments_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTSIGHT_API_KEY", TEST_API_KEY)
    monkeypatch.setenv("AGENTSIGHT_API_ENDPOINT", "http://env.example")
    from_env = AgentSightSpanExporter(_transport=ScriptedTransport(), _ledger=DeliveryLedger())
    explicit = AgentSightSpanExporter(
        api_key=OTHER_KEY,
        endpoint="http://arg.example",
        _transport=ScriptedTransport(),
        _ledger=DeliveryLedger(),
    )
    try:
        assert from_env.settings.api_key == ApiKey(TEST_API_KEY)
        assert from_env.settings.endpoint == "http://env.example"
        assert explicit.settings.api_key == ApiKey(OTHER_KEY)
        assert explicit.settings.endpoint == "http://arg.example"
    finally:
        from_env.shutdown(1000)
        explicit.shutdown(1000)


def test_tracker_explicit_settings_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTSIGHT_API_ENDPOINT", "http://env.example")
    monkeypatch.setenv("AGENTSIGHT_LOG_LEVEL", "WARNING")
    tracker = ConversationTracker(
        api_key=TEST_API_KEY,
        endpoint="http://arg.example",
        log_level="ERROR",
        tracer_provider=TracerProvider(),
        _ledger=DeliveryLedger(),
    )
    assert tracker.settings.endpoint == "http://arg.example"
    assert tracker.settings.log_level == "ERROR"
    assert logging.getLogger("agentsight_otel").level == logging.ERROR


def test_log_level_from_environment_is_applied(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTSIGHT_LOG_LEVEL", "DEBUG")
    tracker = ConversationTracker(tracer_provider=TracerProvider(), _ledger=DeliveryLedger())
    assert tracker.settings.log_level == "DEBUG"
    assert logging.getLogger("agentsight_otel").level == logging.DEBUG
    assert logging.getLogger("agentsight_otel").handlers == []


@pytest.mark.parametrize(
    "bad_key",
    [
        "not-a-key",
        "ags_0123456789abcdef0123456789abcdef_abcde",
        "Bearer ags_0123456789abcdef0123456789abcdef_abcdef",
    ],
)
def test_invalid_env_key_is_logged_not_raised_and_delivery_is_off(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, bad_key: str
) -> None:
    monkeypatch.setenv("AGENTSIGHT_API_KEY", bad_key)
    settings = resolve_settings()
    assert settings.api_key is None
    assert settings.key_problem
    assert bad_key not in settings.key_problem
    transport = ScriptedTransport()
    with caplog.at_level(logging.DEBUG, logger="agentsight_otel"):
        exporter = AgentSightSpanExporter(
            _transport=transport, _clock=FakeClock(), _ledger=DeliveryLedger()
        )
        try:
            exporter.export_records([tool_record(7, 1, "k", parent=2)])
            exporter.force_flush()
        finally:
            exporter.shutdown(1000)
    assert ingest_posts(transport) == 0
    assert exporter.stats.failed_spans == 1
    assert any(
        r.levelno == logging.ERROR and "AGENTSIGHT_API_KEY" in r.getMessage()
        for r in caplog.records
    )
    assert bad_key not in caplog.text


def test_invalid_env_key_does_not_break_the_tracker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTSIGHT_API_KEY", "garbage")
    tracker = ConversationTracker(tracer_provider=TracerProvider(), _ledger=DeliveryLedger())
    tracker.track_human_message("still works", conversation_id="k")
    assert tracker.send_tracked_data(conversation_id="k")["summary"]["questions"] == 1


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("AGENTSIGHT_API_ENDPOINT", "ftp://nope"),
        ("AGENTSIGHT_API_ENDPOINT", "not a url"),
        ("AGENTSIGHT_LOG_LEVEL", "LOUD"),
    ],
)
def test_invalid_env_values_are_logged_and_defaults_kept(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with caplog.at_level(logging.ERROR, logger="agentsight_otel"):
        settings = resolve_settings()
    assert settings.endpoint == DEFAULT_ENDPOINT
    assert settings.log_level is None
    assert any(variable in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "overrides",
    [
        {"endpoint": "ftp://x"},
        {"endpoint": "http://x?q=1"},
        {"endpoint": ""},
        {"log_level": "LOUD"},
        {"compression": "brotli"},
        {"environment": "  "},
        {"request_timeout": 0},
        {"export_deadline": -1},
        {"max_body_bytes": float("nan")},
        {"colour": "blue"},
    ],
)
def test_invalid_explicit_values_raise(overrides: dict) -> None:
    with pytest.raises(ConfigurationError):
        resolve_settings(**overrides)


def test_http_endpoints_are_allowed() -> None:
    assert resolve_settings(endpoint="http://127.0.0.1:8765").ingest_url() == (
        "http://127.0.0.1:8765/api/ingest/"
    )


def test_api_key_is_never_shown() -> None:
    key = ApiKey(TEST_API_KEY)
    assert TEST_API_KEY not in repr(key)
    assert TEST_API_KEY not in str(key)
    assert TEST_API_KEY not in f"{key}"
    assert key.reveal() == TEST_API_KEY
    settings = resolve_settings(api_key=TEST_API_KEY)
    assert TEST_API_KEY not in repr(settings)
    assert TEST_API_KEY[4:36] not in repr(settings)


def test_parse_api_key_error_names_the_source_not_the_key() -> None:
    with pytest.raises(InvalidApiKeyError) as raised:
        parse_api_key("ags_zzzz", "AGENTSIGHT_API_KEY")
    assert "AGENTSIGHT_API_KEY" in str(raised.value)
    assert "ags_zzzz" not in str(raised.value)
    with pytest.raises(InvalidApiKeyError):
        parse_api_key(12345, "api_key")


def test_with_overrides_keeps_the_rest() -> None:
    base = resolve_settings(api_key=TEST_API_KEY, endpoint="http://a.example")
    changed = base.with_overrides(endpoint="http://b.example", log_level=None)
    assert changed.endpoint == "http://b.example"
    assert changed.api_key == base.api_key
    assert isinstance(changed, Settings)


IMPORT_SCRIPT = """
import logging, os, socket
def no_network(*a, **k):
    raise AssertionError("network used at import")
socket.socket.connect = no_network
import agentsight_otel
print(logging.getLogger("agentsight_otel").handlers, logging.getLogger().handlers,
      "AGENTSIGHT_API_KEY" in os.environ, type(agentsight_otel.conversation_tracker).__name__)
"""


def test_import_reads_no_dotenv_and_configures_no_logging(tmp_path) -> None:
    (tmp_path / ".env").write_text(f"AGENTSIGHT_API_KEY={TEST_API_KEY}\n")
    out = subprocess.run(
        [sys.executable, "-c", IMPORT_SCRIPT],
        check=False,
        cwd=tmp_path,
        text=True,
        capture_output=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["[]", "[]", "False", "ConversationTracker"]
    assert out.stderr == ""


def test_tracker_constructor_rejects_bad_explicit_values() -> None:
    with pytest.raises(InvalidApiKeyError):
        ConversationTracker(api_key="oops")
    with pytest.raises(ConfigurationError):
        ConversationTracker(endpoint="mailto:x@y")
    with pytest.raises(ConfigurationError):
        ConversationTracker(compression="zip")


@pytest.mark.parametrize(("raw", "grace"), [("0", 0), ("250", 250), ("1500.4", 1500)])
def test_the_log_grace_reads_whole_milliseconds(
    monkeypatch: pytest.MonkeyPatch, raw: str, grace: int
) -> None:
    monkeypatch.setenv("AGENTSIGHT_LOG_GRACE_MS", raw)
    assert resolve_settings().log_grace_ms == grace


@pytest.mark.parametrize("raw", ["soon", "-1", "inf"])
def test_a_bad_log_grace_is_logged_and_the_default_kept(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, raw: str
) -> None:
    monkeypatch.setenv("AGENTSIGHT_LOG_GRACE_MS", raw)
    assert resolve_settings().log_grace_ms == 2000
    assert "AGENTSIGHT_LOG_GRACE_MS" in caplog.text
