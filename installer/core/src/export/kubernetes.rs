//! The scale-out path: the same two services as Kubernetes objects — Deployments and Services for the
//! gateway and for vLLM, which requests `nvidia.com/gpu` — with the same arguments and environment.

use std::fmt::Write;

use crate::plan::{Component, Desired, DesiredContainer};
use crate::spec::AGENT_PLATFORM_PORT;

/// The Secret the gateway's JWT keys come from (never inlined in the manifests).
pub const JWT_SECRET: &str = "aigw-jwt-keys";

/// What the manifests need beyond the containers.
#[derive(Debug, Clone, Default)]
pub struct KubeOptions<'a> {
    pub gpu_count: usize,
    /// The gateway's JWT key variables, read from [`JWT_SECRET`] by name (key = variable name).
    pub secret_env: &'a [&'a str],
    /// The host GitLab and IDEs use for the gateway: the Ingress rule's host (an IP address gets a rule
    /// without a host, as Ingress hosts are DNS names only).
    pub gateway_host: &'a str,
}

/// `http` for the first port, `grpc` for the Agent Platform's.
fn port_name(port: u16) -> &'static str {
    if port == AGENT_PLATFORM_PORT {
        "grpc"
    } else {
        "http"
    }
}

/// A double-quoted YAML string. Kubernetes expands `$(VAR)` in args and env values; `$$` escapes it.
fn q(s: &str) -> String {
    let escaped = s
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
        .replace("$(", "$$(");
    format!("\"{escaped}\"")
}

fn deployment(out: &mut String, c: &DesiredContainer, gpu_count: usize, secret_env: &[&str]) {
    let name = &c.name;
    let port = c.ports.first().map_or(0, |p| p.container_port);
    let (probe_path, startup_failures) = match c.component {
        // Loading weights can take many minutes: allow 30 minutes before the first success.
        Component::Model => ("/health", 180),
        Component::Gateway => ("/monitoring/healthz", 30),
    };
    let _ = writeln!(out, "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:");
    let _ = writeln!(out, "  name: {}", q(name));
    let _ = writeln!(out, "  labels:\n    app.kubernetes.io/name: {}\n    app.kubernetes.io/part-of: \"aigw-installer\"", q(name));
    let _ = writeln!(out, "spec:\n  replicas: 1");
    if c.component == Component::Model {
        // One pod holds the GPUs at a time: never two during a rollout.
        let _ = writeln!(out, "  strategy:\n    type: \"Recreate\"");
    }
    let _ = writeln!(
        out,
        "  selector:\n    matchLabels:\n      app.kubernetes.io/name: {}",
        q(name)
    );
    let _ = writeln!(
        out,
        "  template:\n    metadata:\n      labels:\n        app.kubernetes.io/name: {}",
        q(name)
    );
    let _ = writeln!(
        out,
        "    spec:\n      containers:\n        - name: {}",
        q(c.component.label())
    );
    let _ = writeln!(out, "          image: {}", q(&c.image));
    if !c.cmd.is_empty() {
        let _ = writeln!(out, "          args:");
        for a in &c.cmd {
            let _ = writeln!(out, "            - {}", q(a));
        }
    }
    let env: Vec<(&String, &String)> = c
        .env
        .iter()
        // The Kubernetes path mounts no log directory: the gateway logs to stdout there.
        .filter(|(k, _)| k.as_str() != "AIGW_LOGGING__TO_FILE")
        .collect();
    if !env.is_empty() || !secret_env.is_empty() {
        let _ = writeln!(out, "          env:");
        for (k, v) in env {
            let _ = writeln!(
                out,
                "            - name: {}\n              value: {}",
                q(k),
                q(v)
            );
        }
        // GitLab 18.10+ needs these or the gateway answers "Token creation failed"; the README says how to
        // create the Secret from the key files.
        for k in secret_env {
            let _ = writeln!(
                out,
                "            - name: {}\n              valueFrom:\n                secretKeyRef:\n                  name: {}\n                  key: {}",
                q(k),
                q(JWT_SECRET),
                q(k)
            );
        }
    }
    let _ = writeln!(out, "          ports:");
    for p in &c.ports {
        let _ = writeln!(
            out,
            "            - name: {}\n              containerPort: {}",
            q(port_name(p.container_port)),
            p.container_port
        );
    }
    for (probe, threshold) in [
        ("startupProbe", startup_failures),
        ("readinessProbe", 3),
        ("livenessProbe", 6),
    ] {
        let _ = writeln!(
            out,
            "          {probe}:\n            httpGet:\n              path: {}\n              port: {port}\n            periodSeconds: 10\n            failureThreshold: {threshold}",
            q(probe_path)
        );
    }
    if c.component == Component::Model {
        if gpu_count > 0 {
            let _ = writeln!(out, "          resources:\n            limits:\n              nvidia.com/gpu: {gpu_count}");
        }
        let _ = writeln!(out, "          volumeMounts:\n            - name: \"dshm\"\n              mountPath: \"/dev/shm\"\n            - name: \"weights\"\n              mountPath: {}", q(&c.binds.first().map(|b| b.container.clone()).unwrap_or_else(|| "/models/weights".into())));
        // Tensor parallelism needs shared memory (the Docker path uses --ipc=host).
        let _ = writeln!(out, "      volumes:\n        - name: \"dshm\"\n          emptyDir:\n            medium: \"Memory\"\n            sizeLimit: \"16Gi\"");
        let _ = writeln!(out, "        - name: \"weights\"\n          persistentVolumeClaim:\n            claimName: \"aigw-model-weights\"");
    }
}

fn service(out: &mut String, c: &DesiredContainer, name: &str, load_balancer: bool) {
    let _ = writeln!(
        out,
        "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: {}",
        q(name)
    );
    let _ = writeln!(
        out,
        "  labels:\n    app.kubernetes.io/part-of: \"aigw-installer\""
    );
    let _ = writeln!(out, "spec:");
    if load_balancer {
        let _ = writeln!(out, "  type: \"LoadBalancer\"");
    }
    let _ = writeln!(
        out,
        "  selector:\n    app.kubernetes.io/name: {}",
        q(&c.name)
    );
    let _ = writeln!(out, "  ports:");
    for p in &c.ports {
        let _ = writeln!(
            out,
            "    - name: {}\n      port: {}\n      targetPort: {}",
            q(port_name(p.container_port)),
            p.container_port,
            p.container_port
        );
    }
}

/// GitLab is told `http://<gateway host>:<port>`: the Ingress routes that host to the gateway's HTTP port.
/// The Agent Platform's gRPC port needs the LoadBalancer alternative (or a gRPC-capable ingress).
fn ingress(out: &mut String, c: &DesiredContainer, host: &str) {
    let port = c.ports.first().map_or(0, |p| p.container_port);
    let _ = writeln!(
        out,
        "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: {}",
        q(&c.name)
    );
    let _ = writeln!(
        out,
        "  labels:\n    app.kubernetes.io/part-of: \"aigw-installer\"\nspec:\n  rules:"
    );
    // Ingress hosts are DNS names: an address gets a rule without a host.
    let by_name = crate::gitlab::inputs::host_ip(host).is_none() && !host.is_empty();
    if by_name {
        let _ = writeln!(
            out,
            "    - host: {}\n      http:",
            q(host.trim_end_matches('.'))
        );
    } else {
        let _ = writeln!(out, "    - http:");
    }
    let _ = writeln!(
        out,
        "        paths:\n          - path: \"/\"\n            pathType: \"Prefix\"\n            backend:\n              service:\n                name: {}\n                port:\n                  number: {port}",
        q(&c.name)
    );
}

/// The alternative to the Ingress: the gateway's ports (HTTP and, when configured, the Agent Platform's
/// gRPC) on a cloud load balancer. Point the gateway host's DNS record at its external address.
pub fn load_balancer(d: &Desired) -> String {
    let mut out = String::from(
        "# Generated by aigw-installer: the gateway on a LoadBalancer Service, instead of the Ingress in aigw.yaml\n\
         # (and needed for the Agent Platform's gRPC port). It keeps the ports GitLab is told (the gateway URL in\n\
         # gitlab/). Apply with: kubectl apply -n <namespace> -f gateway-loadbalancer.yaml\n",
    );
    if let Some(gw) = d
        .containers
        .iter()
        .find(|c| c.component == Component::Gateway)
    {
        let name = format!("{}-lb", gw.name);
        let _ = writeln!(
            out,
            "# Then point the gateway host's DNS record at: kubectl get service -n <namespace> {name}"
        );
        service(&mut out, gw, &name, true);
    }
    out
}

/// All objects in one multi-document YAML. The model's weights come from a PersistentVolumeClaim named
/// `aigw-model-weights` (the cluster's storage is the admin's choice); the gateway Service is ClusterIP,
/// reached from outside through the Ingress for the gateway host (or [`load_balancer`]).
pub fn manifests(d: &Desired, k: &KubeOptions<'_>) -> String {
    let mut out = String::from(
        "# Generated by aigw-installer: the gateway and the vLLM model server on Kubernetes.\n\
         # Apply with: kubectl apply -n <namespace> -f aigw.yaml\n\
         # Needs: the NVIDIA device plugin (nvidia.com/gpu) and a PVC named aigw-model-weights holding the\n\
         # checkpoint (or the Hugging Face cache). GitLab's AI gateway Helm chart is the alternative for the gateway.\n",
    );
    let _ = writeln!(
        out,
        "# The gateway's Ingress answers on port 80 (add TLS for 443): with it, set GitLab's gateway URL to\n\
         # http://{} without the port; gateway-loadbalancer.yaml keeps the port instead.",
        k.gateway_host
    );
    if !k.secret_env.is_empty() {
        let _ = writeln!(
            out,
            "# The gateway reads its JWT keys from the Secret {JWT_SECRET} (README.md says how to create it)."
        );
    }
    for c in &d.containers {
        let gw = c.component == Component::Gateway;
        deployment(
            &mut out,
            c,
            if gw { 0 } else { k.gpu_count },
            if gw { k.secret_env } else { &[] },
        );
        service(&mut out, c, &c.name, false);
        if gw {
            ingress(&mut out, c, k.gateway_host);
        }
    }
    out
}
