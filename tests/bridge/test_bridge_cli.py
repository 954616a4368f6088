"""``agentsight-otel bridge``: flags and environment, SIGTERM drain, the example app end to end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from agentsight_otel._bridge.config import Address, parse_address, resolve_bridge_config
from agentsight_otel._bridge.runner import Bridge
from agentsight_otel._cli import build_parser, main
from agentsight_otel.exceptions import ConfigurationError
from agentsight_otel.server import LocalServer
from agentsight_otel.testing import TEST_API_KEY
from tests.bridge.helpers import (
    bridge_config,
    captured_spans,
    delivery_settings,
    is_root,
    otlp_protobuf,
)
from tests.support.local import read_local

ROOT = Path(__file__).resolve().parents[2]
PROTOBUF = {"Content-Type": "application/x-protobuf"}


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without AGENTSIGHT_* or OTEL_* variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTSIGHT_", "OTEL_"))}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


def test_help_explains_every_flag_and_variable(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["bridge", "--help"])
    text = capsys.readouterr().out
    for needle in (
        "--http",
        "--grpc",
        "--token",
        "--api-key",
        "--endpoint",
        "--max-body-bytes",
        "--max-queue-spans",
        "--drain-timeout",
        "AGENTSIGHT_API_KEY",
        "AGENTSIGHT_API_ENDPOINT",
        "AGENTSIGHT_BRIDGE_TOKEN",
        "AGENTSIGHT_BRIDGE_HTTP_ADDRESS",
        "AGENTSIGHT_BRIDGE_GRPC_ADDRESS",
        "127.0.0.1:4418",
        "127.0.0.1:4417",
    ):
        assert needle in text, needle


def test_flags_win_over_the_environment_which_wins_over_defaults() -> None:
    env = {
        "AGENTSIGHT_BRIDGE_HTTP_ADDRESS": "0.0.0.0:5000",
        "AGENTSIGHT_BRIDGE_GRPC_ADDRESS": "off",
        "AGENTSIGHT_BRIDGE_TOKEN": "from-env",
    }
    from_env = resolve_bridge_config(environ=env)
    assert (from_env.http_address, from_env.grpc_address) == (Address("0.0.0.0", 5000), None)
    assert from_env.token == "from-env"
    flagged = resolve_bridge_config(
        http_address=":6000", token="from-flag", max_queue_spans=10, environ=env
    )
    assert (flagged.http_address, flagged.token, flagged.max_queue_spans) == (
        Address("0.0.0.0", 6000),
        "from-flag",
        10,
    )
    defaults = resolve_bridge_config(environ={})
    assert (str(defaults.http_address), str(defaults.grpc_address)) == (
        "127.0.0.1:4418",
        "127.0.0.1:4417",
    )
    assert defaults.token is None and "from" not in repr(flagged)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("[::1]:4418", Address("::1", 4418)), ("OFF", None), ("host:1", Address("host", 1))],
)
def test_addresses(text: str, expected: Address | None) -> None:
    assert parse_address(text, "x") == expected


@pytest.mark.parametrize("text", ["4418", "host:", "host:99999", "::1:4418", "host:port"])
def test_bad_addresses(text: str) -> None:
    with pytest.raises(ConfigurationError):
        parse_address(text, "x")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bridge"], "AGENTSIGHT_API_KEY is not set"),
        (["bridge", "--api-key", TEST_API_KEY, "--http", "nowhere"], "HTTP address"),
        (["bridge", "--api-key", TEST_API_KEY, "--http", "off", "--grpc", "off"], "both are off"),
        (["bridge", "--api-key", TEST_API_KEY, "--max-queue-spans", "0"], "--max-queue-spans"),
        (["bridge", "--api-key", "not-a-key"], "not an AgentSight API key"),
        (
            ["bridge", "--api-key", TEST_API_KEY, "--http", "0.0.0.0:0", "--grpc", "off"],
            "listening on 0.0.0.0 reaches beyond this machine, so it needs a token (--token",
        ),
        (
            ["bridge", "--api-key", TEST_API_KEY, "--http", "off", "--grpc", ":0"],
            "token_urlsafe",
        ),
    ],
)
def test_configuration_problems_exit_2_before_listening(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_the_cli_parser_builds_without_the_server_modules() -> None:
    code = (
        "import sys; from agentsight_otel._cli import build_parser; build_parser(); "
        "print(any(m in sys.modules for m in ('uvicorn', 'starlette', 'grpc')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=clean_env(), capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
    assert build_parser().parse_args(["bridge", "--grpc", "off"]).grpc == "off"


def start_cli_bridge(endpoint: str, *flags: str) -> tuple[subprocess.Popen[str], str]:
    """``agentsight-otel bridge`` in a subprocess on a free port; its traces URL."""
    command = ["bridge", "--http", "127.0.0.1:0", "--grpc", "off", "--endpoint", endpoint]
    process = subprocess.Popen(
        [sys.executable, "-m", "agentsight_otel._cli", *command, *flags],
        env=clean_env(AGENTSIGHT_API_KEY=TEST_API_KEY),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()  # printed once the listener accepts requests
    assert line.startswith("OTLP/HTTP listening on "), line + process.stderr.read()
    return process, line.rsplit(" ", 1)[1].strip()


def stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    """SIGTERM, then the exit code and the rest of stdout.

    The drain deadlines are at most 10 s; a bridge still running 30 s later ignored its own.
    """
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=30)
    return process.returncode, out


def test_sigterm_delivers_what_the_bridge_holds(server: LocalServer) -> None:
    spans = captured_spans("drained-on-sigterm")
    children = [span for span in spans if not is_root(span)]
    process, url = start_cli_bridge(server.url, "--drain-timeout", "10")
    try:
        response = requests.post(url, data=otlp_protobuf(children), headers=PROTOBUF, timeout=10)
        assert response.status_code == 200
    finally:
        code, out = stop(process)
    assert code == 0, out
    assert "stopped" in out
    actions = read_local(server.url, "drained-on-sigterm", "actions/")["actions"]
    assert sorted(action["name"] for action in actions) == ["lookup_order", "refund_check"]


def test_sigterm_with_an_unreachable_backend_still_exits_within_the_deadline() -> None:
    with LocalServer() as gone:
        endpoint = gone.url  # a port nobody listens on once the server stopped
    # Without the spool what the backend cannot take is lost, and the exit code says so.
    process, url = start_cli_bridge(endpoint, "--drain-timeout", "1", "--spool-dir", "off")
    try:
        body = otlp_protobuf(captured_spans("undeliverable"))
        assert requests.post(url, data=body, headers=PROTOBUF, timeout=10).status_code == 200
    finally:
        code, out = stop(process)
    assert code == 1, out
    assert "not delivered" in out


def test_the_example_app_reaches_agentsight_through_the_bridge(server: LocalServer) -> None:
    # The bridge speaks OTLP, so the app can point at it directly; a Collector sits between in
    # production (compose.yaml), doing nothing to the spans the bridge cares about.
    settings = delivery_settings(server.url)
    with Bridge(bridge_config(grpc_address=None), settings=settings) as bridge:
        result = subprocess.run(
            [sys.executable, str(ROOT / "examples" / "collector" / "app.py")],
            env=clean_env(
                OTEL_EXPORTER_OTLP_ENDPOINT=str(bridge.http_url),
                OTEL_SERVICE_NAME="support-bot",
                CONVERSATION_ID="collector-example",
            ),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert "handed_off" in result.stdout
        assert bridge.flush(10)
    messages = read_local(server.url, "collector-example", "transcript/")["messages"]
    assert [m["sender"] for m in messages] == ["end_user", "agent"]
    assert read_local(server.url, "collector-example", "usage/")["totals"]["total_tokens"] == 223
