// Small helpers shared by the steps. No decisions here: every fact comes from the engine.
export const invoke = window.__TAURI__?.core?.invoke;
export const Channel = window.__TAURI__?.core?.Channel;

export const $ = (sel, root = document) => root.querySelector(sel);

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) node.append(c);
  return node;
}

/// `{code, message, fix}` from a command, as one line.
export function errorText(e) {
  if (e?.message) return e.fix ? `${e.message} — ${e.fix}` : e.message;
  return String(e);
}

/// Shows an error in `box` and marks the input of the field at fault, if the page has one.
export function showError(box, e, fields = {}) {
  const input = e?.field && fields[e.field] ? $(fields[e.field]) : null;
  if (input) {
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", box.id);
    input.focus();
  }
  box.textContent = errorText(e);
  box.hidden = false;
}

export function clearErrors(box, form) {
  box.hidden = true;
  box.textContent = "";
  if (form) for (const i of form.querySelectorAll("[aria-invalid]")) i.removeAttribute("aria-invalid");
}

/// The native dialogs (tauri-plugin-dialog), called through IPC: no npm package is needed.
export async function choosePath(kind, defaultName) {
  if (kind === "save") {
    return invoke("plugin:dialog|save", {
      options: { title: "Save the export", defaultPath: defaultName, filters: [{ name: "Zip", extensions: ["zip"] }] },
    });
  }
  const options = kind === "folder"
    ? { title: "Choose the weights folder", directory: true }
    : { title: "Choose the image bundle", filters: [{ name: "Image bundle", extensions: ["tar"] }] };
  return invoke("plugin:dialog|open", { options });
}

/// Copies `text`; WebKitGTK may refuse the async clipboard, then the selection fallback is used.
export async function copyText(text, button) {
  let ok = false;
  try {
    await navigator.clipboard.writeText(text);
    ok = true;
  } catch {
    const area = el("textarea", { "aria-hidden": "true", class: "offscreen" });
    area.value = text;
    document.body.append(area);
    area.select();
    ok = document.execCommand("copy");
    area.remove();
  }
  const label = button.textContent;
  button.textContent = ok ? "Copied" : "Copy failed: select the text";
  setTimeout(() => { button.textContent = label; }, 2000);
}

export function copyButton(text, what) {
  const b = el("button", { type: "button", class: "copy", "aria-label": `Copy ${what}` }, "Copy");
  b.addEventListener("click", () => copyText(text, b));
  return b;
}
