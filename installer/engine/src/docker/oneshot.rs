//! A created container run once to its end for its output: the probes' shared step (the GPU probe's
//! `nvidia-smi`, the free-space probe's `df`). Removing the container stays the caller's.

use bollard::query_parameters::{LogsOptionsBuilder, WaitContainerOptionsBuilder};
use bollard::Docker;
use futures_util::StreamExt;

/// Starts `name`, waits for its process to end and returns its stdout; a non-zero exit is an error with
/// what `what` (the program, for the message) wrote, stderr first.
pub async fn run(docker: &Docker, name: &str, what: &str) -> Result<String, String> {
    docker
        .start_container(name, None)
        .await
        .map_err(|e| format!("starting {what}: {e}"))?;
    // "not-running" answers at once when the process already ended.
    let code = match docker
        .wait_container(name, Some(WaitContainerOptionsBuilder::default().build()))
        .next()
        .await
    {
        Some(Ok(r)) => r.status_code,
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => code,
        Some(Err(e)) => return Err(format!("waiting for {what}: {e}")),
        None => return Err("the engine ended the wait without an exit code".into()),
    };
    let (stdout, stderr) = output(docker, name, what).await?;
    if code == 0 {
        Ok(stdout)
    } else {
        let said = if stderr.trim().is_empty() {
            stdout
        } else {
            stderr
        };
        Err(format!("{what} exited with {code}: {}", said.trim()))
    }
}

/// The container's stdout and stderr as the engine kept them.
async fn output(docker: &Docker, name: &str, what: &str) -> Result<(String, String), String> {
    let mut logs = docker.logs(
        name,
        Some(
            LogsOptionsBuilder::default()
                .stdout(true)
                .stderr(true)
                .build(),
        ),
    );
    let (mut out, mut err) = (String::new(), String::new());
    while let Some(chunk) = logs.next().await {
        match chunk.map_err(|e| format!("reading {what}'s output: {e}"))? {
            bollard::container::LogOutput::StdErr { message } => {
                err.push_str(&String::from_utf8_lossy(&message));
            }
            other => out.push_str(&String::from_utf8_lossy(&other.into_bytes())),
        }
    }
    Ok((out, err))
}
