//! Renders the engine's event stream: a bar per image layer (bytes), ticks for phases, a spinner for
//! health waits, and the loading server's log lines.

use aigw_engine::docker::events::{Event, PhaseState, WeightsFileState};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::time::Duration;

use crate::render::{severity_style, DIM};
use aigw_core::preflight::Severity;

pub struct Renderer {
    multi: MultiProgress,
    layers: HashMap<String, ProgressBar>,
    transfers: HashMap<String, ProgressBar>,
    /// The weights phase: the total, then one bar per file under way.
    weights: Option<ProgressBar>,
    weight_files: HashMap<String, ProgressBar>,
    waiting: Option<ProgressBar>,
}

impl Renderer {
    pub fn new() -> Self {
        let multi = MultiProgress::new();
        if crate::render::quiet() || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            multi.set_draw_target(ProgressDrawTarget::hidden());
        }
        Self {
            multi,
            layers: HashMap::new(),
            transfers: HashMap::new(),
            weights: None,
            weight_files: HashMap::new(),
            waiting: None,
        }
    }

    fn line(&self, text: String) {
        if crate::render::quiet() {
            return;
        }
        // Printed above the bars; plain lines when there are none (piped output).
        if self.multi.is_hidden() {
            anstream::eprintln!("{text}");
        } else {
            let _ = self.multi.println(text);
        }
    }

    pub fn handle(&mut self, e: Event) {
        match e {
            Event::Plan { steps } => {
                for s in steps {
                    self.line(format!("  plan: {s}"));
                }
            }
            Event::Phase { phase, state } => {
                if let Some(w) = self.waiting.take() {
                    w.finish_and_clear();
                }
                let (sev, mark) = match state {
                    PhaseState::Started => return self.line(format!("{DIM}…{DIM:#} {phase}")),
                    PhaseState::Done => (Severity::Ok, "done"),
                    PhaseState::Failed => (Severity::Blocker, "FAILED"),
                };
                let st = severity_style(sev);
                self.line(format!("{st}{mark}{st:#} {phase}"));
            }
            Event::Layer {
                layer,
                status,
                current,
                total,
                image,
            } => {
                if layer.is_empty() {
                    return;
                }
                let bar = self.layers.entry(layer.clone()).or_insert_with(|| {
                    let b = self.multi.add(ProgressBar::new(total.max(1)));
                    b.set_style(
                        ProgressStyle::with_template(
                            "  {prefix} {bar:30} {bytes}/{total_bytes} {msg}",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    b.set_prefix(format!("{image} {}", &layer[..layer.len().min(12)]));
                    b
                });
                if total > 0 {
                    bar.set_length(total);
                    bar.set_position(current);
                }
                bar.set_message(status.clone());
                if status.contains("complete") || status.contains("Already exists") {
                    bar.finish();
                }
            }
            Event::Transfer {
                what,
                current,
                total,
            } => {
                let bar = self.transfers.entry(what.clone()).or_insert_with(|| {
                    let b = self.multi.add(ProgressBar::new(total.unwrap_or(0)));
                    let template = if total.is_some() {
                        "  {msg} {bar:30} {bytes}/{total_bytes} ({bytes_per_sec})"
                    } else {
                        "  {msg} {bytes} ({bytes_per_sec})"
                    };
                    b.set_style(
                        ProgressStyle::with_template(template)
                            .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    b.set_message(what);
                    b
                });
                bar.set_position(current);
            }
            Event::Health {
                component,
                waited_s,
                status,
            } => {
                let w = self.waiting.get_or_insert_with(|| {
                    let s = self.multi.add(ProgressBar::new_spinner());
                    s.enable_steady_tick(Duration::from_millis(120));
                    s
                });
                w.set_message(format!(
                    "waiting for the {component}: {waited_s} s ({status})"
                ));
            }
            Event::Log { component, line } => {
                self.line(format!("{DIM}  {component} | {line}{DIM:#}"))
            }
            Event::Warning { message } => {
                let st = severity_style(Severity::Warning);
                self.line(format!("{st}warning:{st:#} {message}"));
            }
            Event::Weights {
                current,
                total,
                bytes_per_sec,
                eta_s,
            } => {
                let bar = self.weights.get_or_insert_with(|| {
                    let b = self.multi.insert(0, ProgressBar::new(total));
                    b.set_style(style("  weights {bar:30} {bytes}/{total_bytes} {msg}"));
                    b
                });
                bar.set_length(total);
                bar.set_position(current);
                let eta = eta_s.map_or(String::new(), |s| {
                    format!(", {}:{:02} left", s / 60, s % 60)
                });
                bar.set_message(format!("{}/s{eta}", indicatif::HumanBytes(bytes_per_sec)));
            }
            Event::WeightsFile {
                file,
                current,
                total,
                state,
            } => {
                if state == WeightsFileState::Done {
                    if let Some(b) = self.weight_files.remove(&file) {
                        b.finish_and_clear();
                    }
                    return;
                }
                let bar = self.weight_files.entry(file.clone()).or_insert_with(|| {
                    let b = self.multi.add(ProgressBar::new(total));
                    b.set_style(style(
                        "    {msg} {bar:24} {bytes}/{total_bytes} ({bytes_per_sec})",
                    ));
                    b.set_message(file);
                    b
                });
                bar.set_position(current);
            }
        }
    }

    pub fn finish(&mut self) {
        if let Some(w) = self.waiting.take() {
            w.finish_and_clear();
        }
        for b in self
            .layers
            .values()
            .chain(self.transfers.values())
            .chain(self.weight_files.values())
            .chain(self.weights.iter())
        {
            b.finish_and_clear();
        }
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}
