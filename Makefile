# Crossroads developer tasks. `make test` is the test command CI runs (README.md).

GO ?= go
BIN ?= bin

.PHONY: all build run test check vet fmt fuzz bench clean plugins toolchains

all: build

build:
	$(GO) build -o $(BIN)/crossroads ./edge/cmd/crossroads

run:
	$(GO) run ./edge/cmd/crossroads serve

# test: formatting, vet, every plugin and example built from source, and every test under
# the race detector.
test: check plugins
	$(GO) test -race -count=1 ./...

# plugins: build every first-party plugin (plugins/dist) and example (examples/*/*/plugin.wasm)
# in C, Go, AssemblyScript and WAT, installing the toolchains first if they are missing.
plugins: toolchains
	scripts/build-plugins.sh

toolchains:
	scripts/toolchains.sh

check: fmt vet

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# fuzz: a short run of every fuzz target (FUZZTIME per target).
FUZZTIME ?= 20s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

# bench: Go micro-benchmarks, then the load comparison against the floor (bench/run.sh).
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./edge/... 
	bench/run.sh

clean:
	rm -rf $(BIN)
