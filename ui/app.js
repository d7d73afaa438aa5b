// The wizard shell: the planning steps (check, model, configure, review) and startup. Every fact comes
// from the engine through Tauri commands; nothing here decides. Navigation and shared state are nav.js's.
import { $, el, invoke, errorText, showError, clearErrors, choosePath } from "./lib.js";
import { state, showStep, onShow } from "./nav.js";
import { startInstall } from "./install.js";
import { showWeights } from "./review-weights.js";
import { refreshInstalled } from "./manage.js";
import "./connect.js";
import "./engines.js";
import "./gitlab.js";
import "./options.js";
import "./zoom.js";

function renderGpus(report) {
  const box = $("#gpus");
  box.replaceChildren();
  for (const g of report.gpus.devices) {
    const usedPct = Math.round(100 * (g.memory_total_mib - g.memory_free_mib) / g.memory_total_mib);
    const bar = el("div", { class: "bar", role: "meter", "aria-valuemin": "0", "aria-valuemax": "100",
      "aria-valuenow": String(usedPct), "aria-label": `GPU ${g.index} memory in use` }, el("span"));
    bar.firstChild.style.width = `${usedPct}%`;
    box.append(el("div", { class: "gpu" },
      `GPU ${g.index}: ${g.name} — compute capability ${g.compute_capability.major}.${g.compute_capability.minor}, `
      + `${(g.memory_free_mib / 1024).toFixed(1)} of ${(g.memory_total_mib / 1024).toFixed(1)} GiB free`, bar));
  }
}

function renderFindings(report) {
  const list = $("#findings");
  list.replaceChildren();
  for (const f of report.findings) {
    const text = el("div", { class: "msg" }, f.message);
    if (f.fix) text.append(el("p", { class: "fix" }, `Fix: ${f.fix}`));
    list.append(el("li", { class: `finding ${f.severity}`, "data-code": f.code },
      el("span", { class: "badge" }, f.severity), text, el("span", { class: "code" }, f.code)));
  }
}

async function runCheck() {
  const status = $("#check-status");
  const button = $("#recheck");
  if (!invoke) {
    status.textContent = "This page must run inside the installer app.";
    return;
  }
  button.disabled = true;
  status.textContent = "Checking GPUs, Docker, disks and ports…";
  try {
    const report = await invoke("detect");
    state.report = report;
    const blockers = report.findings.filter((f) => f.severity === "blocker").length;
    const warnings = report.findings.filter((f) => f.severity === "warning").length;
    status.textContent = blockers
      ? `${blockers} blocker(s) and ${warnings} warning(s): fix the blockers before installing.`
      : warnings ? `Ready, with ${warnings} warning(s).` : "Ready.";
    renderGpus(report);
    renderFindings(report);
    const engine = document.body.dataset.engine ?? "";
    $("#check-engine").textContent = report.docker?.local === false
      ? `Read through ${engine} — the server, not this workstation.`
      : `Read on this machine${engine ? ` (${engine})` : ""}.`;
  } catch (e) {
    status.textContent = `The check failed: ${e?.message ?? e}`;
  } finally {
    button.disabled = false;
  }
}

onShow("check", () => { if (!state.report) runCheck(); });
$("#start").addEventListener("click", () => showStep("check"));
$("#to-model").addEventListener("click", () => showStep("model"));
$("#model-form").addEventListener("submit", (e) => { e.preventDefault(); runRecommend(); });
$("#model-form").addEventListener("change", () => runRecommend());
$("#to-configure").addEventListener("click", () => showStep("configure"));
// Configure starts from what the engine found: the recommendation's GPUs (even when the Model step was
// skipped) and the first name GitLab could reach this host by.
onShow("configure", async () => {
  if (!state.plan) await runRecommend();
  const host = $("#c-gateway-host");
  if (!host.value && state.report?.gateway_hosts?.length) host.value = state.report.gateway_hosts[0];
});
$("#config-form").addEventListener("submit", (e) => { e.preventDefault(); runReview(); });

// Which input shows a spec field's error.
const FIELD_INPUT = {
  "gitlab.url": "#c-gitlab-url", "gitlab.install_type": "#c-install-type", "gateway.host": "#c-gateway-host",
  "gateway.port": "#c-gateway-port", "model.port": "#c-model-port", "model.weights.path": "#c-weights-dir",
  "model.gpus": "#c-gpus", developers: "#m-developers", "gitlab.version": "#m-gitlab", "image_bundle": "#c-image-bundle",
  "model.image": "#c-model-image", "model.tag": "#c-model-tag", "gateway.image": "#c-gateway-image",
  "gateway.tag": "#c-gateway-tag", "log_dir": "#c-log-dir", "model.weights.repo": "#c-hf-repo",
};

function recommendArgs() {
  const form = new FormData($("#model-form"));
  const num = (v) => (v === "" || v === null ? null : Number(v));
  return {
    gpus: form.get("gpus"), gitlabVersion: form.get("gitlabVersion"), model: form.get("model"),
    precision: form.get("precision"), tp: num(form.get("tp")), context: num(form.get("context")),
    developers: num(form.get("developers")),
    acceptLicense: $("#m-accept-license").checked && state.licenseModel ? [state.licenseModel] : [],
  };
}

function reviewArgs() {
  const form = Object.fromEntries(new FormData($("#config-form")).entries());
  // Checkboxes as booleans (FormData sends "on" or nothing).
  for (const box of $("#config-form").querySelectorAll("input[type=checkbox]")) form[box.name] = box.checked;
  return { rec: recommendArgs(), form };
}

async function runReview() {
  const err = $("#config-error");
  clearErrors(err, $("#config-form"));
  $("#review-btn").disabled = true;
  try {
    const review = await invoke("review", reviewArgs());
    state.review = review;
    const list = $("#review-steps");
    list.replaceChildren(...review.steps.map((s) => el("li", { class: "plan-step" }, s)),
      ...review.blockers.map((b) => el("li", { class: "plan-step blocked" }, `Blocked: ${b}`)));
    $("#review-engine").hidden = !review.engine_problem;
    $("#review-engine").textContent = review.engine_problem
      ? `${review.engine_problem} — installing needs the engine; you can still generate the GitLab settings and export them.`
      : "";
    $("#review-bundle").hidden = !review.image_bundle;
    $("#review-bundle").textContent = review.image_bundle ? `The images are loaded from ${review.image_bundle} first.` : "";
    showWeights(review.weights);
    $("#review-compose").textContent = review.compose;
    $("#review-spec").textContent = review.spec_toml;
    const blocked = Boolean(review.engine_problem) || review.blockers.length > 0;
    $("#install-btn").disabled = blocked;
    $("#install-btn").title = blocked ? "Resolve what is named above first" : "";
    showStep("review");
  } catch (e) {
    showError(err, e, FIELD_INPUT);
  } finally {
    $("#review-btn").disabled = false;
  }
}

function section(title, lines) {
  const box = el("div");
  box.append(el("h4", {}, title));
  const ul = el("ul");
  for (const l of lines) ul.append(el("li", {}, l));
  box.append(ul);
  return box;
}

function headline(d) {
  const dp = d.data_parallel_size > 1 ? ` × DP=${d.data_parallel_size}` : "";
  return `${d.model_name} · ${d.precision} · TP=${d.tensor_parallel_size}${dp} · ${d.max_model_len} tokens · ${d.engine}`;
}

// Overrides are checked by the engine as they change; an answer to an older request is dropped.
let recommendSeq = 0;

async function runRecommend() {
  const seq = ++recommendSeq;
  const args = recommendArgs();
  const err = $("#model-error");
  const card = $("#model-card");
  $("#recommend").disabled = true;
  try {
    const plan = await invoke("recommend", { args });
    if (seq !== recommendSeq) return;
    err.hidden = true;
    state.plan = plan;
    card.replaceChildren();
    const d = plan.recommendation;
    if (d && !$("#c-gpus").value) $("#c-gpus").value = d.gpus.join(",");
    if (d) {
      card.append(el("h3", { class: "verdict-ok", id: "model-headline" }, `Recommended: ${headline(d)}`));
      card.append(el("p", {}, d.summary));
      if (d.vllm_args.length) card.append(el("p", {}, "vLLM arguments: ", el("code", {}, d.vllm_args.join(" "))));
      if (plan.demand) {
        const cls = plan.demand.enough ? "verdict-ok" : "verdict-no";
        card.append(el("p", { class: cls, id: "model-demand", "data-enough": String(plan.demand.enough) }, plan.demand.summary));
        if (plan.demand.to_close_gap.length) card.append(section("To close the gap", plan.demand.to_close_gap));
      }
    } else {
      card.append(el("h3", { class: "verdict-no", id: "model-headline" }, "Cannot serve a model on this machine"));
    }
    card.append(section("Why", plan.explanation));
    if (plan.alternatives.length) card.append(section("Alternatives", plan.alternatives.map((a) => a.summary)));
    if (plan.rejected.length) card.append(section("Rejected", plan.rejected.map((r) => `${r.candidate}: ${r.reason}`)));
    card.hidden = false;
  } catch (e) {
    if (seq !== recommendSeq) return;
    card.hidden = true;
    if (e?.code === "license_required") {
      // The admin accepts the named model's licence explicitly; nothing is accepted by default.
      state.licenseModel = e.field.replace(/^license:/, "");
      $("#m-license-label").textContent = `I accept the licence of ${state.licenseModel}: ${e.message}.`;
      $("#m-accept-license").checked = false;
      $("#m-license-box").hidden = false;
    }
    err.textContent = errorText(e);
    err.hidden = false;
  } finally {
    $("#recommend").disabled = false;
    // Declares which request the step now shows, so nothing has to guess from the text.
    if (seq === recommendSeq) {
      $("#step-model").dataset.reading = String(seq);
      $("#step-model").dataset.state = err.hidden ? "ok" : "error";
    }
  }
}
$("#recheck").addEventListener("click", runCheck);
$("#install-btn").addEventListener("click", () => { showStep("install"); startInstall(reviewArgs()); });
$("#export-only").addEventListener("click", () => { state.exportOnly = true; showStep("connect"); });
$("#to-manage").addEventListener("click", () => showStep("manage"));
for (const b of document.querySelectorAll("[data-choose]")) {
  b.addEventListener("click", async () => {
    const path = await choosePath(b.dataset.choose).catch(() => null);
    if (path) $(b.dataset.target).value = path;
  });
}
if (invoke) refreshInstalled();
else {
  $("#welcome-limits").textContent = "This page must run inside the installer app.";
  $("#welcome-limits").hidden = false;
}
