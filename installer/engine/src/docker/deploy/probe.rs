//! Waiting for health (with the log tail for the error) and the smoke test.

use futures_util::StreamExt;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::execute::Run;
use super::DeployError;
use crate::docker::container_engine::ContainerEngine;
use crate::docker::events::{emit, likely_cause, Event, PhaseState};
use crate::docker::http;
use aigw_core::plan::{Component, Desired, DesiredContainer};

impl<E: ContainerEngine> Run<'_, E> {
    pub(super) async fn wait_healthy(
        &self,
        c: &DesiredContainer,
        served: &str,
    ) -> Result<(), DeployError> {
        let timeout = Duration::from_secs(c.health_timeout_s);
        let phase = format!("{} health", c.component);
        self.phase(&phase, PhaseState::Started);
        let started = Instant::now();
        let mut tail: VecDeque<String> = VecDeque::new();
        let mut logs = self.engine.follow_logs(&c.name, 50);
        let mut status = "starting".to_string();
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        let mut last_report = 0;
        // The log stream ends when the container stops; polling a finished stream would spin.
        let mut logs_open = true;
        loop {
            tokio::select! {
                _ = self.opts.cancel.cancelled() => return Err(DeployError::Cancelled { rollback: String::new() }),
                line = logs.next(), if logs_open => match line {
                    Some(Ok(out)) => {
                        for l in out.lines().filter(|l| !l.trim().is_empty()) {
                            emit(self.sink, Event::Log { component: c.component, line: l.to_string() });
                            tail.push_back(l.to_string());
                            if tail.len() > 30 { tail.pop_front(); }
                        }
                    }
                    Some(Err(_)) | None => logs_open = false,
                },
                _ = tick.tick() => {
                    let waited = started.elapsed();
                    if let Some(exit) = self.exited(&c.name).await {
                        status = exit;
                        break;
                    }
                    if self.opts.local_engine {
                        match probe(c, served).await {
                            Ok(()) => {
                                self.phase(&phase, PhaseState::Done);
                                return Ok(());
                            }
                            Err(s) => status = s,
                        }
                    } else if self.docker_health(&c.name).await.as_deref() == Some("healthy") {
                        return Ok(());
                    }
                    if waited.as_secs() >= last_report + 2 {
                        last_report = waited.as_secs();
                        emit(self.sink, Event::Health { component: c.component, waited_s: waited.as_secs(), status: status.clone() });
                    }
                    if waited >= timeout {
                        break;
                    }
                }
            }
        }
        self.phase(&phase, PhaseState::Failed);
        // Collect what the server said last, even if the stream lagged.
        let lines: Vec<String> = tail.into_iter().collect();
        Err(DeployError::Unhealthy {
            component: c.component,
            waited_s: started.elapsed().as_secs(),
            status,
            cause: likely_cause(&lines)
                .map(|c| format!("\nlikely cause: {c}"))
                .unwrap_or_default(),
            logs: lines
                .iter()
                .map(|l| format!("  | {l}"))
                .collect::<Vec<_>>()
                .join("\n"),
            rollback: String::new(),
        })
    }

    /// Why the container is not running, if it is not. A restart loop (the restart policy bringing back a
    /// process that keeps exiting) counts too: waiting for health would not help.
    pub(super) async fn exited(&self, name: &str) -> Option<String> {
        let c = self.engine.inspect_container(name).await.ok()?;
        let st = c.state?;
        let restarts = c.restart_count;
        let restarting = st.restarting;
        if st.running && !restarting && restarts == 0 {
            return None;
        }
        let oom = if st.oom_killed {
            " (killed: out of host memory)"
        } else {
            ""
        };
        // While the restart policy brings it back, ExitCode reads 0: name it only when it says something.
        let code = match st.exit_code {
            Some(c) if c != 0 => format!(" with code {c}"),
            _ => String::new(),
        };
        Some(if restarting || restarts > 0 {
            format!("the container keeps exiting{code} (restarted {restarts} time(s)){oom}")
        } else {
            format!("the container exited{code}{oom}")
        })
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
