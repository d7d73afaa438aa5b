// Step 7: the GitLab-side settings for the installed (or only reviewed) spec, with copy buttons, the
// model registration values, and the export zip through a save dialog.
import { $, el, invoke, showError, clearErrors, choosePath, copyButton } from "./lib.js";
import { state, onShow } from "./nav.js";
import { ready as optionsReady } from "./options.js";

let current = null; // the spec TOML when exporting without installing; null: the installed spec

function specToml(st) {
  return st.exportOnly && st.review ? st.review.spec_toml : null;
}

async function showConnect(st, installType) {
  const summary = $("#connect-summary");
  const err = $("#connect-error");
  clearErrors(err);
  current = specToml(st);
  try {
    const info = await invoke("connect_info", { specToml: current, installTypeChoice: installType ?? null });
    await optionsReady; // the list holds the install types before one is chosen
    $("#connect-install-type").value = info.install_type;
    summary.textContent = `GitLab ${info.gitlab_version} at ${info.gitlab_url}, installed as: ${info.install_label}. `
      + `The AI Gateway is ${info.gateway_url}. Settings from ${info.spec_origin}.`;
    const reg = $("#registration");
    reg.replaceChildren();
    const r = info.registration;
    for (const [label, value] of [["Deployment name", r.name], ["Model family", r.family], ["Endpoint", r.endpoint],
      ["Model identifier", r.identifier], ["Features", r.features.join(", ")]]) {
      reg.append(el("dt", {}, label), el("dd", {}, el("code", {}, value), copyButton(value, label)));
    }
    const box = $("#snippets");
    box.replaceChildren();
    info.snippets.forEach((s, i) => {
      const id = `snippet-${i}`;
      box.append(el("section", { class: "snippet", "aria-labelledby": `${id}-title`, "data-path": s.path },
        el("h3", { id: `${id}-title` }, `${i + 1}. ${s.title}`),
        el("p", { class: "hint" }, `In the export: ${s.path}`),
        el("pre", { id, class: `kind-${s.kind}` }, s.body),
        el("div", { class: "actions" }, copyButton(s.body, s.title))));
    });
    if (!$("#export-path").value) $("#export-path").placeholder = "/home/you/aigw-export.zip";
  } catch (e) {
    summary.textContent = "";
    showError(err, e);
  }
}

async function exportZip() {
  const input = $("#export-path");
  const err = $("#export-error");
  clearErrors(err, input.parentElement);
  $("#export-result").textContent = "";
  const path = input.value.trim();
  try {
    const out = await invoke("export_zip", {
      args: {
        specToml: current ?? "", path, overwrite: input.dataset.chosen === path,
        installType: $("#connect-install-type").value,
      },
    });
    $("#export-result").textContent = `Wrote ${out.path}: ${out.files.length} files (no secrets). Start with README.md inside.`;
  } catch (e) {
    showError(err, e, { "export.path": "#export-path" });
  }
}

$("#export-choose").addEventListener("click", async () => {
  const path = await choosePath("save", "aigw-export.zip").catch(() => null);
  if (path) {
    $("#export-path").value = path;
    $("#export-path").dataset.chosen = path; // the dialog already asked before replacing
  }
});
onShow("connect", () => showConnect(state));
$("#export-btn").addEventListener("click", exportZip);
$("#connect-install-type").addEventListener("change", (e) =>
  showConnect({ exportOnly: current !== null, review: { spec_toml: current } }, e.target.value));
