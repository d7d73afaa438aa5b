// Step 6: the install as it happens, from the engine's event channel. Cancel asks the engine to stop;
// it then rolls back what this run changed and the result says so. When it ends, it says so on
// `document` (INSTALLATION_CHANGED) for whoever shows what runs.
import { $ } from "./lib.js";
import { progressView, runWithProgress, cancelRunning, showFailure } from "./progress.js";
import { state, showStep, INSTALLATION_CHANGED } from "./nav.js";
import { stepLine } from "./gitlab.js";

const view = progressView($("#install-progress"));

// The gateway's health at the address GitLab will use, asked after the install: declared as
// data-gitlab-reach="pass" or "finding" (a finding keeps the install: the fix is on GitLab's side or DNS).
function showReach(steps) {
  const box = $("#install-gitlab-reach");
  const list = box.querySelector("ul");
  list.replaceChildren(...(steps ?? []).map(stepLine));
  box.hidden = !steps?.length;
  if (steps?.length) box.dataset.gitlabReach = steps.some((s) => s.result === "finding") ? "finding" : "pass";
  else delete box.dataset.gitlabReach;
}

export async function startInstall(args) {
  const status = $("#install-status");
  const error = $("#install-error");
  const cancel = $("#cancel-install");
  view.reset();
  error.hidden = true;
  showReach([]);
  $("#to-connect").hidden = true;
  $("#install-btn").disabled = true;
  cancel.disabled = false;
  cancel.textContent = "Cancel";
  status.textContent = "Installing: loading or pulling images, creating the containers, waiting for them to become healthy…";
  try {
    const done = await runWithProgress("install", args, view);
    state.exportOnly = false;
    status.textContent = done.changed
      ? `Installed in ${done.elapsed_s.toFixed(1)} s. The AI Gateway answers at ${done.gateway_url}.`
      : `Already installed and healthy: nothing needed changing. The AI Gateway answers at ${done.gateway_url}.`;
    showReach(done.gitlab_reach);
    status.dataset.result = "ok";
    $("#to-connect").hidden = false;
    $("#to-connect").focus();
  } catch (e) {
    status.dataset.result = e?.code ?? "failed";
    status.textContent = e?.code === "cancelled" ? "Cancelled." : "The installation failed.";
    showFailure(error, e);
  } finally {
    view.finish();
    cancel.disabled = true;
    cancel.textContent = "Cancel";
    $("#install-btn").disabled = false;
    document.dispatchEvent(new CustomEvent(INSTALLATION_CHANGED));
  }
}

$("#cancel-install").addEventListener("click", (e) => cancelRunning(e.currentTarget));
$("#to-connect").addEventListener("click", () => showStep("connect"));
