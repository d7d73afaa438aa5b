//! Which Docker engine every command acts on (issue 14): the admin's choice on Welcome, remembered in the
//! data directory, else the environment's as the docker CLI reads it. The CLI's choice is set once per
//! process (`docker::engine::choose`); the wizard's changes when the admin picks another engine, so the
//! commands take it from here and pass it to `Session::connect_with` and `DetectOptions::for_engine`.

use aigw_core::report::endpoint::{parse_host, EngineChoice, Origin};
use aigw_core::report::engine::{Endpoint, EngineFacts};
use aigw_engine::hardware::DetectOptions;
use aigw_engine::usecase::{self, Session};
use serde::Serialize;
use std::sync::RwLock;

use crate::error::{field, UiError};

/// `None`: nothing chosen in the wizard nor remembered; the environment decides.
static CHOSEN: RwLock<Option<EngineChoice>> = RwLock::new(None);

fn set(choice: Option<EngineChoice>) {
    if let Ok(mut slot) = CHOSEN.write() {
        *slot = choice;
    }
}

fn chosen() -> Option<EngineChoice> {
    CHOSEN.read().ok().and_then(|slot| slot.clone())
}

/// At startup: the engine remembered by an earlier "Use this engine", if any.
pub fn load_remembered() {
    if let Some(choice) = usecase::data_dir()
        .ok()
        .and_then(|dir| usecase::remembered_engine(&dir))
    {
        set(Some(choice));
    }
}

/// The choice every command uses now (empty: the environment's engine).
pub fn current() -> EngineChoice {
    chosen().unwrap_or_default()
}

/// A session on the chosen engine.
pub async fn connect() -> Result<Session, usecase::Error> {
    Session::connect_with(&current()).await
}

/// Detection of the chosen engine's machine (through the engine when it is not this one).
pub fn detect_options() -> DetectOptions {
    DetectOptions::for_engine(&current())
}

/// The chosen engine's address, as the page shows it.
pub fn endpoint() -> String {
    usecase::resolve(&current()).0.display()
}

#[derive(Debug, Serialize)]
pub struct EngineRow {
    pub name: String,
    pub endpoint: String,
    pub local: bool,
    /// Where it was found: this machine, DOCKER_HOST, a Docker context, or typed in here.
    pub origin: String,
    /// What to pass back to test or use it.
    pub choice: EngineChoice,
    pub in_use: bool,
}

#[derive(Debug, Serialize)]
pub struct Engines {
    pub engines: Vec<EngineRow>,
    /// The engine every command acts on now.
    pub in_use: String,
    pub in_use_local: bool,
    /// Why that one: chosen in the wizard (remembered), or as the docker CLI decides.
    pub origin: String,
    pub remembered: bool,
    pub choice: EngineChoice,
}

fn found_where(name: &str, endpoint: &Endpoint) -> String {
    match name {
        "default" if endpoint.is_local() => "this machine".into(),
        "default" => "DOCKER_HOST".into(),
        context => format!("Docker context {context}"),
    }
}

/// This machine's engine, each Docker context, and the engine in use (an SSH host typed in is listed too).
#[tauri::command]
pub fn engines() -> Engines {
    let choice = current();
    let (endpoint, origin) = usecase::resolve(&choice);
    let in_use = endpoint.display();
    let mut rows: Vec<EngineRow> = usecase::engines()
        .into_iter()
        .map(|e| EngineRow {
            origin: found_where(&e.name, &e.endpoint),
            endpoint: e.endpoint.display(),
            in_use: e.endpoint.display() == in_use,
            name: e.name,
            local: e.local,
            choice: e.choice,
        })
        .collect();
    if !rows.iter().any(|r| r.in_use) {
        rows.push(EngineRow {
            name: "chosen here".into(),
            endpoint: in_use.clone(),
            local: endpoint.is_local(),
            origin: "typed in on Welcome".into(),
            choice: choice.clone(),
            in_use: true,
        });
    }
    let remembered = chosen().is_some();
    Engines {
        engines: rows,
        in_use,
        in_use_local: endpoint.is_local(),
        origin: if remembered {
            "chosen in this wizard".into()
        } else if origin == Origin::Default {
            "this machine's socket".into()
        } else {
            origin.describe()
        },
        remembered,
        choice,
    }
}

/// The choice as given, with a typed host checked by the engine's own parser (its reason on the field).
fn checked(mut choice: EngineChoice) -> Result<EngineChoice, UiError> {
    choice.host = choice
        .host
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty());
    if let Some(host) = &choice.host {
        if let Endpoint::Unsupported { reason, .. } = parse_host(host, None) {
            return Err(field(
                "engine.host",
                format!("{host}: {reason}"),
                "type the server as ssh://user@host or ssh://user@host:port",
            ));
        }
    }
    Ok(choice)
}

#[derive(Debug, Serialize)]
pub struct Tested {
    pub endpoint: String,
    pub local: bool,
    pub facts: EngineFacts,
}

/// Connects to the engine `choice` names and reads its facts; else the real error with its fix.
#[tauri::command]
pub async fn test_engine(choice: EngineChoice) -> Result<Tested, UiError> {
    let choice = checked(choice)?;
    let (endpoint, _) = usecase::resolve(&choice);
    let facts = usecase::test_engine(&choice).await?;
    Ok(Tested {
        endpoint: endpoint.display(),
        local: endpoint.is_local(),
        facts,
    })
}

/// Makes `choice` the engine of every later command, and remembers it for the next start.
#[tauri::command]
pub fn use_engine(choice: EngineChoice) -> Result<Engines, UiError> {
    let choice = checked(choice)?;
    usecase::remember_engine(&usecase::data_dir()?, &choice)?;
    set(Some(choice));
    Ok(engines())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_host_is_refused_on_its_field_and_a_blank_one_is_none() {
        let bad = checked(EngineChoice {
            host: Some("ssh://".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(bad.field.as_deref(), Some("engine.host"));
        assert!(bad.message.contains("ssh://user@host"), "{}", bad.message);
        let blank = checked(EngineChoice {
            host: Some("  ".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(blank.host, None);
        let ok = checked(EngineChoice {
            host: Some(" ssh://admin@gpu01:2222 ".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(ok.host.as_deref(), Some("ssh://admin@gpu01:2222"));
    }
}
