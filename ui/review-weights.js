// Review's weights section: the line install acts on ("download ≈ 47.8 GB from … to …"), the files with
// their sizes, or why the Hub's list could not be read. The section declares what it shows in
// data-state (listed, cached, unreachable, refused, local, none) for assistive tech and the tests.
import { $, el } from "./lib.js";

// Decimal units with one decimal, as the CLI and the engine write them.
export function humanBytes(n) {
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  return `${n} bytes`;
}

export function showWeights(w) {
  const box = $("#review-weights");
  const files = w && Array.isArray(w.files) ? w.files : [];
  $("#review-weights-summary").textContent = w ? w.summary : "";
  $("#review-weights-files").replaceChildren(
    ...files.map((f) => el("li", {}, el("code", {}, f.name), ` ${humanBytes(f.size)}`)));
  let note = "";
  if (w && (w.state === "unreachable" || w.state === "refused") && w.fix) note = `To fix: ${w.fix}`;
  else if (w && w.state === "listed") note = `Still to download: ${humanBytes(w.needed)} of ${humanBytes(w.total)}.`;
  else if (w && w.state === "local" && w.size_note) note = w.size_note;
  $("#review-weights-note").textContent = note;
  $("#review-weights-note").hidden = !note;
  $("#review-weights-summary").classList.toggle("error", Boolean(w) && (w.state === "unreachable" || w.state === "refused"));
  box.hidden = !w;
  box.dataset.state = w ? w.state : "none";
}
