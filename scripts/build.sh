#!/usr/bin/env bash
# One release build of everything, shared by `make run`, `make test` and the app:
# the CLI (mentorcast), the backend (mentorcast-server), the desktop app
# (mentorcast-app, with ui/dist embedded: build the UI first) and every test binary.
# Built as `cargo test` builds them: the dev-dependencies turn on features of shared
# crates (tokio's test-util, Tauri's test), so a plain `cargo build` would compile
# tokio, Tauri and everything above them a second time, differently, and `cargo test`
# would then rebuild the binaries `make run` uses. `--bins --tests` makes the real
# binaries and the test binaries in that one feature set.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
export PATH="$HOME/.cargo/bin:$PATH"
[[ -f ui/dist/index.html ]] || { echo "build: ui/dist is missing (make ui builds it; the app embeds it)" >&2; exit 1; }
if [[ ! -x target/release/mentorcast || ! -x target/release/mentorcast-server || ! -x target/release/mentorcast-app ]]; then
  echo "build: compiling Mentorcast (CLI, backend, desktop app and tests) in release mode."
  echo "build: the first build takes about 15 minutes on a 2-core machine; later ones only what changed."
fi
exec cargo build --release --workspace --locked --bins --tests "$@"
