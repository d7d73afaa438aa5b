//! The one shape every failure takes for a user: a stable code, the message, how to fix it, and the field
//! at fault. Every error of the core and the engine implements [`Explain`]; the CLI prints a
//! [`Problem`] (adding its own flag names) and the wizard shows it (marking the field's input). Messages
//! name no CLI flag and no wizard control: each front end adds its own words for `field`.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Stable, snake_case: what the front ends branch on (`license_required`, `cancelled`, `exists`…).
    pub code: &'static str,
    pub message: String,
    pub fix: Option<String>,
    /// The input at fault, named as in the spec (`gateway.host`) or the request (`gpus`, `tp`).
    pub field: Option<String>,
}

impl Problem {
    pub fn new(code: &'static str, message: impl Into<String>, fix: Option<String>) -> Self {
        Self {
            code,
            message: message.into(),
            fix,
            field: None,
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Message and fix on one line, for a page that reports the problem rather than failing on it.
    pub fn one_line(&self) -> String {
        match &self.fix {
            Some(fix) => format!("{} — {fix}", self.message),
            None => self.message.clone(),
        }
    }
}

/// What a user needs of an error besides its message. `Display` is the message; the fix is separate so
/// that it is printed once.
pub trait Explain: std::error::Error {
    fn code(&self) -> &'static str;
    fn fix(&self) -> Option<String> {
        None
    }
    fn field(&self) -> Option<String> {
        None
    }
    fn problem(&self) -> Problem {
        Problem {
            code: self.code(),
            message: self.to_string(),
            fix: self.fix(),
            field: self.field(),
        }
    }
}

/// Every explained error converts, so `?` works wherever a [`Problem`] is returned (the wizard's commands).
impl<E: Explain> From<E> for Problem {
    fn from(e: E) -> Self {
        e.problem()
    }
}
