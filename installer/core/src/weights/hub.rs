//! The Hugging Face Hub's answer to `GET /api/models/{repo}/revision/{rev}?blobs=true`, and the URLs of
//! the API and of `/{repo}/resolve/{rev}/{file}` under an endpoint (the Hub, or a mirror as `HF_ENDPOINT`).

use serde::{Deserialize, Serialize};
use url::Url;

use crate::problem::Explain;

/// The public Hub.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// The model's metadata at one revision: what the fetch resolves before the first byte.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoInfo {
    /// `owner/name` as the Hub spells it.
    #[serde(default)]
    pub id: String,
    /// The commit the revision resolved to.
    pub sha: String,
    #[serde(default)]
    pub siblings: Vec<Sibling>,
    /// `false`, or the gating mode (`"auto"`, `"manual"`).
    #[serde(default)]
    pub gated: Gated,
    #[serde(default)]
    pub private: bool,
}

/// One file of the repository at that revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sibling {
    /// Path inside the repository (`model-00001-of-00010.safetensors`, `original/params.json`).
    pub rfilename: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// The git blob id (SHA-1): the file's etag unless it is stored in LFS.
    #[serde(rename = "blobId", default, skip_serializing_if = "Option::is_none")]
    pub blob_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lfs: Option<Lfs>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lfs {
    /// The content's SHA-256: the file's etag and its checksum.
    pub sha256: String,
    pub size: u64,
    #[serde(
        rename = "pointerSize",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub pointer_size: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Gated {
    Flag(bool),
    Mode(String),
}

impl Default for Gated {
    fn default() -> Self {
        Gated::Flag(false)
    }
}

impl Gated {
    pub fn is_gated(&self) -> bool {
        !matches!(self, Gated::Flag(false))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("the Hub's answer for {repo} could not be read: {source}")]
    Parse {
        repo: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("the Hub's answer for {repo} names no commit (\"{sha}\")")]
    NoCommit { repo: String, sha: String },
    #[error("\"{0}\" is not an http(s) URL")]
    Endpoint(String),
    #[error("\"{0}\" is not a Hugging Face repo id (owner/name)")]
    Repo(String),
}

impl Explain for HubError {
    fn code(&self) -> &'static str {
        match self {
            HubError::Parse { .. } | HubError::NoCommit { .. } => "hub_answer",
            HubError::Endpoint(_) => "invalid_endpoint",
            HubError::Repo(_) => "invalid_repo",
        }
    }
    fn fix(&self) -> Option<String> {
        Some(match self {
            HubError::Parse { .. } | HubError::NoCommit { .. } => {
                "check that the endpoint is the Hugging Face Hub or a mirror of it".into()
            }
            HubError::Endpoint(_) => {
                "write it as https://host[:port][/path], e.g. https://huggingface.co".into()
            }
            HubError::Repo(_) => {
                "write it as owner/name, e.g. mistralai/Mistral-7B-Instruct-v0.3".into()
            }
        })
    }
    fn field(&self) -> Option<String> {
        match self {
            HubError::Endpoint(_) => Some("model.weights.endpoint".into()),
            HubError::Repo(_) => Some("model.weights.repo".into()),
            _ => None,
        }
    }
}

impl RepoInfo {
    /// Reads the API's JSON; the commit must be a full 40-digit sha (it names the snapshot).
    pub fn parse(repo: &str, json: &str) -> Result<Self, HubError> {
        let info: RepoInfo = serde_json::from_str(json).map_err(|source| HubError::Parse {
            repo: repo.to_string(),
            source,
        })?;
        if !super::is_hex(&info.sha, 40) {
            return Err(HubError::NoCommit {
                repo: repo.to_string(),
                sha: info.sha,
            });
        }
        Ok(info)
    }
}

/// A Hub endpoint: the public Hub or a mirror. Parsed once; URLs are built by path segments so a file or
/// revision name is always escaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint(Url);

impl Default for Endpoint {
    fn default() -> Self {
        Self::parse(DEFAULT_ENDPOINT)
            .unwrap_or_else(|_| unreachable!("the default endpoint parses"))
    }
}

impl Endpoint {
    pub fn parse(s: &str) -> Result<Self, HubError> {
        let url = Url::parse(s.trim()).map_err(|_| HubError::Endpoint(s.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(HubError::Endpoint(s.to_string()));
        }
        Ok(Self(url))
    }

    /// The spec's `endpoint`, or the public Hub.
    pub fn from_spec(endpoint: Option<&str>) -> Result<Self, HubError> {
        endpoint.map_or_else(|| Ok(Self::default()), Self::parse)
    }

    /// `host[:port]`, as Review names it and as the token is bound to.
    pub fn host(&self) -> String {
        let host = self.0.host_str().unwrap_or_default();
        match self.0.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        }
    }

    pub fn url(&self) -> &Url {
        &self.0
    }

    fn with_segments<'a>(&self, segments: impl IntoIterator<Item = &'a str>) -> Url {
        let mut url = self.0.clone();
        url.set_query(None);
        url.set_fragment(None);
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty();
            path.extend(segments);
        }
        url
    }

    /// `{endpoint}/api/models/{owner}/{name}/revision/{rev}?blobs=true`.
    pub fn api_url(&self, repo: &str, revision: &str) -> Result<Url, HubError> {
        let (owner, name) = split_repo(repo)?;
        let mut url = self.with_segments(["api", "models", owner, name, "revision", revision]);
        url.set_query(Some("blobs=true"));
        Ok(url)
    }

    /// `{endpoint}/{owner}/{name}/resolve/{rev}/{file}`; a nested file keeps its `/`.
    pub fn resolve_url(&self, repo: &str, revision: &str, file: &str) -> Result<Url, HubError> {
        let (owner, name) = split_repo(repo)?;
        Ok(self.with_segments(
            [owner, name, "resolve", revision]
                .into_iter()
                .chain(file.split('/')),
        ))
    }
}

/// `owner/name` → (`owner`, `name`); anything else is refused.
pub fn split_repo(repo: &str) -> Result<(&str, &str), HubError> {
    match repo.split_once('/') {
        Some((o, n))
            if !o.is_empty()
                && !n.is_empty()
                && !n.contains('/')
                && ![o, n].iter().any(|p| *p == "." || *p == "..")
                && !repo.contains(char::is_whitespace) =>
        {
            Ok((o, n))
        }
        _ => Err(HubError::Repo(repo.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANSWER: &str = r#"{
      "_id": "664dc170474f2283fa5c8659", "id": "mistralai/Mistral-7B-Instruct-v0.3",
      "sha": "0d4b76e1efeb5eb6f6b5e757c79870472e04bd3a", "gated": "auto", "private": false,
      "siblings": [
        {"rfilename": "config.json", "blobId": "9f6f4e1f2a6b0c5b0b2a0b94a4b1e0d2c3f4a5b6", "size": 601},
        {"rfilename": "consolidated.safetensors", "blobId": "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d", "size": 14496078512,
         "lfs": {"sha256": "6d1f2c0b7f7e4f5d3f1c7a6e1b3d2f0e9c8b7a6d5e4f3c2b1a0f9e8d7c6b5a49", "size": 14496078512, "pointerSize": 135}}
      ]
    }"#;

    #[test]
    fn the_api_answer_reads_into_commit_files_and_gating() {
        let info = RepoInfo::parse("mistralai/Mistral-7B-Instruct-v0.3", ANSWER).unwrap();
        assert_eq!(info.sha, "0d4b76e1efeb5eb6f6b5e757c79870472e04bd3a");
        assert!(info.gated.is_gated());
        assert_eq!(info.siblings.len(), 2);
        assert_eq!(info.siblings[0].lfs, None);
        assert_eq!(info.siblings[1].lfs.as_ref().unwrap().size, 14_496_078_512);
        let open =
            r#"{"sha":"0d4b76e1efeb5eb6f6b5e757c79870472e04bd3a","gated":false,"siblings":[]}"#;
        assert!(!RepoInfo::parse("a/b", open).unwrap().gated.is_gated());
    }

    #[test]
    fn an_answer_without_a_full_commit_is_refused() {
        let e = RepoInfo::parse("a/b", r#"{"sha":"main","siblings":[]}"#).unwrap_err();
        assert_eq!(e.code(), "hub_answer");
        let e = RepoInfo::parse("a/b", "<html>").unwrap_err();
        assert!(matches!(e, HubError::Parse { .. }));
    }

    #[test]
    fn urls_are_built_under_the_endpoint_with_escaped_segments() {
        let hub = Endpoint::default();
        assert_eq!(
            hub.api_url("mistralai/Codestral-22B-v0.1", "main").unwrap().as_str(),
            "https://huggingface.co/api/models/mistralai/Codestral-22B-v0.1/revision/main?blobs=true"
        );
        assert_eq!(
            hub.resolve_url("a/b", "refs/pr/1", "original/params.json")
                .unwrap()
                .as_str(),
            "https://huggingface.co/a/b/resolve/refs%2Fpr%2F1/original/params.json"
        );
        let mirror = Endpoint::parse("http://127.0.0.1:8080/hf/").unwrap();
        assert_eq!(mirror.host(), "127.0.0.1:8080");
        assert_eq!(
            mirror
                .resolve_url("a/b", "abc", "config.json")
                .unwrap()
                .as_str(),
            "http://127.0.0.1:8080/hf/a/b/resolve/abc/config.json"
        );
        assert_eq!(hub.host(), "huggingface.co");
    }

    #[test]
    fn bad_endpoints_and_repos_are_refused() {
        for e in ["ftp://x", "not a url", "file:///tmp"] {
            assert!(Endpoint::parse(e).is_err(), "{e}");
        }
        for r in ["a", "a/b/c", "/b", "a/", "../b", "a b/c"] {
            assert!(split_repo(r).is_err(), "{r}");
        }
    }
}
