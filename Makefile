PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint bench clean browser collector collector-test node-example vercel-ai-example

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# python-dotenv: README's quick start loads .env with it (the library itself never does).
$(VENV)/.demo-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[server]' 'python-dotenv>=1.0'
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.demo-installed

demo: $(VENV)/.demo-installed
	$(BIN)/agentsight-otel demo --db .agentsight/demo.db

# The viewer's browser tests drive Debian's Chromium (Playwright never downloads a browser here).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "make: installing Debian's chromium for the viewer's browser tests (apt-get)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else \
	    echo "chromium is missing: install it (e.g. sudo apt-get install chromium);" \
	      "the browser tests are skipped without it"; \
	  fi; }

# The project's Collector distribution (collector/): built once into the user cache, then instant.
# Prints the binary's path as its last line.
collector:
	@collector/build.sh

# The Go unit tests of the Collector distribution's own components (collector/loadbalancing).
collector-test: collector
	cd collector && GOFLAGS=-mod=readonly go test ./...

# The Node.js producer example's packages, exactly as package-lock.json pins them.
NODE_EXAMPLE := examples/node
$(NODE_EXAMPLE)/node_modules/.package-lock.json: $(NODE_EXAMPLE)/package.json $(NODE_EXAMPLE)/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "make: the Node example needs Node.js 20+ with npm; it is missing"; exit 1; }
	@echo "make: installing the Node example's npm packages (npm ci in $(NODE_EXAMPLE))"
	cd $(NODE_EXAMPLE) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

node-example: $(NODE_EXAMPLE)/node_modules/.package-lock.json

# The Vercel AI SDK example (the real `ai` package), exactly as its package-lock.json pins it.
VERCEL_EXAMPLE := examples/vercel-ai
$(VERCEL_EXAMPLE)/node_modules/.package-lock.json: $(VERCEL_EXAMPLE)/package.json $(VERCEL_EXAMPLE)/package-lock.json
	cd $(VERCEL_EXAMPLE) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

vercel-ai-example: $(VERCEL_EXAMPLE)/node_modules/.package-lock.json

# The Collector end-to-end tests (tests/collector) run the built Collector and the Node examples.
test: $(VENV)/.dev-installed browser collector collector-test node-example vercel-ai-example
	$(BIN)/python -m pytest -q

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	@test -z "$$(gofmt -l collector)" || { gofmt -l collector; echo 'gofmt: the files above need formatting'; exit 1; }

bench: $(VENV)/.dev-installed
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
