//! Exports: files another admin can apply without the installer.

pub mod archive;
pub mod compose;
pub mod gateway;
pub mod kubernetes;
