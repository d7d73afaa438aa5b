// Long operations (install, upgrade) as the page shows them: the channel plumbing, the engine's event
// stream (docker::events::Event) as phases with ticks, a bar per image layer or transfer with bytes, the
// weights phase (a total bar with rate and time left, one bar per file under way), the
// health wait and the loading server's log tail, Cancel, and a failure with its detail.
import { $, el, invoke, Channel, errorText } from "./lib.js";
import { diagnosticsActions } from "./diagnostics.js";

const MIB = 1024 * 1024;
const LOG_LINES = 300;

const bytes = (n) => `${(n / MIB).toFixed(1)} MiB`;

export function progressView(root) {
  const phases = $(".phases", root);
  const transfers = $(".transfers", root);
  const log = $(".log", root);
  const byPhase = new Map();
  const bars = new Map();
  let health = null;
  let lines = [];

  function bar(key, label) {
    let b = bars.get(key);
    if (!b) {
      const p = el("progress", { max: "1", value: "0", "aria-label": label });
      const text = el("span", { class: "bar-text" }, label);
      b = { p, text, row: el("div", { class: "transfer" }, text, p) };
      transfers.append(b.row);
      bars.set(key, b);
    }
    return b;
  }

  function phase(name, state) {
    let li = byPhase.get(name);
    if (!li) {
      li = el("li", { class: "phase" }, el("span", { class: "mark", "aria-hidden": "true" }), el("span", {}, name));
      phases.append(li);
      byPhase.set(name, li);
    }
    li.dataset.state = state;
    li.firstChild.textContent = { done: "✓", failed: "✗", stopped: "–" }[state] ?? "…";
    li.setAttribute("aria-label", `${name}: ${state === "started" ? "in progress" : state}`);
  }

  return {
    reset() {
      phases.replaceChildren();
      transfers.replaceChildren();
      log.textContent = "";
      byPhase.clear();
      bars.clear();
      health = null;
      lines = [];
    },
    /// The operation ended: phases still in progress were stopped (by a failure or Cancel).
    finish() {
      if (health) { health.remove(); health = null; }
      for (const [name, li] of byPhase) if (li.dataset.state === "started") phase(name, "stopped");
    },
    handle(ev) {
      switch (ev.event) {
        case "plan":
          phase(`Plan: ${ev.steps.length} step(s)`, "done");
          break;
        case "phase":
          if (health) { health.remove(); health = null; }
          phase(ev.phase, ev.state);
          break;
        case "layer": {
          if (!ev.layer) break;
          const b = bar(`${ev.image} ${ev.layer}`, ev.image);
          b.p.max = Math.max(ev.total, 1);
          b.p.value = ev.total ? ev.current : 0;
          b.text.textContent = `${ev.image} ${ev.layer.slice(0, 12)}: ${ev.status}`
            + (ev.total ? ` ${bytes(ev.current)} of ${bytes(ev.total)}` : "");
          break;
        }
        case "transfer": {
          const b = bar(`transfer ${ev.what}`, ev.what);
          if (ev.total) { b.p.max = ev.total; b.p.value = ev.current; } else b.p.removeAttribute("value");
          b.text.textContent = `${ev.what}: ${bytes(ev.current)}${ev.total ? ` of ${bytes(ev.total)}` : ""}`;
          break;
        }
        case "weights": {
          const b = bar("weights", "Model weights");
          b.p.max = Math.max(ev.total, 1);
          b.p.value = ev.current;
          const rate = ev.bytes_per_sec ? `, ${bytes(ev.bytes_per_sec)}/s` : "";
          const eta = ev.eta_s != null && ev.current < ev.total ? `, ${Math.floor(ev.eta_s / 60)} min ${ev.eta_s % 60} s left` : "";
          b.text.textContent = `Model weights: ${bytes(ev.current)} of ${bytes(ev.total)}${rate}${eta}`;
          b.row.dataset.weights = ev.current >= ev.total ? "done" : "fetching";
          break;
        }
        case "weights_file": {
          const key = `weights ${ev.file}`;
          if (ev.state === "done") {
            bars.get(key)?.row.remove();
            bars.delete(key);
            break;
          }
          const b = bar(key, ev.file);
          b.p.max = Math.max(ev.total, 1);
          b.p.value = ev.current;
          b.text.textContent = `${ev.file}: ${bytes(ev.current)} of ${bytes(ev.total)}${ev.state === "verifying" ? " (verifying)" : ""}`;
          break;
        }
        case "health":
          if (!health) { health = el("li", { class: "phase waiting" }); phases.append(health); }
          health.textContent = `Waiting for the ${ev.component === "model" ? "model server" : "gateway"} to become healthy: ${ev.waited_s} s (${ev.status})`;
          break;
        case "log":
          lines.push(ev.line);
          if (lines.length > LOG_LINES) lines = lines.slice(-LOG_LINES);
          log.textContent = lines.join("\n");
          log.scrollTop = log.scrollHeight;
          break;
        case "warning":
          phases.append(el("li", { class: "phase warning" }, `Warning: ${ev.message}`));
          break;
        default:
          break;
      }
    },
  };
}

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

/// Asks the engine to stop the running operation; it rolls back, and the operation's result says so.
export async function cancelRunning(button) {
  button.disabled = true;
  button.textContent = "Cancelling…";
  try {
    await invoke("cancel");
  } catch (e) {
    button.textContent = errorText(e);
  }
}

/// Shows a failure: the message, then its detail (the engine's log lines and the rollback result), and
/// what helps find out more (Save diagnostics, Open log folder).
export function showFailure(box, e) {
  const [first, ...rest] = (e?.message ?? String(e)).split("\n");
  box.replaceChildren(el("p", { class: "error-title" }, first));
  if (rest.length) box.append(el("pre", { class: "error-detail" }, rest.join("\n")));
  if (e?.fix) box.append(el("p", { class: "fix" }, `What to do: ${e.fix}`));
  box.append(diagnosticsActions());
  box.hidden = false;
}
