//! Exports: files another admin can apply without the installer.

pub mod compose;
