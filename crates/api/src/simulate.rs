//! Simulated players (`mentorcast simulate-viewers` and the heartbeat bench): written with issue 6 §4.
