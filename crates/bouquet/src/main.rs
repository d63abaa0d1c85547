//! `bouquet`: see `bouquet --help`.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = bouquet::cli::Cli::parse();
    match bouquet::cli::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Erreur : {e:#}");
            ExitCode::from(2)
        }
    }
}
