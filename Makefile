# The front door. `make demo` and `make test` set up everything first.
.PHONY: setup build test lint generate demo bench bench-quick dist fuzz clean

GO ?= go

setup:
	bash tools/setup.sh

build:
	$(GO) build -o bin/ ./go/cmd/...

test: setup build
	python3 tools/test_all.py

# gofmt, go vet, staticcheck, mypy, ruff, phpcs, perlcritic, podchecker,
# buildifier; `make test` runs it too (suite "lint").
lint:
	python3 tools/lint/lint.py

# Regenerate the cross-language tables from spec/pluton.json.
generate:
	$(GO) generate ./go/internal/spec

demo: setup build
	bash tools/demo.sh

# tools/bench is its own module (tools/bench/go.mod), so that the library's
# go.mod carries no plotting or FastCGI module.
bench: build
	PLUTON_BENCH=1 bash tools/setup.sh
	cd tools/bench && GOFLAGS=-mod=mod $(GO) run .

bench-quick: build
	PLUTON_BENCH=1 bash tools/setup.sh
	cd tools/bench && GOFLAGS=-mod=mod $(GO) run . -quick

# The reliability suite (tests/chaos) in full mode; it rewrites the figures
# of docs/reliability.md. `make test` runs its quick mode.
chaos: build
	PLUTON_BIN=$(CURDIR)/bin PLUTON_CHAOS=full PLUTON_CHAOS_REPORT=$(CURDIR)/docs/reliability.md \
		$(GO) test -count=1 -timeout 60m -v ./tests/chaos/

dist:
	bash tools/dist.sh

fuzz:
	cd go/protocol && $(GO) test -run '^$$' -fuzz FuzzDecoder -fuzztime 10m

clean:
	rm -rf bin dist test-results
