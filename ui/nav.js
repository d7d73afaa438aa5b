// Navigation and the state the steps share. Steps register what runs when they are shown (`onShow`), so
// this module imports none of them and no import leads back here.
import { $ } from "./lib.js";

export const state = { report: null, review: null };

/// Sent on `document` when an install ended (done, failed or cancelled): what runs may have changed.
export const INSTALLATION_CHANGED = "aigw:installation-changed";

const shown = new Map();

/// `fn` runs each time step `name` is shown.
export function onShow(name, fn) {
  shown.set(name, fn);
}

export function showStep(name) {
  for (const s of document.querySelectorAll(".step")) s.hidden = s.id !== `step-${name}`;
  for (const b of document.querySelectorAll("[data-step]")) {
    if (b.dataset.step === name) b.setAttribute("aria-current", "step");
    else b.removeAttribute("aria-current");
  }
  $("#content").focus();
  shown.get(name)?.();
}

for (const b of document.querySelectorAll("[data-step]")) b.addEventListener("click", () => showStep(b.dataset.step));
