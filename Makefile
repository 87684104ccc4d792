# Mentorcast — top-level tasks. The local ingest stack lives in .stack/ (scripts/stack.sh).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
export PATH := $(HOME)/.cargo/bin:$(PATH)

CARGO ?= cargo

.PHONY: all deps stack-up stack-down stack-status build test run bench clean

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

run:
	scripts/run.sh

bench:
	scripts/bench.sh

clean:
	scripts/stack.sh down
	rm -rf .stack
	$(CARGO) clean
