# Mentorcast — top-level tasks. The local ingest stack lives in .stack/ (scripts/stack.sh).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
export PATH := $(HOME)/.cargo/bin:$(PATH)

CARGO ?= cargo

.PHONY: all deps stack-up stack-down stack-status build test test-drift run bench clean

all: build

deps:
	scripts/deps.sh

stack-up: deps
	scripts/stack.sh up

stack-down:
	scripts/stack.sh down

stack-status:
	scripts/stack.sh status

build: deps
	$(CARGO) build --release --workspace --locked

test: deps
	$(CARGO) test --release --workspace --locked

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
