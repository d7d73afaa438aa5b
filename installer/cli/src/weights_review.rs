//! The weights block `plan` prints: Review's line, the files with their sizes, and what is still needed
//! or why the list could not be read.

use aigw_core::weights::human_bytes;
use aigw_engine::usecase::WeightsReview;

/// The block's lines, without colour (the caller styles the heading).
pub fn lines(w: &WeightsReview) -> Vec<String> {
    let mut out = vec![format!("  {}", w.summary())];
    let width = w.files().iter().map(|f| f.name.len()).max().unwrap_or(0);
    for f in w.files() {
        out.push(format!(
            "    {:<width$}  {:>10}",
            f.name,
            human_bytes(f.size)
        ));
    }
    match w {
        WeightsReview::Listed { total, needed, .. } => out.push(format!(
            "  still needed: {} of {}",
            human_bytes(*needed),
            human_bytes(*total)
        )),
        WeightsReview::Cached { total, .. } => out.push(format!(
            "  still needed: nothing of {}",
            human_bytes(*total)
        )),
        WeightsReview::Unreachable { problem, .. } | WeightsReview::Refused { problem, .. } => {
            if let Some(fix) = &problem.fix {
                out.push(format!("  fix: {fix}"));
            }
        }
        WeightsReview::Local { size_note, .. } => {
            if let Some(note) = size_note {
                out.push(format!("  note: {note}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use aigw_engine::usecase::{NotListed, ReviewFile};

    #[test]
    fn the_block_lists_files_with_sizes_then_what_is_needed() {
        let w = WeightsReview::Listed {
            summary: "download ≈ 48.0 GB from huggingface.co to /srv/hf".into(),
            commit: "c".repeat(40),
            files: vec![
                ReviewFile {
                    name: "config.json".into(),
                    size: 601,
                },
                ReviewFile {
                    name: "consolidated.safetensors".into(),
                    size: 48_000_000_000,
                },
            ],
            total: 48_000_000_601,
            needed: 48_000_000_601,
        };
        assert_eq!(
            lines(&w),
            [
                "  download ≈ 48.0 GB from huggingface.co to /srv/hf",
                "    config.json                601 bytes",
                "    consolidated.safetensors     48.0 GB",
                "  still needed: 48.0 GB of 48.0 GB",
            ]
        );
        let u = WeightsReview::Unreachable {
            summary: "the file list could not be read from huggingface.co: refused".into(),
            problem: NotListed {
                code: "net_refused".into(),
                reason: "refused".into(),
                fix: Some("set HTTPS_PROXY".into()),
            },
        };
        assert_eq!(lines(&u)[1], "  fix: set HTTPS_PROXY");
    }
}
