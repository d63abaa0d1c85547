//! The `bouquet` binary's library: configuration, the application, the demo territory and
//! the command-line commands. `main.rs` only parses arguments and calls in here, so that the
//! integration tests start exactly what `bouquet serve` starts.
//!
//! # Layout
//!
//! - [`config`]: one [`Config`](config::Config) struct, from flags and `BOUQUET_*` variables.
//! - [`app`]: [`Application`](app::Application): opens the platform, runs migrations, binds
//!   (port 0 in tests), serves, runs the workers and the periodic checkpoints.
//! - [`demo`]: the demo territory around CC Roche aux Fées Communauté.
//! - [`cli`]: the commands (`serve`, `migrate`, `demo`, `users`, `audit`, `jobs`, `version`).

pub mod app;
pub mod cli;
pub mod config;
pub mod demo;

use std::sync::Arc;

use bouquet_webkit::Module;

/// Every module of this build, platform first. A new module is added here.
pub fn modules() -> Vec<Arc<dyn Module>> {
    vec![
        Arc::new(bouquet_web::PlatformModule),
        Arc::new(bouquet_adhesions::AdhesionsModule),
        Arc::new(bouquet_parapheur::ParapheurModule),
        Arc::new(bouquet_actes::ActesModule),
    ]
}
