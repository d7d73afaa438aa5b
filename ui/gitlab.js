// The live checks on the page: Configure's "Test GitLab" (each step a pass, a finding with its fix, or not
// run) and the Model step's "Detect", which fills the version only from GitLab's own answer. Each declares
// its end as data-state ("passed", "findings", "found", "unknown", "error") for tests to wait on. The token
// field is cleared after its one use. "Test GitLab" also runs from the gateway's network (a short-lived
// container of the gateway image the form implies); that list declares data-from-network ("pass",
// "finding", "not-run" with its reason), set before the first list's data-state.
import { $, el, invoke, errorText } from "./lib.js";

export function stepLine(s) {
  if (s.result === "pass") return el("li", { "data-result": "pass" }, `✓ ${s.step.toUpperCase()}: ${s.detail}`);
  if (s.result === "not_run") return el("li", { "data-result": "not_run" }, `– ${s.step.toUpperCase()}: ${s.reason}`);
  return el("li", { "data-result": "finding" }, `✗ ${s.step.toUpperCase()}: ${s.message} — fix: ${s.fix}`);
}

// The gateway network's answer: pass (every step that ran passed), finding, or not run.
function networkState(check) {
  if (check.steps.some((s) => s.result === "finding")) return "finding";
  if (check.steps.some((s) => s.result === "pass")) return "pass";
  return "not-run";
}

function showNetwork(net, check) {
  if (!net) return;
  const head = el("li", { class: "from" }, `From ${check.from}:`);
  net.replaceChildren(head, ...check.steps.map(stepLine));
  net.dataset.fromNetwork = networkState(check);
}

async function testGitlab() {
  const out = $("#c-gitlab-result");
  const net = $("#c-gitlab-network");
  out.replaceChildren(el("li", {}, "testing…"));
  out.dataset.state = "running";
  if (net) {
    net.replaceChildren();
    net.dataset.fromNetwork = "running";
  }
  try {
    const check = await invoke("check_gitlab", {
      url: $("#c-gitlab-url").value,
      gitlabVersion: $("#m-gitlab")?.value || null,
      gatewayImage: $("#c-gateway-image")?.value || null,
      gatewayTag: $("#c-gateway-tag")?.value || null,
    });
    showNetwork(net, check.from_network);
    out.replaceChildren(...check.steps.map(stepLine));
    const findings = check.steps.some((s) => s.result === "finding");
    out.dataset.state = findings ? "findings" : "passed";
  } catch (e) {
    if (net) {
      net.replaceChildren();
      net.dataset.fromNetwork = "not-run";
    }
    out.replaceChildren(el("li", { "data-result": "finding" }, errorText(e)));
    out.dataset.state = "error";
  }
}

async function detectVersion() {
  const out = $("#m-gitlab-detected");
  const url = $("#m-gitlab-url").value || $("#c-gitlab-url").value;
  const token = $("#m-gitlab-token").value;
  $("#m-gitlab-token").value = "";
  out.textContent = "asking GitLab…";
  out.dataset.state = "running";
  try {
    const remember = $("#m-gitlab-remember").checked;
    const answer = await invoke("gitlab_version", { url, token: token || null, remember });
    // Where a token is kept: said, never shown.
    const kept = answer.used_kept
      ? ` (using the token kept in ${answer.used_kept})`
      : answer.kept_in ? ` (token kept in ${answer.kept_in})` : "";
    if (answer.result === "found") {
      $("#m-gitlab").value = answer.version;
      if (!$("#c-gitlab-url").value) $("#c-gitlab-url").value = url;
      out.textContent = `GitLab ${answer.version}${kept}`;
      out.dataset.state = "found";
    } else {
      out.textContent = `${answer.reason} — ${answer.fix}${kept}`;
      out.dataset.state = "unknown";
    }
  } catch (e) {
    out.textContent = errorText(e);
    out.dataset.state = "error";
  }
}

if (invoke) {
  $("#c-gitlab-test")?.addEventListener("click", testGitlab);
  $("#m-gitlab-detect")?.addEventListener("click", detectVersion);
}
