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

# One release build of the binaries and the test binaries, in the feature set `cargo test`
# uses (scripts/build.sh says why); `make run`, `make test` and the app's drivers share it.
# The app binary embeds ui/dist (the `custom-protocol` feature, on by default): `ui` first.
build: deps ui
	scripts/build.sh

# Rust suites (unit, crate, CLI end to end), the UI's Vitest, then the desktop app end to
# end under Xvfb with the binaries of that build (its screenshots go to
# target/app-screenshots/: the tree stays clean; `make test-app` refreshes docs/screenshots/).
# scripts/test.sh times each suite and prints the times at the end.
test: build
	scripts/test.sh

# The 5-minute broadcast with the real (PulseAudio) microphone: A/V drift ≤ 40 ms,
# no audio gaps. `make test` runs it too (with everything else); this runs it alone.
test-drift: deps
	$(CARGO) test --release --locked -p mentorcast-cli --test e2e -- devices::five_minute_microphone_drift --exact --nocapture

# deps, UI, the one build, then the stack, a verified test broadcast; the app with a display.
run: build
	scripts/run.sh

bench: build
	scripts/bench.sh

clean:
	scripts/stack.sh down
	rm -rf .stack
	$(CARGO) clean

# ---- Desktop app: tauri.conf.json at the top level, UI in ui/, shell in src-tauri/.
TAURI := ui/node_modules/.bin/tauri

# ui/dist only when a source of it is newer: the app embeds ui/dist and is rebuilt (and
# relinked, ~2 min on 2 cores) whenever its files are rewritten, even unchanged.
UI_INPUTS := $(shell find ui/src ui/public -type f 2>/dev/null) ui/index.html ui/vite.config.ts ui/tsconfig.json ui/package.json ui/package-lock.json
ui/dist/index.html: $(UI_INPUTS) | deps
	npm --prefix ui run build
	touch $@

ui: deps ui/dist/index.html

# Vitest: the UI's state mapping and components.
ui-test: deps
	npm --prefix ui test

# Rewrites ui/src/bindings.ts from the Rust commands and events (a test fails when it is stale).
# (--workspace: the feature set of the one build, so nothing is compiled a second time).
bindings:
	UPDATE_BINDINGS=1 $(CARGO) test --release --workspace --locked --test commands typescript_bindings_are_current

# The app binary as `tauri build` makes it (without the test features `make build` shares
# with the tests: a separate compile of Tauri and above); `make app-debug` for --debug.
app: deps
	$(TAURI) build --no-bundle -- --locked

app-debug: deps
	$(TAURI) build --debug --no-bundle -- --locked

deb: deps
	$(TAURI) build --bundles deb -- --locked

# End to end under Xvfb: WebDriver (tauri-driver + WebKitWebDriver) drives the built app
# against a private real stack; screenshots go to docs/screenshots/ (the README's).
test-app: build
	scripts/app-harness.sh tests/app/e2e.py

# Cold start, idle and live CPU (vs the CLI), RSS including WebKit's processes.
bench-app: build
	scripts/app-harness.sh tests/app/bench.py
