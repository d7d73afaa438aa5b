//! The app's integration tests, one binary: the real wizard under WebDriver, and the page's module graph.

mod single_instance;
mod ui_modules;
mod wizard;
