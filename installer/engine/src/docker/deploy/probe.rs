//! Waiting for health (with the log tail for the error), the stability window after it, and the smoke
//! test.

use futures_util::StreamExt;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::execute::Run;
use super::DeployError;
use crate::docker::container_engine::{ContainerEngine, EngineError};
use crate::docker::events::{emit, likely_cause, Event, PhaseState};
use crate::docker::http;
use aigw_core::plan::{Component, Desired, DesiredContainer};

/// How many of the server's last log lines a failure carries.
const LAST_LOG_LINES: u32 = 30;

/// Why a health wait ends before the time-out.
enum Ended {
    /// The container is gone (or being removed): someone else removed it.
    Removed,
    /// Its process ended; `exit_code` when the engine knows it.
    Exited {
        status: String,
        exit_code: Option<i32>,
    },
}

/// What one turn of the wait found.
enum Turn {
    Waiting,
    Ended(Ended),
    TimedOut,
}

impl<E: ContainerEngine> Run<'_, E> {
    /// Waits until `c` answers as healthy. Ends at once when its container exits or disappears, with the
    /// exit code and the last log lines as the engine holds them after the exit; otherwise at the
    /// container's health time-out. Whether it had to wait (the first probe did not answer healthy).
    pub(super) async fn wait_healthy(
        &self,
        c: &DesiredContainer,
        served: &str,
    ) -> Result<bool, DeployError> {
        let timeout = Duration::from_secs(c.health_timeout_s);
        let phase = format!("{} health", c.component);
        self.phase(&phase, PhaseState::Started);
        let started = Instant::now();
        let mut tail: VecDeque<String> = VecDeque::new();
        let mut logs = self.engine.follow_logs(&c.name, 50);
        // The engine says when the process next exits, even when a restart policy brings it back at once.
        let mut exit_watch = std::pin::pin!(self.next_exit(&c.name));
        let mut watching = true;
        let mut status = "starting".to_string();
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        let mut last_report = 0;
        let mut probes = 0u32;
        // The log stream ends when the container stops; polling a finished stream would spin.
        let mut logs_open = true;
        let ended = loop {
            let turn = tokio::select! {
                _ = self.opts.cancel.cancelled() => return Err(DeployError::Cancelled { rollback: String::new() }),
                line = logs.next(), if logs_open => {
                    match line {
                        Some(Ok(out)) => {
                            for l in out.lines().filter(|l| !l.trim().is_empty()) {
                                emit(self.sink, Event::Log { component: c.component, line: l.to_string() });
                                tail.push_back(l.to_string());
                                if tail.len() > LAST_LOG_LINES as usize { tail.pop_front(); }
                            }
                        }
                        Some(Err(_)) | None => logs_open = false,
                    }
                    Turn::Waiting
                },
                exit = &mut exit_watch, if watching => {
                    watching = false;
                    match exit {
                        Ok(code) => Turn::Ended(self.ended(&c.name, Some(code), false).await.unwrap_or(
                            Ended::Exited { status: format!("the container exited with code {code}"), exit_code: i32::try_from(code).ok() },
                        )),
                        Err(EngineError::NotFound(_)) => Turn::Ended(Ended::Removed),
                        // The ticks below still see an exit, without the watch.
                        Err(_) => Turn::Waiting,
                    }
                },
                _ = tick.tick() => {
                    let waited = started.elapsed();
                    if let Some(end) = self.ended(&c.name, None, watching).await {
                        Turn::Ended(end)
                    } else if self.opts.local_engine {
                        match probe(c, served).await {
                            Ok(()) => {
                                self.phase(&phase, PhaseState::Done);
                                return Ok(probes > 0);
                            }
                            Err(s) => status = s,
                        }
                        probes += 1;
                        self.report(c, waited, &mut last_report, &status, timeout)
                    } else if self.docker_health(&c.name).await.as_deref() == Some("healthy") {
                        self.phase(&phase, PhaseState::Done);
                        return Ok(probes > 0);
                    } else {
                        probes += 1;
                        self.report(c, waited, &mut last_report, &status, timeout)
                    }
                }
            };
            match turn {
                Turn::Waiting => {}
                Turn::Ended(e) => break Some(e),
                Turn::TimedOut => break None,
            }
        };
        self.phase(&phase, PhaseState::Failed);
        let exit_code = match ended {
            Some(Ended::Removed) => return Err(self.removed(c)),
            Some(Ended::Exited {
                status: s,
                exit_code,
            }) => {
                status = s;
                exit_code
            }
            None => None,
        };
        let (cause, logs) = self.last_lines(c, tail).await?;
        Err(DeployError::Unhealthy {
            component: c.component,
            waited_s: started.elapsed().as_secs(),
            status,
            exit_code,
            cause,
            logs,
            rollback: String::new(),
        })
    }

    fn removed(&self, c: &DesiredContainer) -> DeployError {
        DeployError::Removed {
            component: c.component,
            name: c.name.clone(),
            rollback: String::new(),
        }
    }

    /// The engine's own record of what the server wrote last (complete once it has exited, where a
    /// followed stream may not have caught up; `tail` when the engine has none), as the likely cause
    /// and the indented lines of an error. [`DeployError::Removed`] when the container is gone.
    async fn last_lines(
        &self,
        c: &DesiredContainer,
        tail: VecDeque<String>,
    ) -> Result<(String, String), DeployError> {
        let lines: Vec<String> = match self.engine.container_logs(&c.name, LAST_LOG_LINES).await {
            Ok(read) if !read.iter().all(|l| l.trim().is_empty()) => {
                read.into_iter().filter(|l| !l.trim().is_empty()).collect()
            }
            Err(EngineError::NotFound(_)) => return Err(self.removed(c)),
            _ => tail.into_iter().collect(),
        };
        let cause = likely_cause(&lines)
            .map(|c| format!("\nlikely cause: {c}"))
            .unwrap_or_default();
        let logs = lines
            .iter()
            .map(|l| format!("  | {l}"))
            .collect::<Vec<_>>()
            .join("\n");
        Ok((cause, logs))
    }

    /// The stability window: after its first healthy answer, `c` must stay up, with its restart count
    /// unchanged, for `opts.stable_for` (nothing when zero). `restarts` is the count it started the
    /// window with (0 for a container this run created). A crash in the window is
    /// [`DeployError::Unstable`] with the exit code the engine's exit watch reported (with a restart
    /// policy, inspect reads 0 once the process runs again) and the last log lines after the exit.
    pub(super) async fn wait_stable(
        &self,
        c: &DesiredContainer,
        restarts: Option<i64>,
    ) -> Result<(), DeployError> {
        let window = self.opts.stable_for;
        if window.is_zero() {
            return Ok(());
        }
        let phase = format!("{} stability", c.component);
        self.phase(&phase, PhaseState::Started);
        let started = Instant::now();
        let baseline = match restarts {
            Some(n) => n,
            None => match self.engine.inspect_container(&c.name).await {
                Ok(info) => info.restart_count,
                Err(EngineError::NotFound(_)) => return Err(self.removed(c)),
                Err(e) => {
                    return Err(super::engine_err(format!("inspect container {}", c.name))(
                        e,
                    ))
                }
            },
        };
        let mut exit_watch = std::pin::pin!(self.next_exit(&c.name));
        let mut watching = true;
        let over = tokio::time::sleep(window);
        let mut over = std::pin::pin!(over);
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        let ended = loop {
            tokio::select! {
                _ = self.opts.cancel.cancelled() => return Err(DeployError::Cancelled { rollback: String::new() }),
                _ = &mut over => {
                    self.phase(&phase, PhaseState::Done);
                    return Ok(());
                },
                exit = &mut exit_watch, if watching => {
                    watching = false;
                    match exit {
                        Ok(code) => break self.exited(&c.name, code).await,
                        Err(EngineError::NotFound(_)) => break Ended::Removed,
                        // The ticks below still see a restart or an exit, without the watch.
                        Err(_) => {}
                    }
                },
                _ = tick.tick() => {
                    match self.engine.inspect_container(&c.name).await {
                        Err(EngineError::NotFound(_)) => break Ended::Removed,
                        Err(_) => {}
                        Ok(info) => {
                            let st = info.state.unwrap_or_default();
                            if st.removing {
                                break Ended::Removed;
                            }
                            if st.restarting || !st.running || info.restart_count != baseline {
                                // The exit watch knows the code (inspect reads 0 once a restart
                                // brought the process back); give it a moment to say so.
                                if watching {
                                    let said = tokio::time::timeout(Duration::from_secs(2), &mut exit_watch).await;
                                    if let Ok(Ok(code)) = said {
                                        break self.exited(&c.name, code).await;
                                    }
                                }
                                let code = if st.running && !st.restarting { None } else { st.exit_code };
                                if let Some(code) = code {
                                    break self.exited(&c.name, code).await;
                                }
                                break self.ended(&c.name, None, false).await.unwrap_or(Ended::Exited {
                                    status: format!(
                                        "the container restarted ({} time(s))",
                                        info.restart_count - baseline
                                    ),
                                    exit_code: None,
                                });
                            }
                        }
                    }
                }
            }
        };
        self.phase(&phase, PhaseState::Failed);
        let (status, exit_code) = match ended {
            Ended::Removed => return Err(self.removed(c)),
            Ended::Exited { status, exit_code } => (status, exit_code),
        };
        let (cause, logs) = self.last_lines(c, VecDeque::new()).await?;
        Err(DeployError::Unstable {
            component: c.component,
            after_s: u32::try_from(started.elapsed().as_secs()).unwrap_or(u32::MAX),
            window_s: u32::try_from(window.as_secs()).unwrap_or(u32::MAX),
            status,
            exit_code,
            cause,
            logs,
            rollback: String::new(),
        })
    }

    /// How an exit the exit watch reported reads.
    /// The code of the container's next exit. Docker reads it when its waiter wakes: under load a
    /// restart policy may have brought the process back by then, and the code reads 0. A 0 from a
    /// container that keeps restarting is not believed: the exit after it is awaited (three at most).
    /// Callers race this against their own checks, so a process that stays up just leaves it pending.
    async fn next_exit(&self, name: &str) -> Result<i64, EngineError> {
        let mut code = self.engine.wait_exit(name).await?;
        for _ in 0..3 {
            if code != 0 {
                break;
            }
            let looping = match self.engine.inspect_container(name).await {
                Ok(i) => i.restart_count > 0 && i.state.is_some_and(|s| s.running || s.restarting),
                Err(_) => false,
            };
            if !looping {
                break;
            }
            code = self.engine.wait_exit(name).await?;
        }
        Ok(code)
    }

    async fn exited(&self, name: &str, code: i64) -> Ended {
        self.ended(name, Some(code), false)
            .await
            .unwrap_or(Ended::Exited {
                status: format!("the container exited with code {code}"),
                exit_code: i32::try_from(code).ok(),
            })
    }

    /// Reports the wait every two seconds; whether the time-out has passed.
    fn report(
        &self,
        c: &DesiredContainer,
        waited: Duration,
        last_report: &mut u64,
        status: &str,
        timeout: Duration,
    ) -> Turn {
        if waited.as_secs() >= *last_report + 2 {
            *last_report = waited.as_secs();
            emit(
                self.sink,
                Event::Health {
                    component: c.component,
                    waited_s: waited.as_secs(),
                    status: status.to_string(),
                },
            );
        }
        if waited >= timeout {
            Turn::TimedOut
        } else {
            Turn::Waiting
        }
    }

    /// Whether the container is gone or its process ended, and how. `code` is the exit code the
    /// engine's exit watch reported; `watching` whether that watch still runs. A restart loop (the
    /// restart policy bringing back a process that keeps exiting) counts too: waiting for health would
    /// not help.
    async fn ended(&self, name: &str, code: Option<i64>, watching: bool) -> Option<Ended> {
        let info = match self.engine.inspect_container(name).await {
            Ok(info) => info,
            Err(EngineError::NotFound(_)) => return Some(Ended::Removed),
            Err(_) => return None,
        };
        let st = info.state?;
        if st.removing {
            return Some(Ended::Removed);
        }
        let restarts = info.restart_count;
        let keeps_exiting = st.restarting || restarts > 0;
        if code.is_none() && st.running && (!keeps_exiting || (!st.restarting && watching)) {
            // Running: healthy or not yet. Running again after a restart, the exit watch reports
            // the next exit with its code.
            return None;
        }
        // Between an exit and the restart the engine may read ExitCode 0 (seen under load on Docker
        // 20.10): a restart loop's code is then the exit watch's to tell, and it will tell it.
        if code.is_none() && watching && keeps_exiting && matches!(st.exit_code, None | Some(0)) {
            return None;
        }
        // While the restart policy waits to bring it back (`restarting`, still `running` to the engine),
        // ExitCode is the last exit's; once it runs again it reads 0: then only the exit watch knows.
        let exit_code = code
            .or(if st.running && !st.restarting {
                None
            } else {
                st.exit_code
            })
            .and_then(|c| i32::try_from(c).ok());
        let oom = if st.oom_killed {
            " (killed: out of host memory)"
        } else {
            ""
        };
        let with_code = exit_code
            .map(|c| format!(" with code {c}"))
            .unwrap_or_default();
        let status = if keeps_exiting {
            format!("the container keeps exiting{with_code} (restarted {restarts} time(s)){oom}")
        } else {
            format!("the container exited{with_code}{oom}")
        };
        Some(Ended::Exited { status, exit_code })
    }

    /// One look, no waiting: the server answers healthy (local engine: our probe of its port; remote: the
    /// engine's own health check).
    pub(super) async fn healthy_now(&self, c: &DesiredContainer, served: &str) -> bool {
        if self.opts.local_engine {
            probe(c, served).await.is_ok()
        } else {
            self.docker_health(&c.name).await.as_deref() == Some("healthy")
        }
    }

    pub(super) async fn docker_health(&self, name: &str) -> Option<String> {
        self.engine
            .inspect_container(name)
            .await
            .ok()?
            .state?
            .health
    }

    pub(super) async fn smoke(&self, desired: &Desired) -> Result<(), DeployError> {
        self.phase("smoke test", PhaseState::Started);
        let model = desired
            .containers
            .iter()
            .find(|c| c.component == Component::Model);
        let Some(model) = model else { return Ok(()) };
        let body = serde_json::json!({
            "model": desired.served_model_name,
            "messages": [{"role": "user", "content": "Write a Python function that returns 'hi'."}],
            "max_tokens": 32,
        });
        let url = format!("{}/v1/chat/completions", model.probe_url);
        let res = http::request(&url, Some(&body.to_string()), Duration::from_secs(120))
            .await
            .map_err(|detail| DeployError::SmokeTest {
                detail,
                rollback: String::new(),
            })?;
        let ok = res.status == 200
            && serde_json::from_str::<serde_json::Value>(&res.body)
                .ok()
                .and_then(|v| v["choices"].as_array().map(|a| !a.is_empty()))
                .unwrap_or(false);
        if !ok {
            self.phase("smoke test", PhaseState::Failed);
            return Err(DeployError::SmokeTest {
                detail: format!(
                    "POST {url} answered {}: {}",
                    res.status,
                    res.body.chars().take(300).collect::<String>()
                ),
                rollback: String::new(),
            });
        }
        self.phase("smoke test", PhaseState::Done);
        Ok(())
    }
}

/// Readiness as GitLab will need it: vLLM's `/health`, then `/v1/models` listing the served name; the
/// gateway's `/monitoring/healthz`.
async fn probe(c: &DesiredContainer, served: &str) -> Result<(), String> {
    let t = Duration::from_secs(3);
    match c.component {
        Component::Model => {
            let h = http::request(&format!("{}/health", c.probe_url), None, t).await?;
            if h.status != 200 {
                return Err(format!("/health answered {}", h.status));
            }
            let m = http::request(&format!("{}/v1/models", c.probe_url), None, t).await?;
            let listed = serde_json::from_str::<serde_json::Value>(&m.body)
                .ok()
                .and_then(|v| {
                    v["data"]
                        .as_array()
                        .map(|a| a.iter().any(|x| x["id"].as_str() == Some(served)))
                })
                .unwrap_or(false);
            if listed {
                Ok(())
            } else {
                Err(format!(
                    "/v1/models does not list {served} yet: {}",
                    m.body.chars().take(200).collect::<String>()
                ))
            }
        }
        Component::Gateway => {
            let h = http::request(&format!("{}/monitoring/healthz", c.probe_url), None, t).await?;
            if h.status == 200 {
                Ok(())
            } else {
                Err(format!("/monitoring/healthz answered {}", h.status))
            }
        }
    }
}
