//! The commands of the `bouquet` binary.

use std::io::{IsTerminal, Read};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use bouquet_kernel::{Email, Role, RoleSet, Siren};
use bouquet_store::audit::{self, AuditActor};
use bouquet_store::jobs::{self, JobStatus};
use bouquet_store::{accounts, orgs};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use tokio_util::sync::CancellationToken;

use bouquet_web::links::{Purpose, create_link, queue_password_link};

use crate::app::{Application, open_platform};
use crate::config::{Config, LogFormat, ServeArgs, StoreArgs};

#[derive(Parser, Debug)]
#[command(
    name = "bouquet",
    version,
    about = "Bouquet : la plateforme de services numériques d'un opérateur public pour les collectivités de son territoire."
)]
pub struct Cli {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
#[allow(clippy::large_enum_variant)] // parsed once at start; boxing would only burden matching
pub enum Command {
    /// Serve the platform (runs the migrations first).
    Serve(ServeArgs),
    /// Apply the database migrations, then stop.
    Migrate,
    /// Create the demo territory (if it does not exist yet), then stop.
    Demo {
        /// Also seed the realistic size: 2,000 member organisations of the registry, 10,000
        /// agents, 35,000 companies (once; a second run changes nothing).
        #[arg(long)]
        scale: bool,
        /// Multiply the realistic size (0.1: one tenth).
        #[arg(long, default_value_t = 1.0, requires = "scale")]
        scale_factor: f64,
    },
    /// Manage accounts.
    #[command(subcommand)]
    Users(UsersCommand),
    /// The audit journal.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Background jobs.
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// The official registry of communes and EPCI (BANATIC).
    #[command(subcommand)]
    Registry(RegistryCommand),
    /// Simulators of the outside world, for the demo and the tests.
    #[command(subcommand)]
    Simulator(SimulatorCommand),
    /// Print the version.
    Version,
}

#[derive(Subcommand, Debug)]
pub enum SimulatorCommand {
    /// A préfecture (@CTES) for the contrôle de légalité: prints its address on the first
    /// line, then serves until stopped (Ctrl+C).
    Prefecture {
        /// Address to listen on (port 0 picks a free port; the address is printed).
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: std::net::SocketAddr,
        /// Keep the state and the archives in this directory (restarts keep the mailbox);
        /// without it, in memory only.
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
        /// Bearer token required on the routes of the protocol.
        #[arg(long, env = "BOUQUET_SIMULATOR_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Seconds between a deposit and its answer in the mailbox.
        #[arg(long = "delai-secondes", default_value_t = 0)]
        delai_secondes: u64,
    },
}

#[derive(Subcommand, Debug)]
pub enum UsersCommand {
    /// Create an account in an organisation; prints the link to choose its password (or
    /// e-mails it with --send, or reads the password on standard input with --password-stdin).
    Create {
        #[arg(long)]
        email: String,
        /// First and last name.
        #[arg(long)]
        name: String,
        /// SIREN of the organisation.
        #[arg(long)]
        org: String,
        /// Role(s): operator_admin, operator_staff, member_admin, agent, elu_signataire, referent_numerique, company_user.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// Function in the organisation ("Secrétaire de mairie").
        #[arg(long)]
        title: Option<String>,
        #[arg(long)]
        password_stdin: bool,
        /// E-mail the link instead of printing it (without this, nothing is e-mailed).
        #[arg(long, conflicts_with = "password_stdin")]
        send: bool,
    },
    /// List accounts (optionally matching words of the name or address).
    List {
        #[arg(long)]
        search: Option<String>,
    },
    /// Print a link to choose a new password (valid one hour), or e-mail it with --send.
    ResetPassword {
        #[arg(long)]
        email: String,
        #[arg(long)]
        send: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Walk every chain of the journal; exit 0 if intact, 1 naming the first bad event.
    Verify,
}

#[derive(Subcommand, Debug)]
pub enum JobsCommand {
    /// List jobs (newest first).
    List {
        /// pending, running, done or dead.
        #[arg(long)]
        status: Option<String>,
    },
    /// Put dead jobs back in the queue.
    Retry {
        /// The job's id.
        id: Option<String>,
        /// Every dead job.
        #[arg(long, conflicts_with = "id")]
        all_dead: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum RegistryCommand {
    /// Load a newer official BANATIC file ("périmètre des EPCI à fiscalité propre", CSV or
    /// gzipped CSV) and print what changed; exit 1 if the file is refused (nothing changed).
    Import {
        file: std::path::PathBuf,
        /// Print what would change, change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Import a file whose populations are older than those of the registry in use.
        #[arg(long)]
        force: bool,
    },
    /// The registry in use: its source, population year, counts and the last imports.
    Show,
}

pub fn init_logging(format: LogFormat, default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BOUQUET_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

fn spinner(message: &str) -> ProgressBar {
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new_spinner()
    } else {
        ProgressBar::hidden()
    };
    bar.set_message(message.to_owned());
    bar
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let modules = crate::modules();
    match cli.command {
        Command::Serve(serve) => {
            init_logging(cli.store.log_format, "info,sqlx=warn,tower_http=info");
            let config = Config::from_args(&cli.store, Some(&serve));
            let app = Application::build(config.clone(), modules).await?;
            let url = config
                .public_url
                .as_ref()
                .map_or_else(|| format!("http://{}", app.addr()), |u| u.to_string());
            println!("Bouquet {} est prêt : {url}", bouquet_webkit::VERSION);
            println!(
                "Base : {} — fichiers : {} — courriels : {}",
                app.platform().db.engine().label(),
                app.platform().blobs.describe(),
                app.platform().mailer.describe()
            );
            if config.demo {
                if app.seeded_demo {
                    println!("Territoire de démonstration créé (CC Roche aux Fées Communauté).");
                }
                println!(
                    "Comptes de démonstration (mot de passe « {} ») :",
                    crate::demo::PASSWORD
                );
                for (email, who) in crate::demo::ACCOUNTS {
                    println!("  {email:<26} {who}");
                }
                // Before the last line, which scripts wait for.
                if let Some(simulator) = app.prefecture_simulator() {
                    println!("Simulateur de préfecture (@CTES) : {}", simulator.url());
                }
                println!("Courriels envoyés : {url}/admin/courriels (connecté en administrateur)");
            }
            let shutdown = CancellationToken::new();
            let signal = shutdown.clone();
            tokio::spawn(async move {
                wait_for_signal().await;
                tracing::info!("arrêt demandé");
                signal.cancel();
            });
            app.run_until_stopped(shutdown).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate => {
            init_logging(cli.store.log_format, "warn");
            let config = Config::from_args(&cli.store, None);
            let (_, report) = open_platform(&config, &modules).await?;
            if report.applied.is_empty() {
                println!(
                    "Base à jour ({} migrations déjà appliquées).",
                    report.already
                );
            } else {
                for (owner, version, name) in &report.applied {
                    println!("Migration appliquée : {owner} {version} {name}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo {
            scale,
            scale_factor,
        } => {
            use bouquet_adhesions::scale::{self, Outcome, Targets};
            // Bulk statements take over a second: sqlx's slow-statement warning would print
            // each one's text in full.
            init_logging(cli.store.log_format, "warn,sqlx=error");
            // Checked before anything is written.
            let targets = if scale {
                Some(
                    Targets::for_factor(scale_factor)
                        .map_err(|e| anyhow::anyhow!("{}", explain(&e)))?,
                )
            } else {
                None
            };
            let config = Config {
                demo: true,
                ..Config::from_args(&cli.store, None)
            };
            let (platform, _) = open_platform(&config, &modules).await?;
            let bar = spinner("Création du territoire de démonstration…");
            bar.enable_steady_tick(std::time::Duration::from_millis(100));
            let created = crate::demo::seed_if_new(&platform, &modules).await?;
            bar.finish_and_clear();
            match created {
                Some(_) => println!(
                    "Territoire de démonstration créé. Mot de passe des comptes : {}",
                    crate::demo::PASSWORD
                ),
                None => {
                    println!("Le territoire de démonstration existe déjà : rien n'a été changé.")
                }
            }
            let Some(targets) = targets else {
                return Ok(ExitCode::SUCCESS);
            };
            let started = std::time::Instant::now();
            let registry = bouquet_adhesions::registry::Registry::embedded()
                .map_err(|e| anyhow::anyhow!("référentiel des communes illisible : {e}"))?;
            // One hash for every seeded account: argon2 is slow on purpose.
            let hash = accounts::hash_password(crate::demo::PASSWORD)?;
            let bar = if std::io::stderr().is_terminal() {
                ProgressBar::new(targets.total())
            } else {
                ProgressBar::hidden()
            };
            bar.set_style(
                ProgressStyle::with_template("{msg:<30} [{bar:40}] {pos}/{len} ({eta})")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.enable_steady_tick(std::time::Duration::from_millis(200));
            let progress = {
                let bar = bar.clone();
                move |what: &str, done: u64, total: u64| {
                    bar.set_message(what.to_owned());
                    bar.set_length(total);
                    bar.set_position(done);
                }
            };
            let outcome = scale::seed(&platform, registry, targets, &hash, &progress)
                .await
                .context("création des données à l'échelle réaliste")?;
            bar.finish_and_clear();
            match outcome {
                Outcome::Seeded(s) => println!(
                    "Échelle réaliste créée en {:.1} s : {} membres du référentiel ({} abonnements), {} agents, {} entreprises et leurs {} comptes. Adresses en @{}, mot de passe : {}",
                    started.elapsed().as_secs_f64(),
                    s.members,
                    s.subscriptions,
                    s.agents,
                    s.companies,
                    s.company_users,
                    scale::DOMAIN,
                    crate::demo::PASSWORD
                ),
                Outcome::AlreadyDone(_) => println!(
                    "Les données à l'échelle réaliste existent déjà : rien n'a été changé."
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Users(cmd) => {
            init_logging(cli.store.log_format, "warn");
            users(&Config::from_args(&cli.store, None), &modules, cmd).await
        }
        Command::Audit(AuditCommand::Verify) => {
            init_logging(cli.store.log_format, "warn");
            let config = Config::from_args(&cli.store, None);
            let (platform, _) = open_platform(&config, &modules).await?;
            let bar = if std::io::stderr().is_terminal() {
                ProgressBar::new(0)
            } else {
                ProgressBar::hidden()
            };
            bar.set_style(
                ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} événements ({eta})")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_message("Vérification du journal");
            let progress = {
                let bar = bar.clone();
                move |done: u64, total: u64| {
                    bar.set_length(total);
                    bar.set_position(done);
                }
            };
            let report = audit::verify(&platform.db, &platform.keys, &progress).await?;
            bar.finish_and_clear();
            println!(
                "{} chaîne(s), {} événement(s), {} point(s) de contrôle vérifiés.",
                report.chains, report.events, report.checkpoints
            );
            if report.is_intact() {
                println!("Le journal est intact.");
                Ok(ExitCode::SUCCESS)
            } else {
                for p in &report.problems {
                    println!(
                        "ALTÉRATION — chaîne {} : {}{}",
                        p.chain,
                        p.message,
                        p.event_id
                            .as_deref()
                            .map(|id| format!(" (événement {id})"))
                            .unwrap_or_default()
                    );
                }
                Ok(ExitCode::from(1))
            }
        }
        Command::Jobs(cmd) => {
            init_logging(cli.store.log_format, "warn");
            jobs_command(&Config::from_args(&cli.store, None), &modules, cmd).await
        }
        Command::Registry(cmd) => {
            init_logging(cli.store.log_format, "warn");
            registry_command(&Config::from_args(&cli.store, None), &modules, cmd).await
        }
        Command::Simulator(SimulatorCommand::Prefecture {
            listen,
            dir,
            token,
            delai_secondes,
        }) => {
            init_logging(cli.store.log_format, "info");
            let simulator = bouquet_sim_prefecture::spawn(
                bouquet_sim_prefecture::Config {
                    dir,
                    token,
                    delay: std::time::Duration::from_secs(delai_secondes),
                    ..bouquet_sim_prefecture::Config::default()
                },
                listen,
            )
            .await?;
            // The first line is the address, for the scripts and tests that start it.
            println!("Simulateur de préfecture (@CTES) : {}", simulator.url());
            wait_for_signal().await;
            simulator.stop().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Version => {
            println!("bouquet {}", bouquet_webkit::VERSION);
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// An error as one French line, with the fields to correct.
fn explain(e: &bouquet_kernel::AppError) -> String {
    match e {
        bouquet_kernel::AppError::Invalid(fields) => fields
            .iter()
            .map(|f| format!("{} : {}", f.field, f.message))
            .collect::<Vec<_>>()
            .join(" ; "),
        other => other.detail(),
    }
}

fn cli_actor() -> AuditActor {
    AuditActor {
        user_id: None,
        label: "Ligne de commande".into(),
    }
}

async fn users(
    config: &Config,
    modules: &[Arc<dyn bouquet_webkit::Module>],
    cmd: UsersCommand,
) -> anyhow::Result<ExitCode> {
    let (platform, _) = open_platform(config, modules).await?;
    let now = platform.clock.now();
    match cmd {
        UsersCommand::Create {
            email,
            name,
            org,
            roles,
            title,
            password_stdin,
            send,
        } => {
            let email = Email::parse(&email)?;
            let siren = Siren::parse(&org)?;
            let mut set = RoleSet::empty();
            for r in &roles {
                set.insert(r.parse::<Role>()?);
            }
            let mut conn = platform.db.read().await?;
            let org = orgs::get_by_siren(&mut conn, &siren)
                .await?
                .with_context(|| format!("aucune organisation n'a le SIREN {siren}"))?;
            drop(conn);
            let allowed = Role::assignable_in(org.kind()?);
            if let Some(bad) = set.iter().find(|r| !allowed.contains(r)) {
                bail!(
                    "le rôle « {} » ne peut pas être donné dans {} ({})",
                    bad.code(),
                    org.name,
                    org.kind_label()
                );
            }
            let hash = if password_stdin {
                let mut password = String::new();
                std::io::stdin().read_to_string(&mut password)?;
                let password = password.trim_end_matches(['\n', '\r']);
                if let Err(m) = accounts::check_password_policy(password, Some(email.as_str())) {
                    bail!("{m}");
                }
                Some(accounts::hash_password(password)?)
            } else {
                None
            };
            let org_id = org.id()?;
            let mut tx = platform.db.begin().await?;
            let user = accounts::create_user(
                &mut tx,
                now,
                &email,
                &name,
                hash.as_deref(),
                Some(org_id),
                &cli_actor(),
            )
            .await
            .map_err(|e| anyhow::anyhow!("{}", explain(&bouquet_kernel::AppError::from(e))))?;
            accounts::grant(
                &mut tx,
                now,
                user,
                org_id,
                set,
                title.as_deref(),
                &cli_actor(),
            )
            .await?;
            let purpose = Purpose::Invitation {
                by: format!("L'équipe de {}", platform.settings.operator_name),
                org_name: org.name.clone(),
            };
            let link = match (hash.is_none(), send) {
                (false, _) => None,
                (true, true) => {
                    queue_password_link(&mut tx, &platform, user, purpose, &cli_actor()).await?;
                    None
                }
                (true, false) => {
                    Some(create_link(&mut tx, &platform, user, &purpose, &cli_actor()).await?)
                }
            };
            tx.commit().await?;
            println!("Compte créé : {email} ({name}) dans {}.", org.name);
            if let Some(link) = link {
                println!(
                    "Lien pour choisir le mot de passe (valable 7 jours ; à transmettre à la personne) : {link}"
                );
            } else if send {
                println!(
                    "Le lien pour choisir le mot de passe part par courriel dès qu'un serveur Bouquet tourne."
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        UsersCommand::List { search } => {
            let mut conn = platform.db.read().await?;
            let mut cursor = None;
            let mut total = 0;
            println!(
                "{:<36}  {:<32}  {:<28}  état",
                "identifiant", "adresse", "nom"
            );
            loop {
                let page = accounts::list_users(&mut conn, search.as_deref(), cursor.as_ref(), 200)
                    .await?;
                for u in &page.items {
                    println!(
                        "{:<36}  {:<32}  {:<28}  {}",
                        u.id,
                        u.email,
                        u.display_name,
                        if u.active { "actif" } else { "désactivé" }
                    );
                    total += 1;
                }
                match page.next {
                    Some(next) => cursor = Some(bouquet_store::page::Cursor::decode(&next)?),
                    None => break,
                }
            }
            println!("{total} compte(s).");
            Ok(ExitCode::SUCCESS)
        }
        UsersCommand::ResetPassword { email, send } => {
            let email = Email::parse(&email)?;
            let mut tx = platform.db.begin().await?;
            let user = accounts::find_by_email(&mut tx, &email)
                .await?
                .with_context(|| format!("aucun compte n'a l'adresse {email}"))?;
            let purpose = Purpose::ResetBy {
                by: format!("L'équipe de {}", platform.settings.operator_name),
            };
            if send {
                queue_password_link(&mut tx, &platform, user.id()?, purpose, &cli_actor()).await?;
                tx.commit().await?;
                println!(
                    "Le lien de réinitialisation part par courriel dès qu'un serveur Bouquet tourne."
                );
            } else {
                let link =
                    create_link(&mut tx, &platform, user.id()?, &purpose, &cli_actor()).await?;
                tx.commit().await?;
                println!(
                    "Lien de réinitialisation (valable une heure ; à transmettre à la personne) : {link}"
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn jobs_command(
    config: &Config,
    modules: &[Arc<dyn bouquet_webkit::Module>],
    cmd: JobsCommand,
) -> anyhow::Result<ExitCode> {
    let (platform, _) = open_platform(config, modules).await?;
    match cmd {
        JobsCommand::List { status } => {
            let status = match status.as_deref() {
                None => None,
                Some(s) => Some(JobStatus::parse(s).with_context(|| {
                    format!("état inconnu « {s} » (pending, running, done, dead)")
                })?),
            };
            let mut conn = platform.db.read().await?;
            let page = jobs::list(&mut conn, status, None, None, 200).await?;
            println!(
                "{:<36}  {:<22}  {:<8}  {:<7}  dernière erreur",
                "identifiant", "type", "état", "essais"
            );
            for j in &page.items {
                println!(
                    "{:<36}  {:<22}  {:<8}  {:<7}  {}",
                    j.id,
                    j.kind,
                    j.status,
                    format!("{}/{}", j.attempts, j.max_attempts),
                    j.last_error.as_deref().unwrap_or("")
                );
            }
            println!(
                "{} tâche(s){}.",
                page.items.len(),
                if page.next.is_some() {
                    " (200 plus récentes)"
                } else {
                    ""
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        JobsCommand::Retry { id, all_dead } => {
            let now = platform.clock.now();
            let ids: Vec<String> = if all_dead {
                let mut conn = platform.db.read().await?;
                let mut all = Vec::new();
                let mut cursor = None;
                loop {
                    let page =
                        jobs::list(&mut conn, Some(JobStatus::Dead), None, cursor.as_ref(), 200)
                            .await?;
                    all.extend(page.items.into_iter().map(|j| j.id));
                    match page.next {
                        Some(n) => cursor = Some(bouquet_store::page::Cursor::decode(&n)?),
                        None => break,
                    }
                }
                all
            } else {
                vec![id.context("donnez l'identifiant d'une tâche, ou --all-dead")?]
            };
            let bar = if std::io::stderr().is_terminal() {
                ProgressBar::new(ids.len() as u64)
            } else {
                ProgressBar::hidden()
            };
            let mut retried = 0;
            for id in &ids {
                let mut tx = platform.db.begin().await?;
                if jobs::retry(&mut tx, now, id, &cli_actor()).await? {
                    retried += 1;
                } else if !all_dead {
                    bail!("la tâche {id} n'existe pas ou n'est pas en échec");
                }
                tx.commit().await?;
                bar.inc(1);
            }
            bar.finish_and_clear();
            println!("{retried} tâche(s) remise(s) dans la file.");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `bouquet registry import FILE [--dry-run] [--force]` and `bouquet registry show`.
async fn registry_command(
    config: &Config,
    modules: &[Arc<dyn bouquet_webkit::Module>],
    cmd: RegistryCommand,
) -> anyhow::Result<ExitCode> {
    use bouquet_adhesions::registry::{MAX_FILE_SIZE, RegistryError};
    use bouquet_adhesions::registry_import::{self, ImportError, Step};
    use bouquet_adhesions::{current, mergers};
    use bouquet_store::StoreError;

    // A refused file: a French reason on standard error, exit 1, nothing changed.
    let refused = |reason: &str| {
        eprintln!("Erreur : {reason}");
        eprintln!("Rien n'a été modifié.");
        Ok(ExitCode::from(1))
    };
    let failed = |e: StoreError| match e {
        StoreError::App(e) => anyhow::anyhow!("{}", explain(&e)),
        other => anyhow::Error::new(other),
    };
    let (platform, _) = open_platform(config, modules).await?;
    match cmd {
        RegistryCommand::Import {
            file,
            dry_run,
            force,
        } => {
            let shown = file.display().to_string();
            let source = file
                .file_name()
                .map_or_else(|| shown.clone(), |n| n.to_string_lossy().into_owned());
            // Refuse a file too large to be the official one before reading it all.
            let read = std::fs::metadata(&file).and_then(|m| {
                if m.is_dir() {
                    Err(std::io::Error::other("dossier"))
                } else if m.len() > MAX_FILE_SIZE as u64 {
                    Ok(None)
                } else {
                    std::fs::read(&file).map(Some)
                }
            });
            let bytes = match read {
                Ok(Some(bytes)) => axum::body::Bytes::from(bytes),
                Ok(None) => {
                    return refused(&ImportError::Refused(RegistryError::TooLarge).to_string());
                }
                Err(e) => {
                    let why = match e.kind() {
                        std::io::ErrorKind::NotFound => "fichier introuvable".to_owned(),
                        std::io::ErrorKind::PermissionDenied => {
                            "lecture refusée (droits d'accès)".to_owned()
                        }
                        _ if file.is_dir() => "c'est un dossier, pas un fichier".to_owned(),
                        _ => format!("lecture impossible ({e})"),
                    };
                    return refused(&format!("{shown} : {why}"));
                }
            };
            let bar = spinner(Step::Parsing.label());
            bar.enable_steady_tick(std::time::Duration::from_millis(100));
            let progress = {
                let bar = bar.clone();
                move |step: Step| bar.set_message(step.label())
            };
            let prepared =
                registry_import::prepare(&platform, bytes.clone(), &source, force, &progress).await;
            bar.finish_and_clear();
            let plan = match prepared {
                Ok(plan) => plan,
                Err(ImportError::Store(e)) => return Err(failed(e)),
                Err(refusal) => return refused(&refusal.to_string()),
            };
            if plan.unchanged {
                println!(
                    "Ce fichier est déjà le référentiel en usage ({} communes, {} EPCI, populations {}) : rien n'a été modifié.",
                    plan.summary.communes, plan.summary.epci, plan.summary.population_year
                );
                return Ok(ExitCode::SUCCESS);
            }
            print!("{}", registry_import::summary_text(&plan.summary));
            println!();
            if dry_run {
                println!(
                    "Simulation (--dry-run) : rien n'a été modifié. Relancez sans --dry-run pour importer ce fichier."
                );
                return Ok(ExitCode::SUCCESS);
            }
            let bar = spinner("Enregistrement du référentiel et mise à jour des organisations…");
            bar.enable_steady_tick(std::time::Duration::from_millis(100));
            let applied = registry_import::apply(&platform, &plan, bytes, &cli_actor()).await;
            bar.finish_and_clear();
            let applied = applied.map_err(failed)?;
            println!("Référentiel importé : c'est maintenant le référentiel en usage.");
            if let Some(a) = applied {
                if a.organisations_updated > 0 {
                    println!(
                        "{} organisation(s) de la plateforme mise(s) à jour.",
                        a.organisations_updated
                    );
                }
                if a.mergers_raised > 0 {
                    println!(
                        "{} fusion(s) de communes membres à traiter : {}",
                        a.mergers_raised,
                        platform.settings.link("/admin/registre")
                    );
                }
                if a.mails > 0 {
                    println!(
                        "{} courriel(s) à l'équipe de l'opérateur partiront dès qu'un serveur Bouquet tourne.",
                        a.mails
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        RegistryCommand::Show => {
            let registry = current::current(&platform).await.map_err(failed)?;
            let mut conn = platform.db.read().await?;
            let imports = registry_import::imports(&mut conn, 10).await?;
            let to_handle = mergers::count_to_handle(&mut conn).await?;
            drop(conn);
            let tz = bouquet_kernel::clock::time_zone(bouquet_kernel::org::DEFAULT_TIME_ZONE);
            let source = if registry.is_embedded() {
                "fichier officiel BANATIC fourni avec Bouquet".to_owned()
            } else {
                imports
                    .iter()
                    .find(|i| i.sha256 == registry.sha256)
                    .map_or_else(
                        || "fichier importé".to_owned(),
                        |i| {
                            format!(
                                "fichier importé « {} » le {}",
                                i.source_name,
                                bouquet_webkit::views::at(i.imported_at, &tz)
                            )
                        },
                    )
            };
            println!("Référentiel en usage : {source}");
            println!("Populations : {}", registry.population_year);
            println!(
                "Contenu : {} communes, {} EPCI",
                registry.communes().len(),
                registry.epcis().len()
            );
            println!("Empreinte SHA-256 : {}", registry.sha256);
            println!("Fusions de communes membres à traiter : {to_handle}");
            if imports.is_empty() {
                println!("Aucun import : Bouquet utilise le fichier fourni avec cette version.");
            } else {
                println!("Derniers imports (le plus récent d'abord) :");
                for i in &imports {
                    let changes = bouquet_adhesions::web::registry::changes_of(&i.summary());
                    println!(
                        "  - {} : « {} », populations {}, {} communes, {} EPCI, par {} — {}",
                        bouquet_webkit::views::at(i.imported_at, &tz),
                        i.source_name,
                        i.population_year,
                        i.communes,
                        i.epci,
                        i.actor_label,
                        if changes.is_empty() {
                            "aucun changement".to_owned()
                        } else {
                            changes.join(" ; ")
                        }
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
