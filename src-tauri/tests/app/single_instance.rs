//! The desktop app is single-instance: a second launch (same user, same data directory) says so and
//! exits 1 before opening any window; once the first has gone, the app starts again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

const APP: &str = env!("CARGO_BIN_EXE_aigw-installer-app");

#[test]
fn a_second_instance_says_so_and_exits_1() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // This test process stands for the first instance: it holds the app's lock in the data directory.
    let first = aigw_engine::lock::single_instance(&data.join("aigw-installer")).unwrap();
    let second = Command::new(APP)
        .env("XDG_DATA_HOME", &data)
        .env("AIGW_EXIT_WHEN_READY", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("already running (pid {}", std::process::id())),
        "{err}"
    );
    drop(first);
    // The first one gone: the app starts (and, asked to, exits once its page has loaded).
    if !aigw_e2e::webdriver::gui_available() {
        return;
    }
    let again = Command::new(APP)
        .env("XDG_DATA_HOME", &data)
        .env("AIGW_EXIT_WHEN_READY", "1")
        .output()
        .unwrap();
    assert_eq!(
        again.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}
