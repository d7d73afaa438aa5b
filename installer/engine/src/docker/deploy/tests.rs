//! The rollback journal over the in-memory engine: what a failed or cancelled apply undoes, in which
//! order, and what it never touches. The same paths against the real engine are in the e2e suites.

use std::collections::BTreeMap;
use tokio_util::sync::CancellationToken;

use super::execute::Run;
use super::fake::FakeEngine;
use super::*;
use crate::docker::events::{Event, PhaseState};

#[test]
fn image_references_split() {
    assert_eq!(
        split_ref("vllm/vllm-openai:v0.18.1"),
        ("vllm/vllm-openai", "v0.18.1")
    );
    assert_eq!(
        split_ref("registry.local:5000/aigw"),
        ("registry.local:5000/aigw", "latest")
    );
    assert_eq!(
        split_ref("registry.local:5000/aigw:1"),
        ("registry.local:5000/aigw", "1")
    );
}

/// Model `m`, gateway `gw`, network `net`; `arg` changes the model's configuration.
fn target_with(arg: &str) -> Target {
    let mut spec = DeploymentSpec::from_toml(
        include_str!("../../../../../tests/fixtures/specs/hf-mistral-small.toml"),
        "test",
    )
    .unwrap();
    spec.network = "net".into();
    spec.gateway.container = "gw".into();
    spec.gateway.health_timeout_s = 1;
    spec.model.container = "m".into();
    spec.model.served_model_name = "m".into();
    spec.model.args = vec![arg.into()];
    spec.model.gpus = Vec::new();
    spec.model.health_timeout_s = 1;
    target(&spec, None, &BTreeMap::new()).unwrap()
}

/// An engine holding the target's images (nothing to pull) and nothing else.
fn engine_for(t: &Target) -> FakeEngine {
    let images: Vec<&str> = t
        .desired
        .containers
        .iter()
        .map(|c| c.image.as_str())
        .collect();
    FakeEngine::with_images(&images)
}

/// Health from the engine's own check, no smoke test: nothing here answers HTTP.
fn opts() -> ApplyOptions {
    ApplyOptions {
        local_engine: false,
        smoke_test: false,
        // The window's own tests set one; nothing else here crashes after its health check.
        stable_for: std::time::Duration::ZERO,
        ..ApplyOptions::default()
    }
}

/// Applies `t` successfully and forgets the changes that took.
async fn installed(t: &Target) -> FakeEngine {
    let fake = engine_for(t);
    apply_target(&fake, t, &opts(), &None).await.unwrap();
    fake.take_changes();
    fake
}

#[tokio::test]
async fn a_create_that_fails_after_the_network_was_made_removes_the_network() {
    let t = target_with("--a");
    let fake = engine_for(&t);
    fake.state().refuse = Some("create m".into());
    let err = apply_target(&fake, &t, &opts(), &None).await.unwrap_err();
    assert!(
        matches!(&err, DeployError::Engine { what, .. } if what == "create container m"),
        "{err}"
    );
    assert_eq!(
        fake.take_changes(),
        ["create network net", "remove network net"]
    );
    assert!(fake.state().networks.is_empty());
    assert!(fake.state().containers.is_empty());
}

#[tokio::test]
async fn a_recreate_that_never_gets_healthy_restores_the_previous_container_running() {
    let fake = installed(&target_with("--a")).await;
    let before = fake.state().containers.clone();
    fake.state().never_healthy = vec!["*".into()];
    let err = apply_target(&fake, &target_with("--b"), &opts(), &None)
        .await
        .unwrap_err();
    let DeployError::Unhealthy {
        component,
        rollback,
        ..
    } = &err
    else {
        panic!("{err}");
    };
    assert_eq!(*component, Component::Model);
    assert_eq!(rollback, "\nrollback: restored the previous m");
    assert_eq!(
        fake.take_changes(),
        [
            "create m-next",
            "stop m",
            "rename m m-prev",
            "rename m-next m",
            "start m",
            // rollback
            "remove m",
            "rename m-prev m",
            "start m",
        ]
    );
    // The very containers that ran before, running again, and nothing else.
    assert_eq!(fake.state().containers, before);
}

#[tokio::test]
async fn cancelling_mid_apply_undoes_in_reverse_order() {
    let mut t = target_with("--a");
    // Only the cancellation can end the gateway's wait.
    t.desired.containers[1].health_timeout_s = 600;
    let fake = engine_for(&t);
    let cancel = CancellationToken::new();
    {
        let mut s = fake.state();
        s.never_healthy = vec!["gw".into()];
        s.cancel_after = Some(("start gw".into(), cancel.clone()));
    }
    let opts = ApplyOptions { cancel, ..opts() };
    let err = apply_target(&fake, &t, &opts, &None).await.unwrap_err();
    let DeployError::Cancelled { rollback } = &err else {
        panic!("{err}");
    };
    assert_eq!(
        rollback,
        "\nrollback: removed gw; removed m; removed network net"
    );
    assert_eq!(
        fake.take_changes(),
        [
            "create network net",
            "create m",
            "start m",
            "create gw",
            "start gw",
            // rollback, newest first
            "remove gw",
            "remove m",
            "remove network net",
        ]
    );
    assert!(fake.state().containers.is_empty());
    assert!(fake.state().networks.is_empty());
}

#[tokio::test]
async fn a_container_with_our_name_but_not_our_labels_blocks_and_is_left_alone() {
    let t = target_with("--a");
    let fake = engine_for(&t);
    fake.add_foreign("m");
    let before = fake.state().containers.clone();
    let err = apply_target(&fake, &t, &opts(), &None).await.unwrap_err();
    assert!(
        matches!(&err, DeployError::Blocked(b) if b.iter().any(|b| b.contains("a container named m exists"))),
        "{err}"
    );
    assert!(fake.take_changes().is_empty());
    assert_eq!(fake.state().containers, before);
}

#[tokio::test]
async fn a_foreign_container_in_the_way_of_a_recreate_is_never_removed() {
    let fake = installed(&target_with("--a")).await;
    // Someone else's container holds the name the new one is created under.
    fake.add_foreign("m-next");
    let before = fake.state().containers.clone();
    let err = apply_target(&fake, &target_with("--b"), &opts(), &None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DeployError::Engine { what, .. } if what == "create container m-next"),
        "{err}"
    );
    assert!(fake.take_changes().is_empty());
    assert_eq!(fake.state().containers, before);
}

#[tokio::test]
async fn an_image_that_cannot_be_pulled_fails_before_any_change() {
    let t = target_with("--a");
    let fake = FakeEngine::default();
    let err = apply_target(&fake, &t, &opts(), &None).await.unwrap_err();
    assert!(matches!(err, DeployError::Pull { .. }), "{err}");
    assert!(fake.take_changes().is_empty());
}

#[tokio::test]
async fn the_log_directory_warning_reads_as_one_sentence() {
    let dir = tempfile::tempdir().unwrap();
    let t = target_caching_in(dir.path());
    let fake = engine_for(&t);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let sink = Some(tx);
    let opts = opts();
    let run = Run {
        engine: &fake,
        sink: &sink,
        opts: &opts,
        journal: Vec::new(),
    };
    run.prepare_log_dir(&dir.path().join("logs"), &t.desired)
        .await
        .unwrap();
    let Ok(Event::Warning { message }) = rx.try_recv() else {
        panic!("no warning");
    };
    assert!(message.contains("its log, give it"), "{message}");
    assert!(!message.contains("  "), "{message:?}");
}

/// A target whose Hugging Face cache lies under `dir`: preparing it must not touch the host's default.
fn target_caching_in(dir: &std::path::Path) -> Target {
    let mut t = target_with("--a");
    for b in t
        .desired
        .containers
        .iter_mut()
        .flat_map(|c| c.binds.iter_mut())
    {
        if b.container == aigw_core::plan::HF_CACHE_MOUNT {
            b.host = dir.join("hf-cache").display().to_string();
        }
    }
    t
}

/// Runs `prepare_log_dir` on `dir` with a gateway image that runs as uid/gid 4242; returns its warnings.
async fn prepare_as_4242(dir: &std::path::Path) -> Vec<String> {
    let cache = tempfile::tempdir().unwrap();
    let t = target_caching_in(cache.path());
    let fake = engine_for(&t);
    fake.state().image_user = Some((4242, 4242));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let sink = Some(tx);
    let opts = opts();
    let run = Run {
        engine: &fake,
        sink: &sink,
        opts: &opts,
        journal: Vec::new(),
    };
    run.prepare_log_dir(dir, &t.desired).await.unwrap();
    let mut warnings = Vec::new();
    while let Ok(e) = rx.try_recv() {
        if let Event::Warning { message } = e {
            warnings.push(message);
        }
    }
    warnings
}

#[tokio::test]
async fn an_existing_log_directory_without_our_marker_keeps_its_owner() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let before = std::fs::metadata(dir.path()).unwrap();
    let warnings = prepare_as_4242(dir.path()).await;
    let after = std::fs::metadata(dir.path()).unwrap();
    assert_eq!((after.uid(), after.gid()), (before.uid(), before.gid()));
    assert!(!dir.path().join(crate::fsutil::MARKER).exists());
    if before.uid() != 4242 {
        let text = warnings.join("\n");
        assert!(
            text.contains(&format!("chown 4242 {}", dir.path().display())),
            "{text}"
        );
    }
}

#[tokio::test]
async fn a_new_log_directory_carries_our_marker_and_goes_to_the_gateway_user() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let warnings = prepare_as_4242(&logs).await;
    assert!(crate::fsutil::created_by_us(&logs));
    // Only root may give a directory away; others get the warning with the command.
    let owner = std::fs::metadata(&logs).unwrap().uid();
    assert!(
        owner == 4242 || warnings.iter().any(|w| w.contains("chown 4242:4242")),
        "{warnings:?}"
    );
    // A second run finds the marker: still ours.
    prepare_as_4242(&logs).await;
    assert!(crate::fsutil::created_by_us(&logs));
}

#[tokio::test]
async fn a_recreate_stopped_by_a_foreign_prev_container_starts_the_old_one_again() {
    let fake = installed(&target_with("--a")).await;
    // Someone else's container holds the name the old one is to be kept under.
    fake.add_foreign("m-prev");
    let before = fake.state().containers.clone();
    let err = apply_target(&fake, &target_with("--b"), &opts(), &None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DeployError::Engine { what, .. } if what == "rename container m to m-prev"),
        "{err}"
    );
    assert_eq!(
        fake.take_changes(),
        ["create m-next", "stop m", "start m", "remove m-next"]
    );
    assert_eq!(fake.state().containers, before);
}

#[tokio::test]
async fn a_recreate_whose_new_container_cannot_take_the_name_puts_the_old_one_back() {
    let fake = installed(&target_with("--a")).await;
    let before = fake.state().containers.clone();
    fake.state().refuse = Some("rename m-next m".into());
    let err = apply_target(&fake, &target_with("--b"), &opts(), &None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DeployError::Engine { what, .. } if what == "rename container m-next to m"),
        "{err}"
    );
    assert_eq!(
        fake.take_changes(),
        [
            "create m-next",
            "stop m",
            "rename m m-prev",
            // rollback
            "rename m-prev m",
            "start m",
            "remove m-next",
        ]
    );
    assert_eq!(fake.state().containers, before);
}

/// Applies `t` from nothing while `during` acts on the engine once the model's health wait has begun
/// (the phase the apply declares); the apply's answer. The model's time-out is ten minutes: only an end
/// the wait notices can make this return in time, and a wait that misses it fails the test instead
/// of hanging it.
async fn apply_while_waiting(
    t: &Target,
    fake: &FakeEngine,
    during: impl FnOnce(&FakeEngine),
) -> Result<ApplyReport, DeployError> {
    apply_during(t, fake, &opts(), "model health", during).await
}

/// Applies `t` and does `during` once the phase `at` has started; panics after a minute instead of
/// hanging.
async fn apply_during(
    t: &Target,
    fake: &FakeEngine,
    opts: &ApplyOptions,
    at: &str,
    during: impl FnOnce(&FakeEngine),
) -> Result<ApplyReport, DeployError> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let sink = Some(tx);
    let apply = apply_target(fake, t, opts, &sink);
    let act = async {
        while let Some(e) = rx.recv().await {
            if matches!(&e, Event::Phase { phase, state: PhaseState::Started } if phase == at) {
                during(fake);
                return;
            }
        }
    };
    let (answer, ()) = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        futures_util::future::join(apply, act),
    )
    .await
    .expect("the wait ended well before the model's ten-minute time-out");
    answer
}

/// A model target whose health time-out is long: ten minutes.
fn patient_target() -> Target {
    let mut t = target_with("--a");
    t.desired.containers[0].health_timeout_s = 600;
    t
}

#[tokio::test]
async fn a_container_that_exits_during_the_wait_ends_it_with_its_code_and_complete_log() {
    let t = patient_target();
    let fake = engine_for(&t);
    // More lines than an error carries; the followed stream (empty in the fake) saw none of them.
    let lines: Vec<String> = (1..=40)
        .map(|i| format!("INFO loading shard {i}"))
        .chain([
            "ValueError: The model's max seq len (32768) is larger than the maximum number of \
                 tokens that can be stored in KV cache (29568)."
                .to_string(),
        ])
        .collect();
    let err = apply_while_waiting(&t, &fake, |f| f.exit("m", 3, &lines))
        .await
        .unwrap_err();
    let DeployError::Unhealthy {
        component,
        status,
        exit_code,
        cause,
        logs,
        rollback,
        ..
    } = &err
    else {
        panic!("{err}");
    };
    assert_eq!(*component, Component::Model);
    assert_eq!(*exit_code, Some(3), "{err}");
    assert_eq!(status, "the container exited with code 3");
    // The last thirty lines, as the engine holds them, in order.
    let expected: Vec<String> = lines[lines.len() - 30..]
        .iter()
        .map(|l| format!("  | {l}"))
        .collect();
    assert_eq!(logs, &expected.join("\n"));
    assert!(cause.contains("KV cache cannot hold"), "{cause}");
    assert_eq!(rollback, "\nrollback: removed m; removed network net");
    assert!(fake.state().containers.is_empty());
}

#[tokio::test]
async fn a_container_removed_during_the_wait_ends_it_at_once_and_rolls_back() {
    let t = patient_target();
    let fake = engine_for(&t);
    let err = apply_while_waiting(&t, &fake, |f| f.vanish("m"))
        .await
        .unwrap_err();
    let DeployError::Removed {
        component,
        name,
        rollback,
    } = &err
    else {
        panic!("{err}");
    };
    assert_eq!(*component, Component::Model);
    assert_eq!(name, "m");
    assert!(
        err.to_string()
            .starts_with("the model container was removed during the install"),
        "{err}"
    );
    assert_eq!(err.code(), "container_removed");
    assert_eq!(
        rollback,
        "\nrollback: m was already gone; removed network net"
    );
    assert!(fake.state().networks.is_empty());
}

/// A model that crashes after its first healthy answer fails the apply in its stability window, with
/// the exit code and the last log lines, and the recreate is undone.
#[tokio::test]
async fn a_crash_in_the_stability_window_fails_the_apply_and_restores_the_previous_container() {
    let fake = installed(&target_with("--a")).await;
    let before = fake.state().containers.clone();
    let mut t = target_with("--b");
    t.desired.containers[0].health_timeout_s = 600;
    // Only the crash can end this window early.
    let opts = ApplyOptions {
        stable_for: std::time::Duration::from_secs(600),
        ..opts()
    };
    let lines =
        ["torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB".to_string()];
    let err = apply_during(&t, &fake, &opts, "model stability", |f| {
        f.exit("m", 3, &lines)
    })
    .await
    .unwrap_err();
    let DeployError::Unstable {
        component,
        exit_code,
        logs,
        cause,
        rollback,
        window_s,
        ..
    } = &err
    else {
        panic!("{err}");
    };
    assert_eq!(err.code(), "unstable");
    assert_eq!(*component, Component::Model);
    assert_eq!(*exit_code, Some(3), "{err}");
    assert_eq!(*window_s, 600);
    assert!(logs.contains("CUDA out of memory"), "{logs}");
    assert!(!cause.is_empty(), "{err}");
    assert_eq!(rollback, "\nrollback: restored the previous m");
    assert_eq!(fake.state().containers, before);
}

/// Without a crash, the window passes and the apply succeeds; the phase is reported as its own.
#[tokio::test]
async fn a_stable_server_passes_the_window() {
    let t = target_with("--a");
    let fake = engine_for(&t);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let opts = ApplyOptions {
        stable_for: std::time::Duration::from_millis(300),
        ..opts()
    };
    let report = apply_target(&fake, &t, &opts, &Some(tx)).await.unwrap();
    assert!(report.changed);
    let mut done = Vec::new();
    while let Ok(e) = rx.try_recv() {
        if let Event::Phase {
            phase,
            state: PhaseState::Done,
        } = e
        {
            done.push(phase);
        }
    }
    assert!(done.iter().any(|p| p == "model stability"), "{done:?}");
    assert!(done.iter().any(|p| p == "gateway stability"), "{done:?}");
}

/// An uninstall during the apply: the wait ends at once, and the rollback says the container was being
/// removed already instead of failing on Docker's 409.
#[tokio::test]
async fn a_container_being_removed_by_someone_else_is_not_a_failed_rollback() {
    let t = patient_target();
    let fake = engine_for(&t);
    let err = apply_while_waiting(&t, &fake, |f| f.start_removing("m"))
        .await
        .unwrap_err();
    let DeployError::Removed { rollback, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!(
        rollback,
        "\nrollback: m was already being removed; removed network net"
    );
    assert!(!err.to_string().contains("FAILED"), "{err}");
}

#[test]
fn dockers_409_for_a_second_removal_is_recognised() {
    let e = EngineError::Other(
        "Docker responded with status code 409: removal of container abc is already in progress"
            .into(),
    );
    assert!(e.is_removal_in_progress());
    assert!(
        !EngineError::Other("Conflict. The container name is already in use".into())
            .is_removal_in_progress()
    );
}

/// Everything up to date is not yet success: a kept server that is not healthy is waited for, and
/// "up to date" is never said about it.
#[tokio::test]
async fn a_noop_apply_waits_for_a_server_that_is_not_healthy() {
    let t = target_with("--a");
    let fake = installed(&t).await;
    fake.state()
        .containers
        .iter_mut()
        .for_each(|c| c.healthy = c.name != "m");
    let err = apply_target(&fake, &t, &opts(), &None).await.unwrap_err();
    assert!(
        matches!(&err, DeployError::Unhealthy { component: Component::Model, rollback, .. } if rollback == "\nrollback: nothing had been changed"),
        "{err}"
    );
    assert!(fake.take_changes().is_empty());
}

/// An uninstall during a recreate takes the new container and the previous one: nothing to put back,
/// and the rollback says so instead of failing.
#[tokio::test]
async fn an_uninstall_during_a_recreate_leaves_nothing_to_restore_and_says_so() {
    let fake = installed(&target_with("--a")).await;
    let mut t = target_with("--b");
    t.desired.containers[0].health_timeout_s = 600;
    let err = apply_during(&t, &fake, &opts(), "model health", |f| {
        f.start_removing("m");
        f.vanish("m-prev");
    })
    .await
    .unwrap_err();
    let DeployError::Removed { rollback, .. } = &err else {
        panic!("{err}");
    };
    assert_eq!(
        rollback,
        "\nrollback: m was already being removed; m-prev was already gone"
    );
}

/// The engine finishes a killed apply's last create on its own, perhaps after the next run planned: the
/// container it made is ours, undesired, and must be gone when that run says it succeeded, or `plan`
/// still has something to do.
#[tokio::test]
async fn a_leftover_that_appears_after_planning_is_removed_at_cleanup() {
    let t = target_with("--a");
    let fake = engine_for(&t);
    fake.state().appear_after = Some(("create m".into(), "aigw-installer-probe-1".into()));
    apply_target(&fake, &t, &opts(), &None).await.unwrap();
    let changes = fake.take_changes();
    assert_eq!(
        changes.last().map(String::as_str),
        Some("remove aigw-installer-probe-1"),
        "{changes:?}"
    );
    let names: Vec<String> = fake
        .state()
        .containers
        .iter()
        .map(|c| c.name.clone())
        .collect();
    assert_eq!(names, ["m", "gw"]);
    let again = plan_desired(&fake, &t.desired, false).await.unwrap();
    assert!(again.is_noop(), "{again:?}");
}

/// "Up to date" means serving: a kept server that does not answer yet (a rollback restarted it, or an
/// interrupted run left it loading) is waited for, and one that never answers fails the apply, which
/// changed nothing.
#[tokio::test]
async fn an_apply_with_nothing_to_change_still_waits_for_health() {
    let t = target_with("--a");
    let fake = installed(&t).await;
    for c in &mut fake.state().containers {
        if c.name == "gw" {
            c.healthy = false;
        }
    }
    let err = apply_target(&fake, &t, &opts(), &None).await.unwrap_err();
    let DeployError::Unhealthy {
        component,
        rollback,
        ..
    } = &err
    else {
        panic!("{err}");
    };
    assert_eq!(*component, Component::Gateway);
    assert_eq!(rollback, "\nrollback: nothing had been changed");
    assert!(fake.take_changes().is_empty());
    // Once it answers, the same apply is a no-op again.
    for c in &mut fake.state().containers {
        c.healthy = true;
    }
    let report = apply_target(&fake, &t, &opts(), &None).await.unwrap();
    assert!(!report.changed);
}

/// A killed apply's start that the engine finishes after this run listed the container as stopped:
/// the planned start finds it running, which is what was wanted.
#[tokio::test]
async fn a_start_the_engine_finished_meanwhile_is_not_a_failure() {
    let t = target_with("--a");
    let fake = installed(&t).await;
    for c in &mut fake.state().containers {
        c.running = c.name != "gw";
    }
    fake.state().started_after_list = Some("gw".into());
    let report = apply_target(&fake, &t, &opts(), &None).await.unwrap();
    assert!(
        report
            .plan
            .steps
            .iter()
            .any(|s| matches!(s, aigw_core::plan::Step::Start { name, .. } if name == "gw")),
        "{:?}",
        report.plan
    );
    assert!(fake.state().containers.iter().all(|c| c.running));
}

/// A killed apply's create that the engine finishes after this run looked: the name is taken by a
/// container of ours, which is removed, and the create made again.
#[tokio::test]
async fn a_create_the_engine_finished_meanwhile_is_replaced() {
    let t = target_with("--a");
    let fake = engine_for(&t);
    fake.state().created_before_create = Some("m".into());
    apply_target(&fake, &t, &opts(), &None).await.unwrap();
    let changes = fake.take_changes();
    assert_eq!(
        changes[..3],
        ["create network net", "remove m", "create m"],
        "{changes:?}"
    );
    let names: Vec<String> = fake
        .state()
        .containers
        .iter()
        .map(|c| c.name.clone())
        .collect();
    assert_eq!(names, ["m", "gw"]);
}

/// The container to recreate is gone by the time the recreate reaches it (a killed apply's rename to
/// `-prev` that the engine finished late): the new container takes the name.
#[tokio::test]
async fn a_recreate_whose_old_container_went_meanwhile_puts_the_new_one_in_place() {
    let fake = installed(&target_with("--a")).await;
    fake.state().vanish_after = Some(("create m-next".into(), "m".into()));
    let t = target_with("--b");
    apply_target(&fake, &t, &opts(), &None).await.unwrap();
    let changes = fake.take_changes();
    assert_eq!(
        changes[..3],
        ["create m-next", "rename m-next m", "start m"],
        "{changes:?}"
    );
    let again = plan_desired(&fake, &t.desired, false).await.unwrap();
    assert!(again.is_noop(), "{again:?}");
}
