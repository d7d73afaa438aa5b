// The page's zoom: Ctrl+= (or Ctrl++) and Ctrl+- step it by 10 %, Ctrl+0 resets it. The app applies it as the
// webview's own zoom, keeps it within its bounds and remembers it across launches (the `zoom` command);
// the page declares what is applied as `<html data-zoom="1.1">`.
import { invoke } from "./lib.js";

const STEP = 0.1;

function current() {
  return Number(document.documentElement.dataset.zoom) || 1;
}

// One change at a time, each from the zoom the previous one applied (keys pressed quickly add up).
let queue = Promise.resolve();
function apply(next) {
  if (!invoke) return;
  queue = queue.then(async () => {
    try {
      const factor = next?.(current());
      const applied = await invoke("zoom", factor === undefined ? {} : { factor });
      document.documentElement.dataset.zoom = String(applied);
    } catch (e) {
      console.warn("zoom:", e);
    }
  });
}

document.addEventListener("keydown", (e) => {
  if (!(e.ctrlKey || e.metaKey) || e.altKey) return;
  let next;
  if (e.key === "=" || e.key === "+") next = (z) => z + STEP;
  else if (e.key === "-" || e.key === "_") next = (z) => z - STEP;
  else if (e.key === "0") next = () => 1;
  else return;
  e.preventDefault();
  apply(next);
});

// The zoom remembered from the last launch.
apply(null);
