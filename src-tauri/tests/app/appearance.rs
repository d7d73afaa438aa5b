//! The wizard's appearance under the user's settings: the dark theme the system asks for
//! (`prefers-color-scheme`, which WebKitGTK takes from the GTK theme) with readable contrast on every
//! component, and the zoom keys (Ctrl+= / Ctrl+- / Ctrl+0: the webview's zoom, bounded, remembered across
//! launches, declared as `<html data-zoom>`). No engine is needed: Docker is pointed at a socket that does not exist.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aigw_e2e::webdriver::{gui_available, Driver};
use serde_json::Value;
use std::path::{Path, PathBuf};

const APP: &str = env!("CARGO_BIN_EXE_aigw-installer-app");

fn artifacts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/artifacts")
}

/// The app with its own data directory, no Docker engine, and this GTK theme.
async fn launch(tmp: &Path, theme: &str) -> Driver {
    let data = tmp.join("data");
    // A socket path that never exists (not under the temporary directory, so the screenshot shows no
    // machine path).
    let host = "unix:///run/aigw-installer-test/no-engine.sock";
    let d = Driver::launch(
        APP,
        &[
            ("XDG_DATA_HOME", data.to_str().unwrap()),
            ("DOCKER_HOST", host),
            ("GTK_THEME", theme),
        ],
    )
    .await;
    d.wait_text("#welcome-title", |t| t.contains("GitLab Duo"))
        .await;
    d
}

/// Whether the page sees a dark preference, and its background colour.
async fn scheme(d: &Driver) -> (bool, String) {
    let v = d
        .execute_async(
            "const done = arguments[0];
             done(JSON.stringify([matchMedia('(prefers-color-scheme: dark)').matches,
               getComputedStyle(document.documentElement).backgroundColor]));",
        )
        .await;
    serde_json::from_str(v.as_str().unwrap()).unwrap()
}

/// Renders one of each component off to the side of the page and returns those whose text (or, for the
/// progress bar, whose fill against its track) has too little contrast against what is behind it: WCAG's
/// 4.5:1 for text, 3:1 for the bar. Each entry names the component, its colours and the ratio.
async fn low_contrast(d: &Driver) -> Vec<String> {
    let v = d
        .execute_async(
            r#"const done = arguments[0];
             const probe = document.createElement('div');
             probe.className = 'card';
             probe.innerHTML = `
               <p class="error" data-c="error">x</p>
               <div class="error-box"><pre class="error-detail" data-c="error detail">x</pre></div>
               <pre data-c="code block">x</pre>
               <p class="where"><code data-c="inline code">x</code></p>
               <dl class="values"><dd><code data-c="value">x</code></dd></dl>
               <p class="note" data-c="note">x</p>
               <label class="license" data-c="licence box">x</label>
               <div class="confirm"><p data-c="confirmation">x</p></div>
               <p class="hint" data-c="hint">x</p>
               <ul class="findings">
                 <li class="finding ok"><span class="badge" data-c="ok badge">x</span><p class="fix" data-c="fix">x</p></li>
                 <li class="finding warning"><span class="badge" data-c="warning badge">x</span></li>
                 <li class="finding blocker"><span class="badge" data-c="blocker badge">x</span></li>
               </ul>
               <button type="button" data-c="button">x</button>
               <button type="button" class="primary" data-c="primary button">x</button>
               <button type="button" class="danger" data-c="danger button">x</button>
               <input data-c="input" value="x"><select data-c="select"><option>x</option></select>
               <ol class="phases"><li class="phase" data-state="done"><span class="mark" data-c="phase done">x</span></li>
                 <li class="phase" data-state="failed"><span class="mark" data-c="phase failed">x</span></li>
                 <li class="phase" data-state="started"><span class="mark" data-c="phase started">x</span></li></ol>
               <table class="containers"><tr><td class="health healthy" data-c="healthy">x</td>
                 <td class="health unhealthy" data-c="unhealthy">x</td></tr></table>
               <div class="gpu"><div class="bar" data-bar="gpu memory bar"><span style="width: 50%"></span></div></div>`;
             document.body.append(probe);
             const rgb = (s) => { const m = s.match(/[\d.]+/g).map(Number); return { c: m.slice(0, 3), a: m.length > 3 ? m[3] : 1 }; };
             const lum = ([r, g, b]) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
               return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
             const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
             const behind = (e) => { for (let n = e; n; n = n.parentElement) { const b = rgb(getComputedStyle(n).backgroundColor);
               if (b.a > 0) return b.c; } return rgb(getComputedStyle(document.documentElement).backgroundColor).c; };
             const bad = [];
             for (const e of probe.querySelectorAll('[data-c]')) {
               const fg = rgb(getComputedStyle(e).color).c, bg = behind(e), r = ratio(fg, bg);
               if (r < 4.5) bad.push(`${e.dataset.c}: rgb(${fg}) on rgb(${bg}) is ${r.toFixed(2)}:1`);
             }
             for (const e of probe.querySelectorAll('[data-bar]')) {
               const fill = rgb(getComputedStyle(e.firstElementChild).backgroundColor).c, track = behind(e), r = ratio(fill, track);
               if (r < 3) bad.push(`${e.dataset.bar}: fill rgb(${fill}) on track rgb(${track}) is ${r.toFixed(2)}:1`);
             }
             probe.remove();
             done(JSON.stringify(bad));"#,
        )
        .await;
    serde_json::from_str(v.as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn the_dark_theme_follows_the_system_and_every_component_stays_readable() {
    if !gui_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = launch(tmp.path(), "Adwaita:dark").await;
    let (dark, background) = scheme(&d).await;
    assert!(
        dark,
        "GTK_THEME=Adwaita:dark did not reach prefers-color-scheme"
    );
    assert_eq!(background, "rgb(24, 23, 29)", "the dark page background");
    assert_eq!(low_contrast(&d).await, Vec::<String>::new());
    // The System check as a user sees it: findings (blockers without an engine), badges and fixes.
    d.click("#start").await;
    d.wait_text("#check-status", |t| t.contains("blocker"))
        .await;
    // The findings are rendered; the screenshot waits for them to be painted (two animation frames).
    d.execute_async(
        "requestAnimationFrame(() => requestAnimationFrame(() => arguments[0](null)));",
    )
    .await;
    d.screenshot(&artifacts().join("wizard-dark-system-check.png"))
        .await;
    d.quit().await;

    // And the light theme by default, just as readable.
    let d = launch(tmp.path(), "Adwaita").await;
    let (dark, background) = scheme(&d).await;
    assert!(!dark, "GTK_THEME=Adwaita must not ask for the dark theme");
    assert_eq!(
        background, "rgb(250, 250, 250)",
        "the light page background"
    );
    assert_eq!(low_contrast(&d).await, Vec::<String>::new());
    d.quit().await;
}

/// The zoom the page declares, once it declares one.
async fn zoom_is(d: &Driver, want: &str) {
    d.wait_attribute("html", "data-zoom", |v| v == Some(want))
        .await;
}

/// The layout viewport's width in CSS pixels: the window's width divided by the zoom really applied.
async fn css_width(d: &Driver) -> f64 {
    d.execute_async("arguments[0](window.innerWidth);")
        .await
        .as_f64()
        .unwrap()
}

/// Waits until the page lays out at `zoom` (the window is `window_px` wide): the webview's zoom applies
/// after the command returns, so the width is waited for, within a pixel of rounding.
async fn laid_out_at(d: &Driver, window_px: f64, zoom: f64) {
    let want = window_px / zoom;
    d.wait_script("arguments[0](window.innerWidth);", |v: &Value| {
        v.as_f64().is_some_and(|w| (w - want).abs() <= 1.5)
    })
    .await;
}

/// Waits until no app holds the single-instance lock of `data_dir` (a minute at most).
async fn released(data_dir: &Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        match aigw_engine::lock::single_instance(data_dir) {
            Ok(lock) => return drop(lock),
            Err(_) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => panic!("the first app still holds its lock after a minute: {e}"),
        }
    }
}

#[tokio::test]
async fn ctrl_plus_minus_and_zero_zoom_the_page_within_bounds_and_it_is_remembered() {
    if !gui_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = launch(tmp.path(), "Adwaita").await;
    zoom_is(&d, "1").await;
    let window_px = css_width(&d).await;

    d.ctrl("=").await;
    d.ctrl("=").await;
    zoom_is(&d, "1.2").await;
    laid_out_at(&d, window_px, 1.2).await;
    d.ctrl("-").await;
    zoom_is(&d, "1.1").await;
    d.ctrl("0").await;
    zoom_is(&d, "1").await;
    laid_out_at(&d, window_px, 1.0).await;
    // Bounded: ten steps down stop at half size.
    for _ in 0..10 {
        d.ctrl("-").await;
    }
    zoom_is(&d, "0.5").await;
    laid_out_at(&d, window_px, 0.5).await;
    d.ctrl("=").await;
    d.ctrl("=").await;
    zoom_is(&d, "0.7").await;
    // The keyboard still moves through the page's controls at this zoom: Tab from the steps' list reaches
    // the next step's button.
    d.execute_async(
        "document.querySelector(\"[data-step='welcome']\").focus(); arguments[0](null);",
    )
    .await;
    d.press("\u{E004}").await;
    let focused = d
        .execute_async("arguments[0](document.activeElement?.dataset.step ?? null);")
        .await;
    assert_eq!(focused.as_str(), Some("check"), "Tab after the first step");
    d.quit().await;

    // The next launch starts at the zoom the last one left.
    let saved = tmp.path().join("data/aigw-installer/wizard-zoom");
    assert_eq!(std::fs::read_to_string(&saved).unwrap().trim(), "0.7");
    // The app is single-instance: the next launch waits for the first to release its lock (the kernel
    // does when the process ends), or it would be turned away as a second instance.
    released(&tmp.path().join("data/aigw-installer")).await;
    let d = launch(tmp.path(), "Adwaita").await;
    zoom_is(&d, "0.7").await;
    laid_out_at(&d, window_px, 0.7).await;
    d.quit().await;
}
