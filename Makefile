# livenames: `make run` serves the app, `make test` runs every test. Both install what is
# missing first (scripts/install-tools.sh), so a fresh machine needs nothing else.

export PATH := $(HOME)/.cargo/bin:$(PATH)
# The release server; it serves the site cargo-leptos wrote to target/site.
SERVER := target/release/server

.PHONY: run test dev build dist budget tools test-tools unit e2e lint screenshot bench bench-hubs soak faults fuzz fuzz-head engines pagecost lighthouse

## run: install what is missing, build the release site, serve http://127.0.0.1:3000
run: build
	$(SERVER)

## test: install what is missing, run the Rust tests, then the browser suites against a release build
## (Chromium with Playwright, then Firefox ESR and WebKitGTK over WebDriver)
test: test-tools unit build budget e2e engines

## dev: rebuild and reload on every change (cargo leptos watch). Its debug site goes to
## target/site-dev, so the release site in target/site is never overwritten by it.
dev: tools
	LEPTOS_SITE_ROOT=target/site-dev cargo leptos watch

## build: the release server and its site/ (WASM, JS, CSS) under target/
build: tools
	cargo leptos build --release

## dist: the deployable folder dist/, the release server and its site/ (README: Deploying)
dist: build
	scripts/dist.sh

## budget: fail when the release WASM is over its size budget (run after build)
budget:
	scripts/wasm-budget.sh

tools:
	scripts/install-tools.sh build

test-tools:
	scripts/install-tools.sh test

## unit: Rust unit and integration tests (app, hub, lean, server, open-files, bench; the frontend is
## only WASM glue); the multi-instance tests need redis-server, installed here if missing. A debug
## build, so an arithmetic overflow panics; sse-lean's generated attack runs 24 cases here. Then
## sse-hub and sse-lean are packaged and built as crates.io would (`cargo publish --dry-run`)
unit:
	scripts/install-tools.sh unit
	cargo test -p app -p sse-hub -p sse-lean -p server -p open-files -p bench
	scripts/publish-check.sh

## faults: the seeded fault-injection test of the shared stream (server/tests/faults.rs) for
## SEEDS seeds (default 5), FAULT_SECS seconds of faults each (default 60); `make unit` runs
## it once with a random seed, which a failure prints
SEEDS ?= 5
FAULT_SECS ?= 60
faults:
	scripts/install-tools.sh unit
	cargo build -p server --tests
	for i in $$(seq $(SEEDS)); do \
		LIVENAMES_FAULT_SECS=$(FAULT_SECS) cargo test -p server --test faults -- --nocapture || exit 1; \
	done

## fuzz: sse-lean's generated attack (lean/tests/attack_generated.rs) with more cases,
## LEAN_ATTACK_CASES of them (500 unless set; about 2 s each), in a debug build
fuzz:
	LEAN_ATTACK_CASES=$${LEAN_ATTACK_CASES:-500} cargo test -p sse-lean --test attack_generated

## fuzz-head: coverage-guided fuzzing (libFuzzer, cargo-fuzz on nightly) of sse-lean's head
## parser, FUZZ_SECS seconds (300 unless set); the crate lean/fuzz is built only here
fuzz-head:
	scripts/install-tools.sh fuzz
	mkdir -p lean/fuzz/corpus/head
	cd lean && cargo +nightly fuzz run -s none head fuzz/corpus/head fuzz/seeds/head -- \
		-max_total_time=$${FUZZ_SECS:-300} -max_len=70000

## e2e: the Playwright suite in end2end/ (Chromium, and through nginx and Caddy; needs `make
## build` and `make test-tools`); it also runs dist/, copied here from that build
e2e:
	scripts/dist.sh
	cd end2end && npx playwright test

## engines: the shared checks in Firefox ESR and WebKitGTK over WebDriver (end2end/engines/),
## against the last release build, one test at a time; an engine that cannot start fails it
engines:
	cd end2end && npx playwright test --config engines.config.ts

## screenshot: retake docs/screenshot.png from the real page (needs `make build`)
screenshot:
	scripts/install-tools.sh screenshot
	cd end2end && npx playwright test --config screenshot.config.ts

## bench: livenames vs a plain axum SSE server vs the write() floor, 1,000 subscribers, each
## server on fresh and on reused connections (about 4 minutes plus the build; figures and
## larger runs in BENCHMARKS.md)
bench:
	cargo build --release -p server -p bench
	target/release/sse-load compare --subscribers 1000 --interval-ms 10 --duration-secs 30 --reuse-connection

## pagecost: what the open page costs the browser's main thread, in ms per second, with default
## and with reduced motion side by side in one Chromium (one event a second), then between
## events (one every 10 s); about 2 min, against the release build (figures in BENCHMARKS.md)
pagecost: build
	scripts/install-tools.sh page
	cd end2end && node perf/pagecost.mjs

## lighthouse: npm's lighthouse (mobile preset: simulated slow 4G and a 4x slower CPU) three
## times against the release build with Debian's Chromium; prints the median scores and writes
## them to BENCHMARKS-lighthouse.json. Measure on an idle machine: other load inflates the
## blocking time
lighthouse: build
	scripts/install-tools.sh page
	cd end2end && CHROME_PATH=/usr/bin/chromium node perf/lighthouse.mjs

## bench-hubs: 1,000 subscribers on one sse-lean hub, then spread over 100 hubs of one server,
## each hub publishing once a second (about 2 minutes plus the build; figures in BENCHMARKS.md)
bench-hubs:
	cargo build --release -p bench
	target/release/sse-load hubs --subscribers 1000 --hubs 100 --interval-ms 1000 --duration-secs 30

## soak: 10 minutes of 5,000 livenames subscribers, 50 replaced a second: every stream's event
## order, and the server's RSS before, during and after all left (figures in BENCHMARKS.md)
soak:
	cargo build --release -p server -p bench
	target/release/sse-load soak --subscribers 5000 --churn-per-sec 50 --duration-secs 600

## lint: formatting and clippy, for the native crates and the WASM frontend; the end-to-end
## tests' TypeScript types (needs `make test-tools`)
lint:
	cargo fmt --all --check
	cargo clippy -p app -p sse-hub -p sse-lean -p server -p open-files -p bench --all-targets -- -D warnings
	cargo clippy -p sse-hub --no-default-features -- -D warnings
	cargo clippy -p frontend --target wasm32-unknown-unknown -- -D warnings
	cd end2end && npm run --silent typecheck
