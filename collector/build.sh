#!/bin/sh
# Build the project's Collector distribution once per (release, collector/ files) and print the
# binary's path as the last line. The cache lives outside the clone so every worktree and every
# `make test` reuses it; a second call only hashes the sources.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
release=$(sed -n 's/^const release = "\(.*\)"$/\1/p' "$here/main.go")
# The hash covers every file the binary is built from, so an edit rebuilds into a new directory.
# Test files are not part of the binary, so editing them does not rebuild it.
hash=$(cd "$here" && find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) ! -name '*_test.go' \
    | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-12)
dir="${XDG_CACHE_HOME:-$HOME/.cache}/agentsight-otel/collector/${release}-${hash}"
binary="$dir/agentsight-otelcol"

if [ ! -x "$binary" ]; then
    command -v go >/dev/null 2>&1 || {
        echo "building the Collector needs the Go toolchain (go 1.26 or newer on PATH); it is missing" >&2
        exit 1
    }
    mkdir -p "$dir"
    echo "building the Collector ${release} into $dir (first time only, a few minutes)" >&2
    start=$(date +%s)
    # -mod=readonly: go.mod and go.sum are committed and must already be complete.
    (cd "$here" && CGO_ENABLED=0 GOFLAGS=-mod=readonly \
        go build -trimpath -ldflags='-s -w' -o "$binary.tmp" .)
    mv "$binary.tmp" "$binary"  # atomic: a half-written binary is never picked up
    echo "built in $(( $(date +%s) - start )) s" >&2
fi
echo "$binary"
