//! Exports: files another admin can apply without the installer.

pub mod bundle;
pub mod compose;
pub mod gateway;
pub mod kubernetes;
