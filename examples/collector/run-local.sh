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
# SERVER_PORT. Logs and the SQLite file go to a temporary directory (printed). A port already
# in use (say by an `agentsight-otel serve` of yours on 8600) is refused before anything starts.
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

# Every port must be free: a server already on one would take the example's data (and its
# answers would look like success).
"$python" - "$collector_grpc" "$collector_http" "$bridge_http" "$bridge_grpc" "$server_port" <<'PY'
import socket, sys
for port in sys.argv[1:]:
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", int(port))) == 0:
            sys.exit(
                f"run-local.sh: 127.0.0.1:{port} is already in use (an `agentsight-otel serve` or "
                "a Collector of yours?): stop it, or choose other ports (COLLECTOR_GRPC_PORT, "
                "COLLECTOR_HTTP_PORT, BRIDGE_HTTP_PORT, BRIDGE_GRPC_PORT, SERVER_PORT)"
            )
PY

# The build says what went wrong on stderr; stop here rather than wait for a Collector.
built=$(make -s collector) || { echo "run-local.sh: building the Collector failed (above)" >&2; exit 1; }
collector=$(printf '%s\n' "$built" | tail -n 1)
[ -x "$collector" ] || { echo "run-local.sh: no Collector binary at '$collector'" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/agentsight-collector.XXXXXX")
echo "logs and data in $work"
pids=""
cleanup() {
    # SIGTERM each process we started (the Collector first, so it hands the bridge what it holds).
    for pid in $pids; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

# Wait (at most about 30 s) until a port on 127.0.0.1 accepts connections; fail at once when
# the process meant to listen there (pid $2, its log $3) has ended.
wait_port() {
    "$python" - "$1" "$2" "$3" <<'PY'
import os, socket, sys, time
port, pid, log = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
for _ in range(300):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        sys.exit(0)
    except OSError:
        pass
    try:  # the shell's child: gone, or a zombie ("Z") the shell has not reaped yet
        with open(f"/proc/{pid}/stat") as stat:
            ended = stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        ended = True
    if ended:
        sys.exit(f"run-local.sh: the process for 127.0.0.1:{port} ended; see {log}")
    time.sleep(0.1)
sys.exit(f"run-local.sh: nothing listens on 127.0.0.1:{port}; see {log}")
PY
}

"$python" -m agentsight_otel serve --port "$server_port" --db "$work/agentsight-local.db" \
    >"$work/server.log" 2>&1 &
server_pid=$!
pids=$server_pid
wait_port "$server_port" "$server_pid" "$work/server.log"

AGENTSIGHT_API_KEY=$key AGENTSIGHT_API_ENDPOINT=http://127.0.0.1:$server_port \
AGENTSIGHT_BRIDGE_TOKEN=$token \
    "$python" -m agentsight_otel bridge --http "127.0.0.1:$bridge_http" \
    --grpc "127.0.0.1:$bridge_grpc" >"$work/bridge.log" 2>&1 &
bridge_pid=$!
pids="$bridge_pid $server_pid"
wait_port "$bridge_http" "$bridge_pid" "$work/bridge.log"

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
wait_port "$collector_http" "$collector_pid" "$work/collector.log"

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
# The viewer's page for it is named by the server's own id, which goes to $work/viewer-id.
"$python" - "$server_port" "$conversation" "$key" "$work/viewer-id" <<'PY'
import json, sys, time, urllib.error, urllib.request
port, conversation, key, viewer_id = sys.argv[1:]
url = f"http://127.0.0.1:{port}/api/conversations/{conversation}/"
headers = {"Authorization": f"Api-Key {key}"}
request = urllib.request.Request(url + "transcript/", headers=headers)
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
with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as answer:
    with open(viewer_id, "w") as out:
        out.write(str(json.load(answer)["id"]))
PY
echo "conversation $conversation arrived"
viewer="http://127.0.0.1:$server_port/conversations/$(cat "$work/viewer-id")/"
if [ "${KEEP:-}" = 1 ]; then
    echo "see it in the viewer: $viewer"
    echo "running; Ctrl-C stops the Collector, the bridge and the server"
    wait
else
    echo "to see it in the viewer, run (everything here stops now):"
    echo "  $python -m agentsight_otel serve --port $server_port --db $work/agentsight-local.db"
    echo "then open $viewer"
fi
