// The Mentorcast desktop app. Everything is in the library (src-tauri/lib.rs).
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    mentorcast_app_lib::run()
}
