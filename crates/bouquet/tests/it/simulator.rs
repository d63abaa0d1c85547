//! The préfecture simulator seen from outside: the `bouquet simulator prefecture` command
//! (its address on the first line, the protocol with its token, a restart keeping the
//! mailbox), and `serve --demo` starting one in-process for the platform.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bouquet_format_actes::{
    Collectivite, DonneesActe, EnveloppeCl, Limits, Message, Nature, TransactionBase, archive_name,
    enveloppe_name, pack, parse_message, unpack,
};
use jiff::civil::date;

use crate::helpers::{spawn_app, spawn_app_configured, spawn_app_with};

/// Kills the child when the test ends, whatever happens.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `bouquet simulator prefecture` on a free port; returns it and its base URL.
fn start(dir: &std::path::Path, token: &str) -> (Running, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bouquet"))
        .args([
            "simulator",
            "prefecture",
            "--listen",
            "127.0.0.1:0",
            "--dir",
        ])
        .arg(dir)
        .args(["--token", token])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let running = Running(child);
    let line = BufReader::new(stdout)
        .lines()
        .next()
        .expect("a first line")
        .unwrap();
    let url = line
        .strip_prefix("Simulateur de préfecture (@CTES) : ")
        .unwrap_or_else(|| panic!("address line expected, got {line:?}"))
        .to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    (running, url)
}

/// A transmission as Bouquet builds it (an acte and its main document).
fn transmission() -> (String, Vec<u8>) {
    let collectivite = Collectivite {
        siren: "213500051".into(),
        departement: "035".into(),
        arrondissement: 1,
        nature: "31".into(),
    };
    let decided = date(2026, 11, 20);
    let base = TransactionBase::new(
        "035",
        "213500051",
        decided,
        "DEL_2026_1",
        Nature::DE,
        (1, 1),
    );
    let acte = DonneesActe {
        date: decided,
        numero_interne: "DEL_2026_1".into(),
        nature: Nature::DE,
        matieres: vec![1, 1],
        objet: "Attribution du marché de voirie".into(),
        precedent_id_acte: None,
        classification_date: date(2019, 4, 18),
        document: base.piece_name(Some("99_DE"), 1, "pdf"),
        annexes: Vec::new(),
        document_papier: Some(false),
    };
    let today = date(2026, 11, 23);
    let envelope = Message::EnveloppeCLMISILL(EnveloppeCl {
        collectivite,
        referent: None,
        adresses_retour: vec!["actes@bouquet.example.fr".into()],
        formulaires: vec![base.message_name()],
    });
    let files = vec![
        (
            enveloppe_name("213500051", today, 1),
            envelope.to_xml().unwrap(),
        ),
        (
            base.message_name(),
            Message::Acte(acte.clone()).to_xml().unwrap(),
        ),
        (acte.document.clone(), b"%PDF-1.4\n%%EOF\n".to_vec()),
    ];
    (
        archive_name("BQT", "213500051", today, 1),
        pack(&files).unwrap(),
    )
}

#[derive(serde::Deserialize, Debug)]
struct Listed {
    id: String,
    nom: String,
}

async fn mailbox(client: &reqwest::Client, url: &str, token: &str) -> Vec<Listed> {
    let response = client
        .get(format!("{url}actes/retours"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    response.json().await.unwrap()
}

/// Waits for the answer of the background analysis (no deadline is asserted: the loop only
/// bounds a hung simulator).
async fn first_return(client: &reqwest::Client, url: &str, token: &str) -> Listed {
    for _ in 0..600 {
        if let Some(first) = mailbox(client, url, token).await.into_iter().next() {
            return first;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no return in the simulator's mailbox");
}

#[tokio::test]
async fn the_simulator_command_prints_its_address_and_speaks_the_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let (running, url) = start(dir.path(), "jeton-de-test");
    let client = reqwest::Client::new();

    // The page, in French; the protocol behind the token.
    let page = client.get(&url).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("<h1>Simulateur de préfecture (@CTES)</h1>")
    );
    let refused = client
        .get(format!("{url}actes/retours"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 401);
    assert!(mailbox(&client, &url, "jeton-de-test").await.is_empty());

    // A deposit, then its ARActe in the mailbox.
    let (name, bytes) = transmission();
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes)
            .file_name(name)
            .mime_str("application/gzip")
            .unwrap(),
    );
    let deposited = client
        .post(format!("{url}actes/depot"))
        .bearer_auth("jeton-de-test")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(deposited.status().as_u16(), 200);
    assert_eq!(deposited.text().await.unwrap(), "OK");
    let first = first_return(&client, &url, "jeton-de-test").await;
    assert!(
        first.nom.starts_with("EACT--SPREF0351-213500051-"),
        "{}",
        first.nom
    );
    let archive = client
        .get(format!("{url}actes/retours/{}", first.id))
        .bearer_auth("jeton-de-test")
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let files = unpack(&archive, Limits::default()).unwrap();
    let ar = files
        .iter()
        .find_map(|(_, b)| match parse_message(b) {
            Ok(m @ Message::ARActe { .. }) => Some(m),
            _ => None,
        })
        .expect("an ARActe");
    let Message::ARActe { id_acte, .. } = ar else {
        unreachable!()
    };
    assert_eq!(id_acte, "035-213500051-20261120-DEL_2026_1-DE");

    // Killed and started again on the same directory: the mailbox is still there.
    drop(running);
    let (running, url) = start(dir.path(), "jeton-de-test");
    let after = mailbox(&client, &url, "jeton-de-test").await;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].id, first.id);
    let deleted = client
        .delete(format!("{url}actes/retours/{}", first.id))
        .bearer_auth("jeton-de-test")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status().as_u16(), 204);
    assert!(mailbox(&client, &url, "jeton-de-test").await.is_empty());
    drop(running);
}

#[test]
fn the_simulator_command_explains_an_address_in_use() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_bouquet"))
        .args(["simulator", "prefecture", "--listen", &addr])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Impossible d'écouter sur"), "{stderr}");
}

#[tokio::test]
async fn serve_demo_starts_the_simulator_and_points_the_platform_at_it() {
    let app = spawn_app().await;
    let url = app
        .platform
        .settings
        .prefecture_url
        .clone()
        .expect("the demo configures the simulator");
    assert_eq!(url.host_str(), Some("127.0.0.1"));
    assert_eq!(app.platform.settings.prefecture_token, None);
    let listed = reqwest::get(url.join("actes/retours").unwrap())
        .await
        .unwrap();
    assert_eq!(listed.status().as_u16(), 200);
    assert_eq!(listed.text().await.unwrap(), "[]");
    assert!(
        app.data_dir()
            .join("simulateur-prefecture")
            .join("etat.json")
            .exists()
    );
}

#[tokio::test]
async fn a_configured_prefecture_is_used_as_is_and_only_the_demo_starts_a_simulator() {
    let configured: url::Url = "http://127.0.0.1:9/ctes/".parse().unwrap();
    let app = spawn_app_configured(
        bouquet_store::Engine::Sqlite,
        bouquet::modules(),
        true,
        |cfg| {
            cfg.prefecture_url = Some(configured.clone());
            cfg.prefecture_token = Some("jeton".into());
        },
    )
    .await;
    assert_eq!(app.platform.settings.prefecture_url, Some(configured));
    assert_eq!(
        app.platform.settings.prefecture_token.as_deref(),
        Some("jeton")
    );
    assert!(!app.data_dir().join("simulateur-prefecture").exists());
    // The token never reaches the logs.
    assert!(!format!("{:?}", app.platform.settings).contains("jeton"));

    let app = spawn_app_with(bouquet_store::Engine::Sqlite, bouquet::modules(), false).await;
    assert_eq!(app.platform.settings.prefecture_url, None);
}
