//! Model weights on disk (issue 12), no network: the hub cache's snapshot links and refs, the verified
//! manifest, streaming SHA-256, `verify` and `status` of a snapshot, free space, the local-folder check,
//! and the offline kit (`export` to a folder or one .tar, `import` from either, verified before anything
//! is linked; progress events and a cancel that leaves nothing half-made).
//! The decisions are the core's (`aigw_core::weights`).

mod cache;
mod error;
/// The network side: the Hub to the cache.
pub mod fetch;
mod kit;
mod kit_progress;
mod kit_tar;
mod local;
mod verify;

pub use cache::{link_snapshot, read_manifest, resolve_commit, write_manifest, write_ref};
pub use error::WeightsError;
pub use kit::{export_folder, import_folder, Exported, Imported};
pub use kit_progress::{KitControl, KitOp};
pub use kit_tar::{export_tar, import_tar};
pub use local::{check_local, list_folder, read_config};
pub use verify::{
    find_manifest, free_bytes, hash_file, status, verify, verify_file, FileState, FileStatus,
    Hashes, Verified, WeightsStatus,
};

#[cfg(test)]
mod tests;
