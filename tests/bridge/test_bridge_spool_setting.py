"""The bridge spools by default, under the state directory; a flag or variable moves or ends it."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentsight_otel._bridge.config import default_spool_dir, resolve_bridge_config
from agentsight_otel._bridge.options import config_from_args
from agentsight_otel._bridge.pipeline import BridgePipeline
from agentsight_otel._cli import build_parser
from tests.bridge.helpers import bridge_config, delivery_settings


def test_the_default_spool_is_under_the_state_directory(tmp_path: Path) -> None:
    assert default_spool_dir({"XDG_STATE_HOME": str(tmp_path)}) == str(
        tmp_path / "agentsight-otel" / "bridge"
    )
    home = Path.home() / ".local" / "state" / "agentsight-otel" / "bridge"
    assert default_spool_dir({}) == default_spool_dir({"XDG_STATE_HOME": "relative"}) == str(home)


def test_flag_and_variable_move_or_end_the_spool(tmp_path: Path) -> None:
    env = {"AGENTSIGHT_BRIDGE_SPOOL_DIR": str(tmp_path / "env")}
    assert resolve_bridge_config(environ=env).spool_directory() == str(tmp_path / "env")
    flagged = resolve_bridge_config(environ=env, spool_dir=str(tmp_path / "flag"))
    assert flagged.spool_directory() == str(tmp_path / "flag")
    assert (
        resolve_bridge_config(environ={"AGENTSIGHT_BRIDGE_SPOOL_DIR": "OFF"}).spool_directory()
        is None
    )
    args = build_parser().parse_args(["bridge", "--spool-dir", "off"])
    assert config_from_args(args)[0].spool_directory() is None


def test_the_pipeline_delivers_through_the_spool_by_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    pipeline = BridgePipeline(bridge_config(), delivery_settings())
    try:
        assert pipeline.exporter.settings.spool_dir == default_spool_dir()
    finally:
        pipeline.close(1.0)
    off = BridgePipeline(bridge_config(spool_dir="off"), delivery_settings())
    try:
        assert off.exporter.settings.spool_dir is None
    finally:
        off.close(1.0)
