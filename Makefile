# Mentorcast — top-level tasks. The local ingest stack lives in .stack/ (scripts/stack.sh).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
export PATH := $(HOME)/.cargo/bin:$(PATH)

CARGO ?= cargo

.PHONY: all deps stack-up stack-down stack-status build test test-drift run bench clean ui ui-test bindings app app-debug deb test-app bench-app

all: build

deps:
	scripts/deps.sh

stack-up: deps
	scripts/stack.sh up

stack-down:
	scripts/stack.sh down

stack-status:
	scripts/stack.sh status

# The app binary embeds ui/dist (the `custom-protocol` feature, on by default): `ui` first.
build: deps ui
	$(CARGO) build --release --workspace --locked

# Rust suites (unit, crate, CLI end to end), the UI's Vitest, then the desktop app end to
# end under Xvfb with the binaries `cargo test` built (the app with the UI embedded, as
# `tauri build` makes it; building them again without the dev-dependencies' features
# would recompile Tauri, tokio and everything above them). Its screenshots go to
# target/app-screenshots/ (the tree stays clean); `make test-app` refreshes docs/screenshots/.
test: deps ui
	$(CARGO) test --release --workspace --locked
	$(MAKE) --no-print-directory ui-test
	SCREENSHOTS=$(CURDIR)/target/app-screenshots scripts/app-harness.sh tests/app/e2e.py

# The 5-minute broadcast with the real (PulseAudio) microphone: A/V drift ≤ 40 ms,
# no audio gaps. `make test` runs it too (with everything else); this runs it alone.
test-drift: deps
	$(CARGO) test --release --locked -p mentorcast-cli --test e2e -- devices::five_minute_microphone_drift --exact --nocapture

run:
	scripts/run.sh

bench:
	scripts/bench.sh

clean:
	scripts/stack.sh down
	rm -rf .stack
	$(CARGO) clean

# ---- Desktop app (issue 8): tauri.conf.json at the top level, UI in ui/, shell in src-tauri/.
TAURI := ui/node_modules/.bin/tauri

ui: deps
	npm --prefix ui run build

# Vitest: the UI's state mapping and components.
ui-test: deps
	npm --prefix ui test

# Rewrites ui/src/bindings.ts from the Rust commands and events (a test fails when it is stale).
bindings:
	UPDATE_BINDINGS=1 $(CARGO) test --release --locked -p mentorcast-app --test commands typescript_bindings_are_current

# The app binary (target/release/mentorcast-app) with the UI embedded; release so that it
# shares its dependencies with `make test`'s build (2 cores); `make app-debug` for --debug.
app: deps
	$(TAURI) build --no-bundle -- --locked

app-debug: deps
	$(TAURI) build --debug --no-bundle -- --locked

deb: deps
	$(TAURI) build --bundles deb -- --locked

# End to end under Xvfb: WebDriver (tauri-driver + WebKitWebDriver) drives the built app
# against a private real stack; screenshots go to docs/screenshots/ (the README's).
test-app: app
	scripts/app-harness.sh tests/app/e2e.py

# Cold start, idle and live CPU (vs the CLI), RSS including WebKit's processes.
bench-app: app
	scripts/app-harness.sh tests/app/bench.py
