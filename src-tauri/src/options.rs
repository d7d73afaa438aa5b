//! The choices the page's lists offer, from the core's own types: a new install type or precision shows up
//! in the wizard without touching the page.

use aigw_core::catalog::Precision;
use aigw_core::gitlab::config::InstallType;
use aigw_core::plan::Component;
use aigw_core::sizing::TP_SIZES;
use serde::Serialize;

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Choice {
    /// What the page sends back (the commands parse it with the type's own `FromStr`).
    pub value: String,
    pub label: String,
}

#[derive(Debug, Serialize)]
pub struct Options {
    pub install_types: Vec<Choice>,
    pub install_type_default: String,
    /// Overrides: the page keeps its own empty "recommended" choice first.
    pub precisions: Vec<Choice>,
    pub tensor_parallel_sizes: Vec<Choice>,
    pub log_components: Vec<Choice>,
}

fn choice(value: impl ToString, label: impl Into<String>) -> Choice {
    Choice {
        value: value.to_string(),
        label: label.into(),
    }
}

/// The install types' labels are written to sit mid-sentence ("self-compiled (source)"); a list item
/// starts with a capital. (Precisions keep their case: "bf16".)
fn list_item(label: &str) -> String {
    let mut chars = label.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

#[tauri::command]
pub fn options() -> Options {
    Options {
        install_types: InstallType::ALL
            .iter()
            .map(|t| choice(t.as_str(), list_item(t.label())))
            .collect(),
        install_type_default: InstallType::default().as_str().to_string(),
        precisions: Precision::OVERRIDES
            .iter()
            .map(|p| choice(p.as_str(), p.label()))
            .collect(),
        tensor_parallel_sizes: TP_SIZES.iter().map(|t| choice(t, t.to_string())).collect(),
        log_components: Component::ALL
            .iter()
            .map(|c| choice(c.label(), c.title()))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_parses_back_into_its_type() {
        let o = options();
        for c in &o.install_types {
            assert!(c.value.parse::<InstallType>().is_ok(), "{}", c.value);
        }
        assert!(o
            .install_types
            .iter()
            .any(|c| c.value == o.install_type_default));
        for c in &o.precisions {
            assert!(c.value.parse::<Precision>().is_ok(), "{}", c.value);
        }
        for c in &o.tensor_parallel_sizes {
            assert!(c.value.parse::<u32>().is_ok(), "{}", c.value);
        }
        // `logs` takes the component as serde reads it.
        for c in &o.log_components {
            let v = serde_json::Value::String(c.value.clone());
            assert!(
                serde_json::from_value::<Component>(v).is_ok(),
                "{}",
                c.value
            );
        }
    }

    #[test]
    fn labels_read_as_list_items() {
        assert_eq!(
            list_item("self-compiled (source)"),
            "Self-compiled (source)"
        );
        assert_eq!(list_item("FP8"), "FP8");
        assert_eq!(list_item(""), "");
    }
}
