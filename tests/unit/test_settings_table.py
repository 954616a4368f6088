"""The settings table is the one source: docs/configuration.md's table, ``configure()``'s and the
exporter's keyword arguments, and the environment all match it, both ways."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from agentsight_otel import AgentSightSpanExporter, ConversationTracker
from agentsight_otel._config import SETTINGS, Settings, resolve_settings
from agentsight_otel._params import Param
from agentsight_otel.exceptions import ConfigurationError

CONFIGURATION = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
# Arguments of configure() that are not settings: where spans go and a signal handler.
NOT_SETTINGS = {"tracer_provider", "handle_sigterm"}
_ROW = re.compile(r"^\| `(\w+)` \| (.*?) \| (.*?) \| (.*?) \| (.*?) \|$")


def _readme_rows() -> dict[str, tuple[str, str, str, str]]:
    """docs/configuration.md's table: argument -> (environment, default, where, doc)."""
    text = CONFIGURATION.read_text(encoding="utf-8")
    section = text.split("## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        match = _ROW.match(line)
        if match:
            name, *cells = (cell.strip() for cell in match.groups())
            assert name not in rows, f"{name} is twice in the table"
            rows[name] = (cells[0], cells[1], cells[2], cells[3])
    return rows


def _shown(row: Param) -> tuple[str, str, str, str]:
    """How docs/configuration.md must show a row."""
    env = f"`{row.env}`" if row.env else ""
    if row.shown_default is not None:
        default = row.shown_default
    else:
        default = "none" if row.default is None else f"`{row.default}`"
    names = {"configure": "`configure()`", "exporter": "exporter"}
    return env, default, ", ".join(names[a] for a in row.arguments), row.doc


def test_readme_lists_every_setting_and_only_settings() -> None:
    readme = _readme_rows()
    assert set(readme) == {row.name for row in SETTINGS}
    for row in SETTINGS:
        assert readme[row.name] == _shown(row), row.name


def _keywords(function: object) -> set[str]:
    """A callable's public keyword parameters."""
    parameters = inspect.signature(function).parameters  # type: ignore[arg-type]
    return {name for name in parameters if not name.startswith("_") and name != "self"}


def _where(where: str) -> set[str]:
    return {row.name for row in SETTINGS if where in row.arguments}


def test_configure_and_the_tracker_take_the_settings_the_table_gives_them() -> None:
    assert _keywords(ConversationTracker.configure) - NOT_SETTINGS == _where("configure")
    assert _keywords(ConversationTracker.__init__) - NOT_SETTINGS == _where("configure")


def test_the_exporter_takes_the_settings_the_table_gives_it() -> None:
    assert _keywords(AgentSightSpanExporter.__init__) == _where("exporter")


def test_test_seams_are_private_and_keyword_only() -> None:
    for function in (ConversationTracker.__init__, AgentSightSpanExporter.__init__):
        parameters = inspect.signature(function).parameters.values()
        seams = [p for p in parameters if p.name.startswith("_")]
        assert {p.name for p in seams} >= {"_transport", "_clock", "_retry_policy", "_ledger"}
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in seams)


def test_every_row_has_a_doc_a_check_and_its_default_passes_the_check() -> None:
    assert [row.name for row in SETTINGS] == [
        name for name in Settings.__dataclass_fields__ if name != "key_problem"
    ]
    for row in SETTINGS:
        assert row.doc and "\n" not in row.doc
        if row.default is not None:
            assert row.check(row.default, row.name) == row.default, row.name


@pytest.mark.usefixtures("clean_environment")
def test_each_variable_sets_its_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    values = {
        "AGENTSIGHT_API_KEY": "ags_0123456789abcdef0123456789abcdef_abcdef",
        "AGENTSIGHT_API_ENDPOINT": "http://127.0.0.1:8600",
        "AGENTSIGHT_ENVIRONMENT": "development",
        "AGENTSIGHT_LOG_LEVEL": "DEBUG",
        "AGENTSIGHT_REDACT_PII": "1",
        "AGENTSIGHT_SPOOL_DIR": "/tmp/agentsight-spool-test",
        "AGENTSIGHT_IDLE_TIMEOUT": "90",
        "AGENTSIGHT_SET_GLOBAL_PROVIDER": "0",
        "AGENTSIGHT_LOG_GRACE_MS": "500",
    }
    assert {row.env for row in SETTINGS if row.env} == set(values)
    defaults = Settings()
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    settings = resolve_settings()
    for row in SETTINGS:
        if row.env:
            assert getattr(settings, row.name) != getattr(defaults, row.name), row.env


def test_unknown_settings_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="unknown setting"):
        resolve_settings(key_problem="none")


@pytest.mark.parametrize("value", [10**400, 2**63, float("inf"), float("nan"), 1e300, -1, 0])
@pytest.mark.parametrize("name", ["drain_timeout", "head_timeout", "max_body_bytes", "retry_after"])
def test_out_of_range_bridge_settings_raise_configuration_error(name: str, value: float) -> None:
    # The bridge's limits go through the shared checks: no OverflowError from a huge number, and
    # no timeout a thread could not wait for.
    from agentsight_otel.bridge import resolve_bridge_config

    with pytest.raises(ConfigurationError, match=name):
        resolve_bridge_config(environ={}, **{name: value})


@pytest.mark.parametrize("value", ["1e300", "inf", str(10**400)])
def test_out_of_range_seconds_from_the_environment_are_ignored_with_a_log(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, value: str
) -> None:
    # A bad variable is logged and ignored (the default stands), never an OverflowError later.
    rows = [row for row in SETTINGS if row.env and row.name == "idle_timeout"]
    assert rows, "idle_timeout is not read from the environment"
    monkeypatch.setenv(rows[0].env, value)
    settings = resolve_settings()
    assert settings.idle_timeout == rows[0].default
    assert f"ignoring {rows[0].env}" in caplog.text
