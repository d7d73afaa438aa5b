// Welcome's engine chooser (issue 14): the engines found (this machine, DOCKER_HOST, each Docker context) or an
// SSH host typed in; "Test" shows the engine's facts or its real error and fix; "Use this engine" makes it the
// one every later step acts on, remembered for the next start. The engine decides everything; this shows it.
// Declared states for tests: #engine-list[data-ready], #engine-result[data-state=testing|pass|fail],
// body[data-engine=<endpoint in use>].
import { $, el, invoke, errorText } from "./lib.js";
import { state } from "./nav.js";
import { refreshInstalled } from "./manage.js";

let listed = [];

function render(list) {
  listed = list.engines;
  document.body.dataset.engine = list.in_use;
  $("#docker-endpoint").textContent = list.in_use;
  $("#engine-origin").textContent = `(${list.origin})`;
  const box = $("#engine-list");
  box.replaceChildren();
  list.engines.forEach((e, i) => {
    const radio = el("input", { type: "radio", name: "engine", id: `engine-${i}`, value: String(i) });
    radio.checked = e.in_use;
    radio.addEventListener("change", () => { $("#engine-host").value = ""; });
    const label = el("label", { for: `engine-${i}` },
      el("strong", {}, e.name), " ", el("code", {}, e.endpoint), " ", el("span", { class: "hint" }, e.origin));
    box.append(el("div", { class: "engine", "data-endpoint": e.endpoint, "data-in-use": String(e.in_use) }, radio, label));
  });
  box.dataset.ready = "true";
}

/// The host typed in, else the checked row's choice.
function selected() {
  const host = $("#engine-host").value.trim();
  if (host) return { host };
  const checked = $("#engine-list input:checked");
  return checked ? listed[Number(checked.value)].choice : {};
}

function clearError() {
  const box = $("#engine-error");
  box.hidden = true;
  box.textContent = "";
  $("#engine-host").removeAttribute("aria-invalid");
}

/// A refused host goes on its field; every other error into the result, with its fix.
function showFailure(e) {
  const result = $("#engine-result");
  if (e?.field === "engine.host") {
    const box = $("#engine-error");
    box.textContent = errorText(e);
    box.hidden = false;
    const input = $("#engine-host");
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", "engine-host-hint engine-error");
    input.focus();
  }
  result.replaceChildren(el("p", { class: "msg" }, e?.message ?? String(e)));
  if (e?.fix) result.append(el("p", { class: "fix" }, `Fix: ${e.fix}`));
  result.dataset.state = "fail";
}

function describe(t) {
  const f = t.facts;
  const os = f.operating_system ? `${f.operating_system}, ` : "";
  const gpus = f.cdi_devices?.length
    ? `GPUs: ${f.cdi_devices.join(", ")}`
    : f.nvidia_runtime ? "GPUs: the NVIDIA runtime is installed" : "no NVIDIA runtime: GPUs cannot be given to containers";
  return [
    `${t.endpoint} answers${t.local ? " (this machine)" : " (another machine)"}.`,
    `Docker ${f.server_version} (API ${f.negotiated_api_version}) on ${os}${f.os_type}/${f.architecture}`
      + (f.ncpu ? `, ${f.ncpu} CPUs` : "") + (f.mem_total_mib ? `, ${(f.mem_total_mib / 1024).toFixed(1)} GiB` : "") + ".",
    `${gpus}.`,
  ];
}

async function test() {
  clearError();
  const result = $("#engine-result");
  result.dataset.state = "testing";
  result.textContent = "Testing…";
  $("#engine-test").disabled = true;
  try {
    const t = await invoke("test_engine", { choice: selected() });
    result.replaceChildren(...describe(t).map((line) => el("p", {}, line)));
    result.dataset.state = "pass";
  } catch (e) {
    showFailure(e);
  } finally {
    $("#engine-test").disabled = false;
  }
}

async function use() {
  clearError();
  try {
    render(await invoke("use_engine", { choice: selected() }));
    $("#engine-host").value = "";
    // Every later step reads the new engine: the system check runs again.
    state.report = null;
    $("#engines-note").hidden = true;
    refreshInstalled();
  } catch (e) {
    showFailure(e);
  }
}

/// Startup: the list, and whether a remembered engine still answers (if not, Welcome says so).
export async function loadEngines() {
  const list = await invoke("engines");
  render(list);
  if (!list.remembered) return;
  try {
    await invoke("test_engine", { choice: list.choice });
  } catch (e) {
    const note = $("#engines-note");
    note.textContent = `The engine you chose last time, ${list.in_use}, does not answer: ${errorText(e)}. Choose another below.`;
    note.hidden = false;
  }
}

$("#engine-test").addEventListener("click", test);
$("#engine-use").addEventListener("click", use);
$("#engine-host").addEventListener("input", () => {
  for (const r of $("#engine-list").querySelectorAll("input:checked")) r.checked = false;
});
if (invoke) loadEngines();
