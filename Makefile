# Warren. `make run` builds everything and starts the engine with a local
# agent; `make test` installs missing test dependencies and runs every test.

GO        ?= go
NPM       ?= npm
BIN       := bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
DATA_DIR  ?= ./warren-data
GOTESTFLAGS ?= -race -count=1 -timeout 20m

.PHONY: all build ui run test test-go test-ui screenshots cross vet bench clean

all: build

build: ui
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

# The browser console (webui/), built into webui/dist and embedded in the
# warren binary. Without npm the engine is built without it and serves a
# page that says how to build it. npm ci runs only when the lock file changed.
ui:
	@if ! command -v $(NPM) >/dev/null 2>&1; then \
		echo "ui: npm not found: the engine is built without the browser console"; \
	else \
		cd webui && { [ node_modules/.package-lock.json -nt package-lock.json ] || $(NPM) ci --no-audit --no-fund; } && $(NPM) run build; \
	fi

# Start the engine on its embedded default (SQLite in $(DATA_DIR)) and a local
# agent enrolled against it. Ctrl-C stops both.
run: build
	DATA_DIR=$(DATA_DIR) BIN=$(BIN) ./scripts/run.sh

test:
	./scripts/install-test-deps.sh
	$(MAKE) ui vet cross test-ui test-go

vet:
	$(GO) vet ./...

# The agent must build for every OS it ships on, even where a feature is
# Linux-only for now.
cross:
	GOOS=windows GOARCH=amd64 $(GO) build -o /dev/null ./cmd/warren-agent
	GOOS=darwin GOARCH=arm64 $(GO) build -o /dev/null ./cmd/warren-agent

test-go:
	$(GO) test $(GOTESTFLAGS) ./...

# The console's unit tests (vitest) and its bundle size budget. The browser
# tests are Go tests (webui/browser_test.go) and run in test-go.
test-ui:
	@if ! command -v $(NPM) >/dev/null 2>&1; then \
		if [ "$$WARREN_TEST_REQUIRE" = all ]; then echo "test-ui: npm is required" >&2; exit 1; fi; \
		echo "test-ui: SKIPPING: npm not found"; \
	else \
		cd webui && $(NPM) exec -- vitest run && node scripts/size-budget.mjs; \
	fi

# Refresh the README's screenshots (docs/screenshots) from the browser test.
screenshots: ui
	WARREN_SCREENSHOTS=1 $(GO) test -count=1 -run TestConsoleInBrowser -v ./webui/

bench: build
	$(BIN)/warren-bench tunnel

clean:
	rm -rf $(BIN)
