//! The app's integration tests, one binary: the real wizard under WebDriver (its steps; its theme and zoom), and
//! the page's module graph.

mod appearance;
mod gitlab_live;
mod remote_engine;
mod single_instance;
mod ui_modules;
mod wizard;
