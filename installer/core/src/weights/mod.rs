//! Model weights as data (issue 12): the Hub's answer ([`hub`]), the files vLLM needs from it
//! ([`select`]), where they go in the Hugging Face cache ([`layout`]), the verified record kept beside it
//! ([`manifest`]), the space they need ([`space`]) and the judgement of an admin's local folder
//! ([`local`]), and a blob as byte ranges with its resume record ([`ranges`]). The engine reads and
//! writes; the fetcher (network) builds on these types.

pub mod gitblob;
pub mod hub;
pub mod layout;
pub mod local;
pub mod manifest;
pub mod ranges;
pub mod select;
pub mod space;

/// Decimal gigabytes with one decimal ("47.8 GB"), megabytes below one gigabyte: what download sizes read as.
pub fn human_bytes(bytes: u64) -> String {
    const GB: f64 = 1e9;
    const MB: f64 = 1e6;
    let b = bytes as f64;
    if b >= GB {
        format!("{:.1} GB", b / GB)
    } else if b >= MB {
        format!("{:.1} MB", b / MB)
    } else {
        format!("{bytes} bytes")
    }
}

/// A lower-case hexadecimal digest of `len` characters (a commit or git blob id: 40; a SHA-256: 64).
pub fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_in_decimal_units() {
        assert_eq!(human_bytes(47_800_000_000), "47.8 GB");
        assert_eq!(human_bytes(14_500_000), "14.5 MB");
        assert_eq!(human_bytes(512), "512 bytes");
    }

    #[test]
    fn hex_digests_are_lower_case_and_exact_length() {
        assert!(is_hex(&"a".repeat(40), 40));
        assert!(!is_hex(&"A".repeat(40), 40));
        assert!(!is_hex(&"a".repeat(39), 40));
        assert!(!is_hex("../../etc/passwd", 16));
    }
}
