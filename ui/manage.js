// Step 8: what runs (by label, like `aigw-installer status`), logs, upgrade and uninstall; and whether
// Manage is offered, read again whenever an install ends (INSTALLATION_CHANGED).
import { $, el, invoke, showError, clearErrors, errorText } from "./lib.js";
import { progressView, runWithProgress, cancelRunning, showFailure } from "./progress.js";
import { onShow, INSTALLATION_CHANGED } from "./nav.js";

const upgradeView = progressView($("#upgrade-progress"));

/// Shows Manage in the steps (and on Welcome) when an installation exists; says what cannot be done here.
export async function refreshInstalled() {
  let st;
  try {
    st = await invoke("status");
  } catch (e) {
    st = { containers: [], engine_problem: errorText(e) };
  }
  if (st.engine) $("#docker-endpoint").textContent = st.engine;
  const installed = st.containers.length > 0;
  $("#nav-manage").hidden = !installed;
  $("#to-manage").hidden = !installed;
  const note = $("#welcome-installed");
  note.hidden = !installed;
  note.textContent = installed ? `An installation exists on this engine (${st.containers.map((c) => c.name).join(", ")}).` : "";
  const limits = $("#welcome-limits");
  limits.hidden = !st.engine_problem;
  limits.textContent = st.engine_problem
    ? `Docker cannot be reached here, so nothing can be installed: ${st.engine_problem}. You can still plan, generate the GitLab settings and export them.`
    : "";
  return st;
}

function renderContainers(list) {
  const body = $("#containers tbody");
  body.replaceChildren(...list.map((c) => el("tr", { "data-name": c.name },
    el("th", { scope: "row" }, c.name), el("td", {}, c.image), el("td", {}, c.condition ?? c.state),
    el("td", { class: `health ${c.health ?? ""}` }, c.health ?? "—"), el("td", {}, c.endpoints.join(", ")))));
}

// Each reading is numbered; only the newest writes, and the status declares when it has settled
// (`data-state="ready"`, `data-reading=N`) so that nothing has to guess from the transient text.
let readings = 0;

async function showManage() {
  const status = $("#manage-status");
  const reading = ++readings;
  status.dataset.state = "loading";
  status.textContent = "Reading the engine…";
  const st = await refreshInstalled();
  if (reading !== readings) return;
  renderContainers(st.containers);
  if (st.engine_problem) status.textContent = `The Docker engine cannot be reached: ${st.engine_problem}`;
  else if (!st.containers.length) status.textContent = "Nothing is installed on this engine.";
  else {
    const healthy = st.containers.filter((c) => c.health === "healthy").length;
    status.textContent = `${st.containers.length} container(s), ${healthy} healthy.`
      + (st.spec_path ? ` Spec: ${st.spec_path}` : "");
  }
  if (st.gateway_tag && !$("#u-gateway-tag").value) $("#u-gateway-tag").placeholder = st.gateway_tag;
  if (st.model_tag && !$("#u-model-tag").value) $("#u-model-tag").placeholder = st.model_tag;
  status.dataset.reading = String(reading);
  status.dataset.state = "ready";
}

async function showLogs() {
  const out = $("#logs-out");
  out.hidden = false;
  out.textContent = "Reading…";
  try {
    const lines = await invoke("logs", { component: $("#logs-component").value, tail: 200 });
    out.textContent = lines.length ? lines.join("\n") : "(no log lines yet)";
  } catch (e) {
    out.textContent = errorText(e);
  }
}

async function upgrade() {
  const form = $("#upgrade-form");
  const status = $("#upgrade-status");
  const error = $("#upgrade-error");
  clearErrors(error, form);
  upgradeView.reset();
  $("#upgrade-progress").hidden = false;
  $("#upgrade-btn").disabled = true;
  $("#cancel-upgrade").disabled = false;
  $("#cancel-upgrade").textContent = "Cancel";
  status.textContent = "Upgrading…";
  try {
    const args = Object.fromEntries(new FormData(form).entries());
    const done = await runWithProgress("upgrade", { args }, upgradeView);
    status.textContent = done.changed ? `Upgraded in ${done.elapsed_s.toFixed(1)} s.` : "Already at those tags: nothing to do.";
    for (const i of form.querySelectorAll("input")) i.value = "";
  } catch (e) {
    status.textContent = e?.code === "cancelled" ? "Cancelled: the previous containers are back." : "The upgrade failed.";
    if (e?.field) showError(error, e, { "upgrade.gateway_tag": "#u-gateway-tag" });
    else showFailure(error, e);
  } finally {
    upgradeView.finish();
    $("#upgrade-btn").disabled = false;
    $("#cancel-upgrade").disabled = true;
    $("#cancel-upgrade").textContent = "Cancel";
    showManage();
  }
}

async function uninstall() {
  $("#uninstall-confirm").hidden = true;
  const out = $("#uninstall-result");
  out.textContent = "Removing…";
  try {
    const r = await invoke("uninstall");
    const removed = [...r.removed.containers, ...r.removed.networks];
    out.replaceChildren(el("p", {}, removed.length ? `Removed: ${removed.join(", ")}.` : "Nothing to remove."),
      ...(r.kept.length ? [el("p", {}, "Kept:"), el("ul", {}, ...r.kept.map((k) => el("li", {}, k)))] : []));
  } catch (e) {
    out.textContent = errorText(e);
  }
  showManage();
}

onShow("manage", showManage);
document.addEventListener(INSTALLATION_CHANGED, () => refreshInstalled());
$("#manage-refresh").addEventListener("click", showManage);
$("#cancel-upgrade").addEventListener("click", (e) => cancelRunning(e.currentTarget));
$("#logs-btn").addEventListener("click", showLogs);
$("#upgrade-form").addEventListener("submit", (e) => { e.preventDefault(); upgrade(); });
$("#uninstall-btn").addEventListener("click", () => { $("#uninstall-confirm").hidden = false; $("#uninstall-yes").focus(); });
$("#uninstall-no").addEventListener("click", () => { $("#uninstall-confirm").hidden = true; $("#uninstall-btn").focus(); });
$("#uninstall-yes").addEventListener("click", uninstall);
