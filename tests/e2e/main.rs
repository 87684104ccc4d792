//! End-to-end tests: the `mentorcast` binary against real servers started by
//! the tests themselves (nginx-rtmp through scripts/stack.sh, ffmpeg's RTMP
//! listener, a TLS terminator), checked with ffprobe/ffmpeg and `verify`.

mod auth;
mod backend;
mod common;
mod devices;
mod errors;
mod faults;
mod lifecycle;
mod media;
mod scenarios;
mod shaping;
mod viewers;
