// The page's lists (install types, precisions, tensor-parallel sizes, log components) are the core's
// own, from the `options` command. Each list declares it was filled with `data-ready="true"`; a list's
// static "recommended" choice stays first, and the engine names the default install type.
import { $, el, invoke } from "./lib.js";

const LISTS = ["#c-install-type", "#connect-install-type", "#m-precision", "#m-tp", "#logs-component"];

function fill(select, choices, selected) {
  select.append(...choices.map((c) => el("option", { value: c.value }, c.label)));
  if (selected !== undefined) select.value = selected;
  select.dataset.ready = "true";
}

/// Settles once every list is filled (at once outside the app, where there is no engine to ask).
export const ready = (async () => {
  if (!invoke) return;
  try {
    const o = await invoke("options");
    fill($("#c-install-type"), o.install_types, o.install_type_default);
    fill($("#connect-install-type"), o.install_types, o.install_type_default);
    fill($("#m-precision"), o.precisions);
    fill($("#m-tp"), o.tensor_parallel_sizes);
    fill($("#logs-component"), o.log_components);
  } catch (e) {
    // Not expected (the command cannot fail); the lists say so rather than look still loading.
    console.error("the option lists could not be read", e);
    for (const sel of LISTS) $(sel).dataset.ready = "failed";
  }
})();
