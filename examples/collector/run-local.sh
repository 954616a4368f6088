#!/bin/sh
# The Collector route without a container engine: the Collector `make collector` builds (on the
# repo's collector-config.yaml), the bridge and the local AgentSight server, then the example app.
#
#   examples/collector/run-local.sh            # Python app (app.py)
#   examples/collector/run-local.sh node       # the Node.js producer (examples/node)
#   KEEP=1 examples/collector/run-local.sh     # leave everything running; Ctrl-C stops it
#
# Ports (127.0.0.1 only): Collector 4317/4318, bridge 4418 (HTTP) / 4417 (gRPC), server 8600.
# Override with COLLECTOR_GRPC_PORT, COLLECTOR_HTTP_PORT, BRIDGE_HTTP_PORT, BRIDGE_GRPC_PORT,
# SERVER_PORT. Logs and the SQLite file go to a temporary directory (printed).
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
python=${PYTHON:-$root/.venv/bin/python}
app=${1:-python}
collector_grpc=${COLLECTOR_GRPC_PORT:-4317}
collector_http=${COLLECTOR_HTTP_PORT:-4318}
bridge_http=${BRIDGE_HTTP_PORT:-4418}
bridge_grpc=${BRIDGE_GRPC_PORT:-4417}
server_port=${SERVER_PORT:-8600}
key=${AGENTSIGHT_API_KEY:-ags_00000000000000000000000000000000_000000}
token=${AGENTSIGHT_BRIDGE_TOKEN:-change-me}
work=$(mktemp -d "${TMPDIR:-/tmp}/agentsight-collector.XXXXXX")
echo "logs and data in $work"

collector=$(make -s collector | tail -n 1)
pids=""
cleanup() {
    # SIGTERM each process we started (the Collector first, so it hands the bridge what it holds).
    for pid in $pids; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

# Wait (at most about 30 s) until a port on 127.0.0.1 accepts connections.
wait_port() {
    "$python" - "$1" <<'PY'
import socket, sys, time
for _ in range(300):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=0.2).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(f"nothing listens on 127.0.0.1:{sys.argv[1]}")
PY
}

"$python" -m agentsight_otel serve --port "$server_port" --db "$work/agentsight-local.db" \
    >"$work/server.log" 2>&1 &
server_pid=$!
wait_port "$server_port"

AGENTSIGHT_API_KEY=$key AGENTSIGHT_API_ENDPOINT=http://127.0.0.1:$server_port \
AGENTSIGHT_BRIDGE_TOKEN=$token \
    "$python" -m agentsight_otel bridge --http "127.0.0.1:$bridge_http" \
    --grpc "127.0.0.1:$bridge_grpc" >"$work/bridge.log" 2>&1 &
bridge_pid=$!
wait_port "$bridge_http"

# The repo's own config; only its environment variables change (the tracing backend is left
# out of the pipeline, as there is no Jaeger here).
OTLP_GRPC_ENDPOINT=127.0.0.1:$collector_grpc OTLP_HTTP_ENDPOINT=127.0.0.1:$collector_http \
AGENTSIGHT_BRIDGE_ENDPOINT=http://127.0.0.1:$bridge_http AGENTSIGHT_BRIDGE_TOKEN=$token \
    "$collector" --config="$root/collector-config.yaml" \
    --set=service::telemetry::metrics::level=none \
    "--set=service::pipelines::traces::exporters=[otlp_http/agentsight]" \
    >"$work/collector.log" 2>&1 &
collector_pid=$!
pids="$collector_pid $bridge_pid $server_pid"
wait_port "$collector_http"

conversation=${CONVERSATION_ID:-run-local-$(date +%s)}
if [ "$app" = node ]; then
    make -s node-example
    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$collector_http CONVERSATION_ID=$conversation \
        node examples/node/producer.js
else
    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$collector_http OTEL_SERVICE_NAME=support-bot \
    CONVERSATION_ID=$conversation "$python" examples/collector/app.py
fi

# The Collector batches for up to 1 s and the bridge then delivers: read the transcript back.
"$python" - "$server_port" "$conversation" "$key" <<'PY'
import json, sys, time, urllib.error, urllib.request
port, conversation, key = sys.argv[1:]
url = f"http://127.0.0.1:{port}/api/conversations/{conversation}/transcript/"
request = urllib.request.Request(url, headers={"Authorization": f"Api-Key {key}"})
for _ in range(100):
    try:
        with urllib.request.urlopen(request) as answer:
            messages = json.load(answer)["messages"]
        if messages:
            break
    except urllib.error.HTTPError:
        pass
    time.sleep(0.2)
else:
    sys.exit(f"conversation {conversation} did not arrive")
for message in messages:
    print(f"  {message['sender']:>8}: {message['content']}")
PY
echo "conversation $conversation arrived at http://127.0.0.1:$server_port/api/conversations/$conversation/"

if [ "${KEEP:-}" = 1 ]; then
    echo "running; Ctrl-C stops the Collector, the bridge and the server"
    wait
fi
