# Everything a newcomer or CI needs: `make serve` and `make test` work on a fresh machine.
#
# CARGO_TARGET_DIR, if set, must be an absolute path; both cargo workspaces (the host and the
# wasm32-wasip2 guests) then build into it.

CARGO        ?= cargo
GUEST_TARGET := wasm32-wasip2
GUEST_DIR    := guest-examples
GUEST_OUT    := $(GUEST_DIR)/dist
# Guests that enable an SDK feature (an optional export or import) are built one cargo run
# each: cargo unifies features across one build, which would give every guest every export.
GUESTS_PLAIN := echo stream fail respond spin sleep grow deep trap flood excess not-a-handler chat status
GUESTS_FEATURED := agent background ws-echo fetch model-agent tool-agent soak
GUESTS       := $(GUESTS_PLAIN) $(GUESTS_FEATURED)
GUEST_SOLO   := $(foreach guest,$(GUESTS_FEATURED),--exclude $(guest))
GUEST_BUILD  := $(or $(CARGO_TARGET_DIR),$(CURDIR)/$(GUEST_DIR)/target)/$(GUEST_TARGET)/release
HANDLER      ?= $(GUEST_OUT)/agent.wasm
# The example agent in the other languages, each built by its own script (toolchains pinned and
# installed into ~/.cache/wasm-agent by the script).
LANG_GUESTS  := $(GUEST_OUT)/python-agent.wasm $(GUEST_OUT)/js-agent.wasm \
		$(GUEST_OUT)/js-tool-agent.wasm $(GUEST_OUT)/c-agent.wasm
GUEST_TOOLS  := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)/debug/wasm-agent-guest-tools
DEBUG_BIN    := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)/debug/wasm-agent
# The WIT the Python and C agents bind wasi:http from.
OUTBOUND_WIT := wit/handler.wit wit/outbound.wit $(wildcard wit/deps/*.wit)
RELEASE_BIN  := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)/release/wasm-agent
# The soak test: seconds of load in `make soak`, and where both soak runs write their reports.
SOAK_SECS    ?= 600
SOAK_OUT     := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
# The fuzz targets (fuzz/fuzz_targets), and the cargo-fuzz that runs them, pinned.
FUZZ_SECS    ?= 60
FUZZ_TARGETS := $(basename $(notdir $(wildcard fuzz/fuzz_targets/*.rs)))
CARGO_FUZZ_VERSION := 0.13.2
CARGO_FUZZ   := $(HOME)/.cache/wasm-agent/cargo-fuzz-$(CARGO_FUZZ_VERSION)/bin/cargo-fuzz

.PHONY: all setup guests rust-guests guest-tools c-bindings wit-deps build release install static image image-check test-tools test fmt fmt-check lint unit serve bench bench-compare bench-check bench-ceiling bench-http-echo bench-sessions bench-languages bench-observability bench-agents bench-load-tools sigv4-venv fuzz soak soak-check clean

all: build guests

## setup: install the Rust pieces the build needs (the guest target, rustfmt, clippy).
setup:
	@rustup target list --installed | grep -qx '$(GUEST_TARGET)' || rustup target add $(GUEST_TARGET)
	@rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt
	@rustup component list --installed | grep -q '^clippy' || rustup component add clippy

## guests: build the example handlers into guest-examples/dist/NAME.wasm: the Rust ones, and
## the example agent in Python, JavaScript and C.
guests: rust-guests $(LANG_GUESTS)

rust-guests: setup
	cd $(GUEST_DIR) && $(CARGO) build --release --locked --workspace $(GUEST_SOLO)
	@for guest in $(GUESTS_FEATURED); do \
		(cd $(GUEST_DIR) && $(CARGO) build --release --locked -p $$guest) || exit 1; done
	@mkdir -p $(GUEST_OUT)
	@# A library's file name has underscores where its crate name has dashes; a binary's does not.
	@for guest in $(GUESTS); do \
		built=$(GUEST_BUILD)/$$guest.wasm; \
		[ -f $$built ] || built=$(GUEST_BUILD)/$$(echo $$guest | tr - _).wasm; \
		cp $$built $(GUEST_OUT)/$$guest.wasm || exit 1; done
	@echo "guests in $(GUEST_OUT): $(GUESTS)"

$(GUEST_OUT)/python-agent.wasm: $(OUTBOUND_WIT) $(wildcard $(GUEST_DIR)/python/*.py) \
		$(GUEST_DIR)/python/requirements.txt $(GUEST_DIR)/python/build.sh
	bash $(GUEST_DIR)/python/build.sh $@

# The JavaScript agents also import wasi:cli/environment (the operator's grants), from wit/deps.
JS_DEPS      := $(OUTBOUND_WIT) $(wildcard $(GUEST_DIR)/js/*.js) \
		$(GUEST_DIR)/js/package.json $(GUEST_DIR)/js/package-lock.json $(GUEST_DIR)/js/build.sh

$(GUEST_OUT)/js-agent.wasm: $(JS_DEPS)
	bash $(GUEST_DIR)/js/build.sh $@

# The MCP tool agent in JavaScript, on the official MCP TypeScript SDK.
$(GUEST_OUT)/js-tool-agent.wasm: $(JS_DEPS)
	bash $(GUEST_DIR)/js/build.sh $@ $(GUEST_DIR)/js/tool-agent.js

# `wasm-agent componentize` makes the C core module a component, as it does for a C starter.
$(GUEST_OUT)/c-agent.wasm: $(OUTBOUND_WIT) $(wildcard $(GUEST_DIR)/c/*.[ch]) \
		$(wildcard $(GUEST_DIR)/c/bindings/*) $(GUEST_DIR)/c/build.sh | build
	WASM_AGENT=$(DEBUG_BIN) bash $(GUEST_DIR)/c/build.sh $@

guest-tools:
	$(CARGO) build --locked -p wasm-agent-guest-tools

## c-bindings: regenerate the committed C bindings of the outbound-handler world from wit/.
c-bindings: guest-tools
	$(GUEST_TOOLS) c-bindings --world outbound-handler $(GUEST_DIR)/c/bindings

## wit-deps: copy the WASI packages into wit/deps from the `wasip2` crate the Rust SDK pins, so
## every language binds the same wasi:http (0.2.12); `make lint` checks that they still match.
wit-deps:
	cp "$$($(WASIP2_WIT))"/*.wit wit/deps/

# The wasip2 crate's WIT folder, from cargo's metadata of the guests' workspace.
WASIP2_WIT = $(CARGO) metadata --format-version 1 --locked --manifest-path $(GUEST_DIR)/Cargo.toml \
	| python3 -c 'import json, os, sys; \
		print(next(os.path.dirname(p["manifest_path"]) for p in json.load(sys.stdin)["packages"] \
		if p["name"] == "wasip2") + "/wit/deps")'

build: setup
	$(CARGO) build --locked

release: setup
	$(CARGO) build --release --locked

## install: install the wasm-agent binary into cargo's bin folder (~/.cargo/bin): all a handler's
## author needs, with the language's own toolchain, to build a starter from `wasm-agent new`.
install: setup
	$(CARGO) install --locked --path .

## test: everything CI checks: formatting, lints, unit and integration tests on real guests
## (nginx in front of replicas among them), the container image run in podman, a short soak.
test: setup guests sigv4-venv test-tools fmt-check lint unit image-check soak-check

## test-tools: the programs tests run beside the server: nginx (the scale-out test), podman and
## runc (the image test), from Debian's packages where missing (as root).
test-tools:
	@bash tests/tools/install.sh

## sigv4-venv: the Python venv with botocore that the integration tests check the host's SigV4
## signatures with (tests/sigv4; built once into ~/.cache/wasm-agent, again when its pins change).
sigv4-venv:
	@bash tests/sigv4/venv.sh

fmt:
	$(CARGO) fmt --all
	cd $(GUEST_DIR) && $(CARGO) fmt --all
	rustfmt --edition 2024 fuzz/fuzz_targets/*.rs

fmt-check:
	$(CARGO) fmt --all -- --check
	cd $(GUEST_DIR) && $(CARGO) fmt --all -- --check
	rustfmt --check --edition 2024 fuzz/fuzz_targets/*.rs

lint: guest-tools
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings
	$(GUEST_TOOLS) c-bindings --check --world outbound-handler $(GUEST_DIR)/c/bindings
	@diff -r "$$($(WASIP2_WIT))" wit/deps >/dev/null \
		|| { echo "wit/deps differs from the wasip2 crate's WIT (run make wit-deps)"; exit 1; }
	cd $(GUEST_DIR) && $(CARGO) clippy --locked --release --workspace $(GUEST_SOLO) -- -D warnings
	@for guest in $(GUESTS_FEATURED); do \
		(cd $(GUEST_DIR) && $(CARGO) clippy --locked --release -p $$guest -- -D warnings) || exit 1; done

unit:
	$(CARGO) test --locked --workspace

# The container image (deploy/container): static builds for TARGET (the image's machine,
# default this one) and, to compile the handler, for this machine.
HOST_TARGET  := $(shell uname -m)-unknown-linux-gnu
TARGET       ?= $(HOST_TARGET)
IMAGE        ?= wasm-agent-handler:latest
STATIC_TARGETS := $(sort $(HOST_TARGET) $(TARGET))
# Cargo's per-target variables: the triple upper-cased, dashes as underscores.
cargo_target_var = CARGO_TARGET_$(shell echo $(1) | tr a-z- A-Z_)

## static: the release binary linked statically (glibc included), for the container image;
## another TARGET needs its cross linker (deploy/container/README.md).
static: setup
	@for target in $(STATIC_TARGETS); do rustup target list --installed | grep -qx $$target \
		|| rustup target add $$target || exit 1; done
	$(foreach target,$(STATIC_TARGETS),$(call cargo_target_var,$(target))_RUSTFLAGS='-C target-feature=+crt-static') \
		$(foreach target,$(filter-out $(HOST_TARGET),$(TARGET)),$(call cargo_target_var,$(target))_LINKER=$(subst -unknown,,$(target))-gcc) \
		$(CARGO) build --release --locked $(addprefix --target ,$(STATIC_TARGETS))

## image: the container image of HANDLER (default the example agent) for TARGET, tagged IMAGE;
## CONFIG=settings.toml, OUTBOUND_CA=ca.pem (deploy/container/README.md).
image: static rust-guests
	IMAGE='$(IMAGE)' TARGET=$(TARGET) OUTBOUND_CA='$(OUTBOUND_CA)' bash deploy/container/build.sh $(HANDLER) $(CONFIG)

## image-check: the example agent's and the fetch guest's images for this machine, run and
## tested in podman (tests/image/run.py), which prints the image's size and start time.
image-check: static rust-guests
	@bash tests/tools/install.sh podman runc
	IMAGE=wasm-agent-check:agent TARGET=$(HOST_TARGET) bash deploy/container/build.sh $(GUEST_OUT)/agent.wasm
	IMAGE=wasm-agent-check:fetch TARGET=$(HOST_TARGET) bash deploy/container/build.sh $(GUEST_OUT)/fetch.wasm
	python3 tests/image/run.py wasm-agent-check:agent --fetch-image wasm-agent-check:fetch

## serve: build and serve the example agent on 127.0.0.1:8080 (HANDLER=path.wasm for another).
serve: release rust-guests
	$(CARGO) run --release --locked --quiet -- serve $(HANDLER) --host 127.0.0.1 --port 8080

## bench: micro-benchmarks (criterion: instantiate + invoke, headers to context, JSON checks, the
## event path), then the comparison with the peers (which reads criterion's medians), sessions,
## languages. /ping's long standalone run stays `bash bench/ping/run.sh` (bench/ping/results.md).
bench: setup guests release
	$(CARGO) bench --locked -p wasm-agent-bench
	$(MAKE) bench-compare
	$(MAKE) bench-sessions
	$(MAKE) bench-languages

## bench-compare: wasm-agent beside a bare axum ceiling, wasmtime serve and the Python SDK, in one
## run: echo throughput and latency, streaming, /ping under load, start-up, memory (about 7½
## minutes; installs wrk, wasmtime-cli and the SDK's venv once; writes bench/results.md and
## bench/results.json). QUICK=1 for a smoke test; settings in bench/compare/README.md.
bench-compare: release rust-guests bench-ceiling bench-http-echo
	python3 bench/compare/run.py

## bench-check: criterion's echo micro-benchmark (short), then bench-compare, then fail if a
## target is missed. It measures afresh rather than trusting a results.json or criterion result
## from another build or machine; a criterion result older than the binary counts as missed.
bench-check: release rust-guests bench-ceiling bench-http-echo
	$(CARGO) bench --locked -p wasm-agent-bench --bench invoke -- --warm-up-time 1 --measurement-time 3
	python3 bench/compare/run.py --check

bench-ceiling:
	$(CARGO) build --release --locked -p wasm-agent-bench --bin ceiling

# The wasi:http echo for wasmtime serve; its own workspace, so its own cargo run.
bench-http-echo: setup
	cd bench/http-echo && $(CARGO) build --release --locked --target $(GUEST_TARGET)

## bench-observability: server CPU per echo invocation with logging (text, JSON), metrics
## scraping and OTLP tracing each on and off, side by side (about 2 minutes; BASELINE=an older
## binary adds it to the table).
bench-observability: release rust-guests
	@bash tests/tools/install.sh wrk
	python3 bench/observability.py

## bench-languages: the example agent in each language: size, cold and cached start, echo
## latency (writes bench/languages/results.md).
bench-languages: release guests
	python3 bench/languages/run.py $(RELEASE_BIN) $(GUEST_OUT)

## bench-agents: thousands of concurrent invocations streaming a mock model's tokens through
## the model agent, wasm-agent (fresh instances and sessions) beside the Python SDK, N stepped
## from 100 to 2,000 and on while it holds (about 15 minutes; writes bench/agents/results.md).
## QUICK=1 for a smoke test.
bench-agents: release rust-guests bench-load-tools
	python3 bench/agents/run.py $(if $(QUICK),--quick)

# The agent benchmark's mock model and load generator.
bench-load-tools:
	$(CARGO) build --release --locked -p wasm-agent-bench --bin mock-model --bin agent-load

## bench-sessions: RSS per idle session (1,000 sessions) and warm-session versus fresh-instance
## latency through the release server (writes bench/sessions/results.md).
bench-sessions: release guests
	python3 bench/sessions/run.py $(RELEASE_BIN) $(GUEST_OUT)/echo.wasm

## fuzz: run every fuzz target for FUZZ_SECS seconds each (default 60): libFuzzer through
## cargo fuzz with --sanitizer none, so stable Rust builds it (cargo-fuzz is installed once into
## ~/.cache/wasm-agent). New inputs go to fuzz/target/corpus, crashes to fuzz/artifacts (a crash
## ends its target's run, not the others'); how to keep them is in fuzz/README.md. `make test` replays the committed ones (crates/fuzz-checks).
fuzz: $(CARGO_FUZZ)
	@failed=; for target in $(FUZZ_TARGETS); do \
		mkdir -p fuzz/target/corpus/$$target; \
		echo "fuzz: $$target for $(FUZZ_SECS)s"; \
		PATH="$(dir $(CARGO_FUZZ)):$$PATH" $(CARGO) fuzz run --sanitizer none \
			--fuzz-dir fuzz --target-dir $(CURDIR)/fuzz/target $$target \
			fuzz/target/corpus/$$target fuzz/corpus/$$target \
			-- -max_total_time=$(FUZZ_SECS) -timeout=10 -print_final_stats=1 \
			|| failed="$$failed $$target"; done; \
	if [ -n "$$failed" ]; then echo "fuzz: crashed:$$failed (inputs in fuzz/artifacts)"; exit 1; fi

$(CARGO_FUZZ):
	$(CARGO) install --locked --version $(CARGO_FUZZ_VERSION) \
		--root $(HOME)/.cache/wasm-agent/cargo-fuzz-$(CARGO_FUZZ_VERSION) cargo-fuzz

## soak: the release server for SOAK_SECS seconds (600) under a mix of well-behaved and hostile
## load, /ping probed every 50 ms, resources measured after warm-up, midway and at the end, then
## SIGTERM under load; prints the report (and target/soak/soak.json) and fails on any miss,
## timing and growth targets included (bench/soak/README.md).
soak: release rust-guests
	$(CARGO) build --release --locked -p wasm-agent-bench --bin soak
	$(SOAK_OUT)/release/soak --server $(RELEASE_BIN) --guest $(GUEST_OUT)/soak.wasm \
		--secs $(SOAK_SECS) --out $(SOAK_OUT)/soak

## soak-check: a 60-second soak of the debug build that checks correctness only (no failed
## well-behaved request, no crash, descriptors and instances back to their baseline, a clean
## shutdown under load); `make test` runs it.
soak-check: build rust-guests
	$(CARGO) build --locked -p wasm-agent-bench --bin soak
	$(SOAK_OUT)/debug/soak --server $(DEBUG_BIN) --guest $(GUEST_OUT)/soak.wasm \
		--secs 60 --correctness-only --out $(SOAK_OUT)/soak-check

clean:
	$(CARGO) clean
	cd $(GUEST_DIR) && $(CARGO) clean
	rm -rf $(GUEST_OUT)
