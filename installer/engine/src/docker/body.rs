//! The exact container-create body for a desired container (pure; snapshot-tested, including the GPU
//! device request that cannot run on a machine without GPUs).

use bollard::models::{
    ContainerCreateBody, DeviceRequest, EndpointSettings, HealthConfig, HostConfig,
    NetworkingConfig, PortBinding, RestartPolicy, RestartPolicyNameEnum,
};
use std::collections::HashMap;

use aigw_core::plan::{DesiredContainer, HEALTH_INTERVAL_S, HEALTH_RETRIES, HEALTH_TIMEOUT_S};
use aigw_core::spec;

const SECOND: i64 = 1_000_000_000;

/// Docker wants nanoseconds.
fn secs(s: u64) -> i64 {
    i64::try_from(s).unwrap_or(i64::MAX / SECOND) * SECOND
}

pub fn create_body(c: &DesiredContainer) -> ContainerCreateBody {
    let env: Vec<String> = c.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let exposed: Vec<String> = c
        .ports
        .iter()
        .map(|p| format!("{}/tcp", p.container_port))
        .collect();
    let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    for p in &c.ports {
        bindings
            .entry(format!("{}/tcp", p.container_port))
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(PortBinding {
                host_ip: Some(p.host_ip.clone()),
                host_port: Some(p.host_port.to_string()),
            });
    }
    let binds: Vec<String> = c
        .binds
        .iter()
        .map(|b| {
            format!(
                "{}:{}:{}",
                b.host,
                b.container,
                if b.read_only { "ro" } else { "rw" }
            )
        })
        .collect();
    let device_requests = (!c.gpus.is_empty()).then(|| {
        vec![DeviceRequest {
            driver: Some("nvidia".into()),
            // count and device_ids are exclusive; "all" maps to count -1 like `--gpus all`.
            count: c.gpus.iter().any(|g| g == "all").then_some(-1),
            device_ids: (!c.gpus.iter().any(|g| g == "all")).then(|| c.gpus.clone()),
            capabilities: Some(vec![vec!["gpu".into()]]),
            options: None,
        }]
    });
    let restart = match c.restart {
        spec::RestartPolicy::UnlessStopped => RestartPolicyNameEnum::UNLESS_STOPPED,
        spec::RestartPolicy::Always => RestartPolicyNameEnum::ALWAYS,
        spec::RestartPolicy::No => RestartPolicyNameEnum::NO,
    };
    ContainerCreateBody {
        image: Some(c.image.clone()),
        cmd: (!c.cmd.is_empty()).then(|| c.cmd.clone()),
        env: Some(env),
        exposed_ports: Some(exposed),
        labels: Some(c.labels().into_iter().collect()),
        healthcheck: Some(HealthConfig {
            test: Some(c.healthcheck.clone()),
            interval: Some(secs(HEALTH_INTERVAL_S)),
            timeout: Some(secs(HEALTH_TIMEOUT_S)),
            retries: Some(HEALTH_RETRIES as i64),
            start_period: Some(secs(c.health_start_period_s())),
            start_interval: None,
        }),
        host_config: Some(HostConfig {
            binds: Some(binds),
            port_bindings: Some(bindings),
            restart_policy: Some(RestartPolicy {
                name: Some(restart),
                maximum_retry_count: None,
            }),
            device_requests,
            ipc_mode: c.ipc_host.then(|| "host".to_string()),
            network_mode: Some(c.network.clone()),
            init: Some(true),
            ..Default::default()
        }),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                c.network.clone(),
                EndpointSettings {
                    aliases: Some(vec![c.name.clone()]),
                    ..Default::default()
                },
            )])),
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aigw_core::plan::desired;
    use aigw_core::spec::DeploymentSpec;

    #[test]
    fn gpu_container_body_snapshot() {
        let spec = DeploymentSpec::from_toml(
            include_str!("../../../../tests/fixtures/specs/local-mixtral-two-gpus.toml"),
            "t",
        )
        .unwrap();
        let d = desired(&spec, None).unwrap();
        let mut body = serde_json::to_value(create_body(&d.containers[0])).unwrap();
        // The hash has its own tests (plan.rs); keep the snapshot about the body's shape.
        body["Labels"]["io.aigw-installer.config-hash"] = "[hash]".into();
        insta::assert_json_snapshot!("model_gpu_body", body);
        let dr = &body["HostConfig"]["DeviceRequests"][0];
        assert_eq!(dr["Driver"], "nvidia");
        assert_eq!(dr["DeviceIDs"], serde_json::json!(["0", "1"]));
        assert_eq!(dr["Capabilities"], serde_json::json!([["gpu"]]));
        assert_eq!(body["HostConfig"]["IpcMode"], "host");
        // The 1.41 API wants ExposedPorts as a map of empty objects.
        assert_eq!(body["ExposedPorts"], serde_json::json!({"8000/tcp": {}}));

        let gw = serde_json::to_value(create_body(&d.containers[1])).unwrap();
        assert!(gw["HostConfig"]["DeviceRequests"].is_null());
        assert_eq!(gw["HostConfig"]["RestartPolicy"]["Name"], "unless-stopped");
        assert_eq!(
            gw["HostConfig"]["PortBindings"]["5052/tcp"][0]["HostPort"],
            "5052"
        );
    }

    /// Issue 13: GitLab is told `<gateway host>:50052`, so the gateway the engine creates publishes it.
    #[test]
    fn the_gateway_body_publishes_the_agent_platform_port_when_asked() {
        let mut spec = DeploymentSpec::from_toml(
            include_str!("../../../../tests/fixtures/specs/hf-mistral-small-tp2-dp2.toml"),
            "t",
        )
        .unwrap();
        spec.gateway.agent_platform = true;
        let d = desired(&spec, None).unwrap();
        let gw = serde_json::to_value(create_body(&d.containers[1])).unwrap();
        assert_eq!(
            gw["ExposedPorts"],
            serde_json::json!({"5052/tcp": {}, "50052/tcp": {}})
        );
        let binding = &gw["HostConfig"]["PortBindings"]["50052/tcp"][0];
        assert_eq!(binding["HostPort"], "50052");
        assert_eq!(binding["HostIp"], "0.0.0.0");
        let env = gw["Env"].as_array().unwrap();
        assert!(
            env.iter().any(|e| e == "DUO_WORKFLOW_AUTH__ENABLED=true"),
            "{env:?}"
        );
    }

    /// Issue 16: two data-parallel replicas of a two-GPU tensor-parallel group are one container that
    /// requests all four GPUs.
    #[test]
    fn data_parallel_body_requests_tp_times_dp_gpus() {
        let spec = DeploymentSpec::from_toml(
            include_str!("../../../../tests/fixtures/specs/hf-mistral-small-tp2-dp2.toml"),
            "t",
        )
        .unwrap();
        let d = desired(&spec, None).unwrap();
        let mut body = serde_json::to_value(create_body(&d.containers[0])).unwrap();
        body["Labels"]["io.aigw-installer.config-hash"] = "[hash]".into();
        let dr = &body["HostConfig"]["DeviceRequests"][0];
        assert_eq!(dr["DeviceIDs"], serde_json::json!(["0", "1", "2", "3"]));
        assert!(
            dr["Count"].is_null(),
            "device ids and a count are exclusive"
        );
        let cmd: Vec<String> = serde_json::from_value(body["Cmd"].clone()).unwrap();
        let at = cmd
            .iter()
            .position(|a| a == "--data-parallel-size")
            .unwrap();
        assert_eq!(cmd[at + 1], "2");
        insta::assert_json_snapshot!("model_dp_body", body);
    }
}
