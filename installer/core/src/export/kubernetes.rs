//! The scale-out path: the same two services as Kubernetes objects — Deployments and Services for the
//! gateway and for vLLM, which requests `nvidia.com/gpu` — with the same arguments and environment.

use std::fmt::Write;

use crate::plan::{Component, Desired, DesiredContainer};

/// A double-quoted YAML string. Kubernetes expands `$(VAR)` in args and env values; `$$` escapes it.
fn q(s: &str) -> String {
    let escaped = s
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
        .replace("$(", "$$(");
    format!("\"{escaped}\"")
}

fn deployment(out: &mut String, c: &DesiredContainer, gpu_count: usize) {
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
    if !env.is_empty() {
        let _ = writeln!(out, "          env:");
        for (k, v) in env {
            let _ = writeln!(
                out,
                "            - name: {}\n              value: {}",
                q(k),
                q(v)
            );
        }
    }
    let _ = writeln!(
        out,
        "          ports:\n            - name: \"http\"\n              containerPort: {port}"
    );
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

fn service(out: &mut String, c: &DesiredContainer) {
    let port = c.ports.first().map_or(0, |p| p.container_port);
    let _ = writeln!(
        out,
        "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: {}",
        q(&c.name)
    );
    let _ = writeln!(
        out,
        "  labels:\n    app.kubernetes.io/part-of: \"aigw-installer\""
    );
    let _ = writeln!(
        out,
        "spec:\n  selector:\n    app.kubernetes.io/name: {}",
        q(&c.name)
    );
    let _ = writeln!(
        out,
        "  ports:\n    - name: \"http\"\n      port: {port}\n      targetPort: {port}"
    );
}

/// All objects in one multi-document YAML. The model's weights come from a PersistentVolumeClaim named
/// `aigw-model-weights` (the cluster's storage is the admin's choice); the gateway Service is ClusterIP —
/// expose it with the Ingress or LoadBalancer the cluster uses.
pub fn manifests(d: &Desired, gpu_count: usize) -> String {
    let mut out = String::from(
        "# Generated by aigw-installer: the gateway and the vLLM model server on Kubernetes.\n\
         # Apply with: kubectl apply -n <namespace> -f aigw.yaml\n\
         # Needs: the NVIDIA device plugin (nvidia.com/gpu) and a PVC named aigw-model-weights holding the\n\
         # checkpoint (or the Hugging Face cache). GitLab's AI gateway Helm chart is the alternative for the gateway.\n",
    );
    for c in &d.containers {
        deployment(
            &mut out,
            c,
            if c.component == Component::Model {
                gpu_count
            } else {
                0
            },
        );
        service(&mut out, c);
    }
    out
}
