//! Properties of the diagnostics redaction (proptest): a planted secret never survives, whatever text
//! surrounds it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aigw_core::diagnose::Redactor;
use proptest::prelude::*;

/// Surrounding text: lowercase words, punctuation, quotes, newlines and non-ASCII — never the
/// uppercase letters and digits the planted secrets are made of.
fn filler() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-z ,.:;=\"'{}\\[\\]()/@\\n\\té€→-]{0,40}").unwrap()
}

/// Filler that assigns nothing (no `=` or `:`), so that no variable rule masks what follows it.
fn prose() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-z ,.\"'{}()/@\n\té€→-]{0,40}").unwrap()
}

/// A secret's own characters: uppercase letters and digits (at least 8).
fn secret() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[A-Z0-9]{8,40}").unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn a_known_secret_and_its_lines_never_survive(
        pre in filler(), post in filler(), a in secret(), b in secret(), cut in 0usize..2,
    ) {
        let mut r = Redactor::new();
        let value = format!("{a}\n{b}");
        r.add_known(&value);
        // The whole value, or only one of its lines (a log cut in the middle).
        let planted = if cut == 0 { value.clone() } else { b.clone() };
        let out = r.redact(&format!("{pre}{planted}{post}"));
        prop_assert!(!out.contains(&a) && !out.contains(&b), "{out}");
    }

    #[test]
    fn a_hugging_face_token_never_survives(pre in filler(), post in filler(), t in "[A-Za-z0-9]{20,40}") {
        let token = format!("hf_{t}");
        let out = Redactor::new().redact(&format!("{pre}{token}{post}"));
        prop_assert!(!out.contains(&token), "{out}");
    }

    #[test]
    fn url_credentials_never_survive(
        pre in prose(), post in prose(), user in "[A-Z0-9]{1,12}", pass in secret(),
        host in "[a-z]{1,10}\\.example", path in "(/[a-z]{0,8}){0,2}",
    ) {
        let url = format!("https://{user}:{pass}@{host}{path}");
        let out = Redactor::new().redact(&format!("{pre} {url} {post}"));
        prop_assert!(!out.contains(&pass), "{out}");
        prop_assert!(out.contains(&format!("@{host}{path}")), "the host stays: {out}");
    }

    #[test]
    fn secret_variables_never_survive_in_any_form(
        pre in filler(), post in filler(), name in "[A-Z]{1,8}_(TOKEN|KEY|SECRET|PASSWORD)",
        value in secret(), form in 0usize..7,
    ) {
        let text = match form {
            0 => format!("{name}={value}"),
            1 => format!("{name}: {value}"),
            2 => format!("{name} = \"{value}\""),
            3 => format!("\"{name}\": \"{value}\""),
            4 => format!("\"{name}={value}\""),
            5 => format!("Authorization: Bearer {value}"),
            _ => format!("{name}='{value}'"),
        };
        // A separator keeps the filler from gluing onto the name.
        let out = Redactor::new().redact(&format!("{pre}\n{text}\n{post}"));
        prop_assert!(!out.contains(&value), "{out}");
    }

    #[test]
    fn text_without_secrets_is_unchanged(text in "[a-z ,.\\n()é→-]{0,80}") {
        prop_assert_eq!(Redactor::new().redact(&text), text);
    }
}
