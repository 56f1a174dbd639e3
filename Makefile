# Warren. `make run` builds everything and starts the engine with a local
# agent; `make test` installs missing test dependencies and runs every test.

GO        ?= go
BIN       := bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
DATA_DIR  ?= ./warren-data
GOTESTFLAGS ?= -race -count=1 -timeout 20m

.PHONY: all build run test test-go cross vet bench clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

# Start the engine on its embedded default (SQLite in $(DATA_DIR)) and a local
# agent enrolled against it. Ctrl-C stops both.
run: build
	DATA_DIR=$(DATA_DIR) BIN=$(BIN) ./scripts/run.sh

test: 
	./scripts/install-test-deps.sh
	$(MAKE) vet cross test-go

vet:
	$(GO) vet ./...

# The agent must build for every OS it ships on, even where a feature is
# Linux-only for now.
cross:
	GOOS=windows GOARCH=amd64 $(GO) build -o /dev/null ./cmd/warren-agent
	GOOS=darwin GOARCH=arm64 $(GO) build -o /dev/null ./cmd/warren-agent

test-go:
	$(GO) test $(GOTESTFLAGS) ./...

bench: build
	$(BIN)/warren-bench tunnel

clean:
	rm -rf $(BIN)
