//! The page receives the engine's one error shape, [`Problem`] `{code, message, fix, field}`: every
//! engine error converts through `aigw_core::problem::Explain`, so `?` is all a command needs. The
//! wizard's own refusals (a form value that is not a port) take the same shape. None carries a secret.

pub use aigw_core::problem::Problem as UiError;

/// The form's `field` holds a bad value.
pub fn field(field: &str, message: impl Into<String>, fix: &str) -> UiError {
    UiError::new("invalid_input", message, Some(fix.into())).with_field(field)
}
