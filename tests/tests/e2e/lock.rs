//! The engine's lock against the real engine: the marker container is atomic, names its holder, is never
//! one of "our" containers, is taken over from a dead holder of this host, and broken from another host's
//! only when asked. Holds the engine lock: the marker's name is global to the engine.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aigw_engine::lock::{self, Holder, LockError, MARKER};
use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder};

/// Puts a marker on the engine as another installer would have left it.
async fn plant(d: &bollard::Docker, labels: std::collections::HashMap<String, String>) {
    // A release removes the image with the marker; an acquire imports it again.
    lock::ensure_image(d).await.unwrap();
    d.create_container(
        Some(
            CreateContainerOptionsBuilder::default()
                .name(MARKER)
                .build(),
        ),
        ContainerCreateBody {
            image: Some(format!("{}:{}", lock::IMAGE, lock::IMAGE_TAG)),
            cmd: Some(vec!["/none".into()]),
            labels: Some(labels),
            ..Default::default()
        },
    )
    .await
    .unwrap();
}

async fn marker_holder(d: &bollard::Docker) -> Option<Holder> {
    lock::holder(d).await.unwrap()
}

async fn remove_marker(d: &bollard::Docker) {
    let _ = d
        .remove_container(
            MARKER,
            Some(RemoveContainerOptionsBuilder::default().force(true).build()),
        )
        .await;
}

/// A pid no process can have: above the kernel's maximum.
fn dead_pid() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .unwrap()
        .trim()
        .parse::<u32>()
        .unwrap()
        + 1
}

#[tokio::test]
async fn the_engine_marker_excludes_a_second_caller_and_is_taken_over_only_when_safe() {
    let Some(engine) = aigw_e2e::clean_engine().await else {
        return;
    };
    let d = &engine.docker;
    remove_marker(d).await;
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ep = "unix:///lock-test.sock";

    // Two callers at once, the image missing: exactly one gets the marker, the other is told who.
    for _ in 0..5 {
        lock::remove_image(d).await;
        let (x, y) = tokio::join!(
            lock::acquire(d, a.path(), ep, "apply", false),
            lock::acquire(d, b.path(), ep, "apply", false)
        );
        match (x, y) {
            (Ok(l), Err(LockError::Held { holder, .. }))
            | (Err(LockError::Held { holder, .. }), Ok(l)) => {
                assert_eq!(holder, l.holder);
                l.release().await;
            }
            other => panic!("exactly one: {other:?}"),
        }
    }

    // Held: another data directory (another user, another workstation) is refused by the marker.
    let held = lock::acquire(d, a.path(), ep, "apply", false)
        .await
        .unwrap();
    let on_engine = marker_holder(d).await.expect("the marker names its holder");
    assert_eq!(on_engine, held.holder);
    assert_eq!(on_engine.pid, std::process::id());
    assert!(
        aigw_engine::docker::deploy::list_ours(d)
            .await
            .unwrap()
            .is_empty(),
        "the marker is not one of our containers"
    );
    assert!(aigw_engine::docker::manage::status(d)
        .await
        .unwrap()
        .is_empty());
    for break_lock in [false, true] {
        match lock::acquire(d, b.path(), ep, "uninstall", break_lock).await {
            Err(LockError::Held { holder, other_host }) => {
                assert_eq!(holder, on_engine);
                assert!(!other_host);
            }
            other => panic!("a live holder of this host is never overridden: {other:?}"),
        }
    }
    held.release().await;
    assert_eq!(marker_holder(d).await, None, "released: the marker is gone");
    let image = format!("{}:{}", lock::IMAGE, lock::IMAGE_TAG);
    assert!(d.inspect_image(&image).await.is_err(), "and its image");

    // A marker of this host whose process is gone (killed) is taken over without being asked.
    let mut gone = Holder::here("apply");
    gone.pid = dead_pid();
    plant(d, gone.labels()).await;
    let taken = lock::acquire(d, b.path(), ep, "apply", false)
        .await
        .unwrap();
    assert_eq!(marker_holder(d).await, Some(taken.holder.clone()));
    taken.release().await;

    // Another host's marker: refused, naming it, unless broken.
    let mut elsewhere = Holder::here("upgrade");
    elsewhere.host = format!("{}-workstation-2", lock::this_host());
    elsewhere.pid = 4242;
    plant(d, elsewhere.labels()).await;
    let e = lock::acquire(d, a.path(), ep, "apply", false)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, LockError::Held { holder, other_host: true } if *holder == elsewhere),
        "{e:?}"
    );
    let p = aigw_core::problem::Explain::problem(&e);
    assert_eq!(p.code, "locked");
    assert_eq!(p.field.as_deref(), Some("break_lock"));
    for part in [
        elsewhere.host.as_str(),
        "pid 4242",
        elsewhere.since.as_str(),
        "upgrade",
    ] {
        assert!(p.message.contains(part), "{part} in {}", p.message);
    }
    assert_eq!(marker_holder(d).await, Some(elsewhere.clone()), "untouched");
    let broken = lock::acquire(d, a.path(), ep, "apply", true).await.unwrap();
    assert_eq!(marker_holder(d).await, Some(broken.holder.clone()));
    broken.release().await;

    // A container with the marker's name that no installer made is refused, and left alone.
    plant(d, Default::default()).await;
    let e = lock::acquire(d, a.path(), ep, "apply", true)
        .await
        .unwrap_err();
    assert!(matches!(e, LockError::Foreign), "{e:?}");
    assert!(d.inspect_container(MARKER, None).await.is_ok());
    remove_marker(d).await;
    lock::remove_image(d).await;
}
