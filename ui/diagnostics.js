// What every failure offers: "Save diagnostics" (a redacted zip from the engine's diagnose, written to
// the data directory) and "Open log folder" (the installer's logs, opened by the desktop). The result is
// declared on the actions' element: data-diagnostics ("saving", "saved", "failed") with data-path, and
// data-log-folder (the folder opened, or "failed").
import { el, invoke, errorText } from "./lib.js";

export function diagnosticsActions() {
  const save = el("button", { type: "button", class: "save-diagnostics" }, "Save diagnostics");
  const open = el("button", { type: "button", class: "open-log-folder" }, "Open log folder");
  const outcome = el("p", { class: "diag-outcome", role: "status" });
  const box = el("div", { class: "actions diagnostics" }, save, open, outcome);
  save.addEventListener("click", async () => {
    save.disabled = true;
    box.dataset.diagnostics = "saving";
    outcome.textContent = "Collecting diagnostics…";
    try {
      const done = await invoke("save_diagnostics", { path: null });
      box.dataset.path = done.path;
      outcome.textContent = `Saved ${done.files} files, secrets redacted, to ${done.path}`
        + (done.engine_reachable ? "." : " (the Docker engine could not be reached; the bundle says so).");
      box.dataset.diagnostics = "saved";
    } catch (e) {
      outcome.textContent = `Diagnostics could not be saved: ${errorText(e)}`;
      box.dataset.diagnostics = "failed";
    } finally {
      save.disabled = false;
    }
  });
  open.addEventListener("click", async () => {
    try {
      box.dataset.logFolder = await invoke("open_log_folder");
    } catch (e) {
      outcome.textContent = errorText(e);
      box.dataset.logFolder = "failed";
    }
  });
  return box;
}
