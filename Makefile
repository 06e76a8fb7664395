# The front door. `make demo` and `make test` set up everything first.
.PHONY: setup build test demo bench bench-quick dist fuzz clean

GO ?= go

setup:
	bash tools/setup.sh

build:
	$(GO) build -o bin/ ./go/cmd/...

test: setup build
	python3 tools/test_all.py

demo: setup build
	bash tools/demo.sh

bench: build
	PLUTON_BENCH=1 bash tools/setup.sh
	$(GO) run ./tools/bench

bench-quick: build
	PLUTON_BENCH=1 bash tools/setup.sh
	$(GO) run ./tools/bench -quick

dist:
	bash tools/dist.sh

fuzz:
	cd go/protocol && $(GO) test -run '^$$' -fuzz FuzzDecoder -fuzztime 10m

clean:
	rm -rf bin dist test-results
