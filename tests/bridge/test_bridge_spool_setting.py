"""The bridge spools by default, under the state directory, one directory per endpoint and key;
a flag or variable moves or ends it."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from agentsight_otel._bridge.config import (
    default_spool_dir,
    default_spool_root,
    resolve_bridge_config,
)
from agentsight_otel._bridge.options import config_from_args
from agentsight_otel._bridge.pipeline import BridgePipeline
from agentsight_otel._bridge.runner import Bridge
from agentsight_otel._cli import build_parser
from agentsight_otel._config import parse_api_key
from agentsight_otel._export.destination import destination_id
from agentsight_otel.testing import TEST_API_KEY, ScriptedTransport
from tests.bridge.helpers import ENDPOINT, bridge_config, delivery_settings

KEY = parse_api_key(TEST_API_KEY, "test")
OTHER_KEY = parse_api_key("ags_" + "1" * 32 + "_abcdef", "test")


def test_the_default_spool_is_under_the_state_directory(tmp_path: Path) -> None:
    assert default_spool_root({"XDG_STATE_HOME": str(tmp_path)}) == str(
        tmp_path / "agentsight-otel" / "bridge"
    )
    home = Path.home() / ".local" / "state" / "agentsight-otel" / "bridge"
    assert default_spool_root({}) == default_spool_root({"XDG_STATE_HOME": "relative"}) == str(home)
    mine = default_spool_dir(ENDPOINT, KEY, {"XDG_STATE_HOME": str(tmp_path)})
    assert mine == str(tmp_path / "agentsight-otel" / "bridge" / destination_id(ENDPOINT, KEY))


def test_each_endpoint_and_key_has_its_own_default_spool() -> None:
    mine = destination_id(ENDPOINT, KEY)
    assert destination_id(ENDPOINT, OTHER_KEY) != mine
    assert destination_id("http://elsewhere.test", KEY) != mine
    # Spelling does not make another destination: case, a default port, a trailing slash.
    assert destination_id("HTTP://AgentSight.test:80/", KEY) == mine
    # A fingerprint, not the key: no run of the key's hex digits is in it.
    secret = TEST_API_KEY[4:36]
    assert not any(mine[i : i + 8] in secret for i in range(len(mine) - 7))
    assert len(mine) == 16 and int(mine, 16) >= 0


def test_flag_and_variable_move_or_end_the_spool(tmp_path: Path) -> None:
    env = {"AGENTSIGHT_BRIDGE_SPOOL_DIR": str(tmp_path / "env")}
    assert resolve_bridge_config(environ=env).spool_directory(ENDPOINT, KEY) == str(
        tmp_path / "env"
    )
    flagged = resolve_bridge_config(environ=env, spool_dir=str(tmp_path / "flag"))
    assert flagged.spool_directory(ENDPOINT, KEY) == str(tmp_path / "flag")
    off = resolve_bridge_config(environ={"AGENTSIGHT_BRIDGE_SPOOL_DIR": "OFF"})
    assert off.spool_directory(ENDPOINT, KEY) is None
    args = build_parser().parse_args(["bridge", "--spool-dir", "off"])
    assert config_from_args(args)[0].spool_directory(ENDPOINT, KEY) is None


def test_the_pipeline_delivers_through_the_spool_by_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    pipeline = BridgePipeline(bridge_config(), delivery_settings())
    try:
        assert pipeline.exporter.settings.spool_dir == default_spool_dir(ENDPOINT, KEY)
    finally:
        pipeline.close(1.0)
    off = BridgePipeline(bridge_config(spool_dir="off"), delivery_settings())
    try:
        assert off.exporter.settings.spool_dir is None
    finally:
        off.close(1.0)


def test_at_start_the_bridge_says_what_waits_for_it_and_leaves_older_bodies(
    caplog: pytest.LogCaptureFixture,
) -> None:
    root = Path(default_spool_root())
    root.mkdir(parents=True)
    older = root / f"{1:020d}-4242-{0:08d}-3.body"  # an older version's: no destination
    older.write_bytes(b'{"sdk": {}, "conversations": []}')
    with caplog.at_level(logging.INFO, "agentsight_otel"):
        bridge = Bridge(
            bridge_config(), settings=delivery_settings(), transport=ScriptedTransport()
        )
        with bridge:
            pass
    lines = [record.getMessage() for record in caplog.records]
    mine = default_spool_dir(ENDPOINT, KEY)
    assert f"accepted spans wait in {mine} while AgentSight cannot take them; 0 body(ies)" in (
        " ".join(lines)
    )
    assert any(f"1 body(ies) spooled by an older version in {root}" in line for line in lines)
    assert older.exists() and bridge.pipeline is not None
    assert bridge.pipeline.exporter.stats.replayed_spans == 0
