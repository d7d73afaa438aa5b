// Step 6: the install as it happens, from the engine's event channel. Cancel asks the engine to stop;
// it then rolls back what this run changed and the result says so.
import { $, el, invoke, Channel, errorText } from "./lib.js";
import { progressView } from "./progress.js";
import { state, showStep } from "./app.js";
import { refreshInstalled } from "./manage.js";

const view = progressView($("#install-progress"));

/// Runs a long operation (`install` or `upgrade`) with its events sent to `progress`. Settles only
/// after the channel's end marker too, so no event is rendered after the caller marks the view finished.
export async function runWithProgress(command, args, progress) {
  const channel = new Channel();
  let ended;
  const end = new Promise((resolve) => { ended = resolve; });
  channel.onmessage = (msg) => (msg.end ? ended() : progress.handle(msg));
  let result;
  try {
    result = await invoke(command, { ...args, onEvent: channel });
  } catch (e) {
    // A command that ran answers `{code, …}` and has sent its end marker; a call refused before it ran
    // (its arguments did not deserialize) answers a bare string and sends nothing more.
    if (e?.code) await end;
    throw e;
  }
  await end;
  return result;
}

/// Shows a failure: the message, then its detail (the engine's log lines and the rollback result).
export function showFailure(box, e) {
  const [first, ...rest] = (e?.message ?? String(e)).split("\n");
  box.replaceChildren(el("p", { class: "error-title" }, first));
  if (rest.length) box.append(el("pre", { class: "error-detail" }, rest.join("\n")));
  if (e?.fix) box.append(el("p", { class: "fix" }, `What to do: ${e.fix}`));
  box.hidden = false;
}

export async function startInstall(args) {
  const status = $("#install-status");
  const error = $("#install-error");
  const cancel = $("#cancel-install");
  view.reset();
  error.hidden = true;
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
    refreshInstalled();
  }
}

async function cancelRunning(button) {
  button.disabled = true;
  button.textContent = "Cancelling…";
  try {
    await invoke("cancel");
  } catch (e) {
    button.textContent = errorText(e);
  }
}

$("#cancel-install").addEventListener("click", (e) => cancelRunning(e.currentTarget));
$("#cancel-upgrade").addEventListener("click", (e) => cancelRunning(e.currentTarget));
$("#to-connect").addEventListener("click", () => showStep("connect"));
