//! Each member's ACTES settings: its préfecture and arrondissement, the code nature of the
//! collectivité, the date of its convention with the préfecture, the parapheur circuit proposed
//! before transmission, and the classification the préfecture sent (matières, natures and
//! their typologies de pièce).
//!
//! The classification is saved only through [`store_classification`] (the exchange calls it
//! when a `RetourClassification` arrives; the demo with `Classification::demo()`).

use std::borrow::Borrow;

use bouquet_format_actes::{Classification, Collectivite, FormatError};
use bouquet_kernel::clock::to_micros;
use bouquet_kernel::{AppError, FieldError, OrgId};
use bouquet_store::audit::{self, AuditActor, NewEvent};
use bouquet_store::db::{Handle, Tx};
use bouquet_store::{StoreError, StoreResult, exec, run};
use jiff::Timestamp;
use jiff::civil::Date;
use serde_json::json;

/// One organisation's settings, as stored.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct SettingsRow {
    pub org_id: String,
    /// "035": the département as written in IDActe.
    pub departement: String,
    /// One digit, or empty until it is entered.
    pub arrondissement: String,
    /// "Préfecture d'Ille-et-Vilaine", as people say it.
    pub prefecture: String,
    /// IDCL/@Nature, 2 digits, or empty until it is entered.
    pub nature_collectivite: String,
    pub convention_date: Option<String>,
    pub classification_date: Option<String>,
    pub classification_received_at: Option<i64>,
    pub classification: Option<String>,
    pub circuit_id: Option<String>,
    pub updated_at: i64,
}

impl SettingsRow {
    /// The classification in use, if one was received (an unreadable one counts as none).
    pub fn classification(&self) -> Option<Classification> {
        self.classification
            .as_deref()
            .and_then(|json| Classification::from_json(json).ok())
    }

    /// The sender as IDCL names it, when the settings are complete and valid.
    pub fn collectivite(&self, siren: &str) -> Result<Collectivite, FormatError> {
        let arrondissement = self.arrondissement.parse::<u8>().map_err(|_| {
            FormatError::Rule("L'arrondissement n'est pas renseigné (un chiffre).".into())
        })?;
        let c = Collectivite {
            siren: siren.to_owned(),
            departement: self.departement.clone(),
            arrondissement,
            nature: self.nature_collectivite.clone(),
        };
        c.check()?;
        Ok(c)
    }
}

const COLUMNS: &str = "org_id, departement, arrondissement, prefecture, nature_collectivite, \
    convention_date, classification_date, classification_received_at, classification, \
    circuit_id, updated_at";

/// The settings of `org`, if any were saved.
pub async fn get(h: &mut impl Handle, org: OrgId) -> StoreResult<Option<SettingsRow>> {
    let sql = format!("SELECT {COLUMNS} FROM actes_settings WHERE org_id = $1");
    Ok(run!(h, |c| sqlx::query_as(sqlx::AssertSqlSafe(
        sql.as_str()
    ))
    .bind(org.to_string())
    .fetch_optional(c)
    .await)?)
}

/// What an administrator enters on the settings page.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SettingsInput {
    pub prefecture: String,
    pub departement: String,
    pub arrondissement: String,
    pub nature_collectivite: String,
    pub convention_date: Option<Date>,
    pub circuit_id: Option<String>,
}

/// `35` → `035`, `2a` → `02A`: the département as IDActe writes it.
pub fn normalize_departement(raw: &str) -> String {
    let d = raw.trim().to_uppercase();
    if d.len() < 3 && !d.is_empty() {
        format!("{d:0>3}")
    } else {
        d
    }
}

/// Reads and checks the settings form: every field gets its French message.
pub fn check_input(
    prefecture: &str,
    departement: &str,
    arrondissement: &str,
    nature_collectivite: &str,
    convention_date: &str,
    today: Date,
) -> Result<SettingsInput, Vec<FieldError>> {
    let mut errors = Vec::new();
    let prefecture = prefecture.trim().to_owned();
    if prefecture.is_empty() {
        errors.push(FieldError::new(
            "prefecture",
            "Indiquez la préfecture ou la sous-préfecture qui contrôle vos actes.",
        ));
    } else if prefecture.chars().count() > 200 {
        errors.push(FieldError::new("prefecture", "200 caractères au plus."));
    }
    let departement = normalize_departement(departement);
    if let Err(e) = bouquet_format_actes::check_departement(&departement) {
        errors.push(FieldError::new("departement", e.to_string()));
    }
    let arrondissement = arrondissement.trim().to_owned();
    if arrondissement.len() != 1 || !arrondissement.bytes().all(|b| b.is_ascii_digit()) {
        errors.push(FieldError::new(
            "arrondissement",
            "Indiquez le numéro de l'arrondissement : un seul chiffre (par exemple 1).",
        ));
    }
    let nature_collectivite = nature_collectivite.trim().to_owned();
    if let Err(e) = bouquet_format_actes::check_nature_collectivite(&nature_collectivite) {
        errors.push(FieldError::new("nature_collectivite", e.to_string()));
    }
    let convention_date = match convention_date.trim() {
        "" => None,
        raw => match raw.parse::<Date>() {
            Ok(d) if d <= today => Some(d),
            Ok(_) => {
                errors.push(FieldError::new(
                    "convention_date",
                    "La date de la convention ne peut pas être dans le futur.",
                ));
                None
            }
            Err(_) => {
                errors.push(FieldError::new(
                    "convention_date",
                    "Date incorrecte : utilisez le format JJ/MM/AAAA ou le calendrier.",
                ));
                None
            }
        },
    };
    if errors.is_empty() {
        Ok(SettingsInput {
            prefecture,
            departement,
            arrondissement,
            nature_collectivite,
            convention_date,
            circuit_id: None,
        })
    } else {
        Err(errors)
    }
}

/// Saves the settings an administrator entered (the classification is left as it is).
pub async fn save(
    tx: &mut Tx,
    now: Timestamp,
    org: OrgId,
    input: &SettingsInput,
    actor: &AuditActor,
) -> StoreResult<()> {
    let convention = input.convention_date.map(|d| d.to_string());
    exec!(
        tx,
        sqlx::query(
            "INSERT INTO actes_settings (org_id, departement, arrondissement, prefecture, \
         nature_collectivite, convention_date, circuit_id, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (org_id) DO UPDATE SET departement = excluded.departement, \
         arrondissement = excluded.arrondissement, prefecture = excluded.prefecture, \
         nature_collectivite = excluded.nature_collectivite, \
         convention_date = excluded.convention_date, circuit_id = excluded.circuit_id, \
         updated_at = excluded.updated_at"
        )
        .bind(org.to_string())
        .bind(&input.departement)
        .bind(&input.arrondissement)
        .bind(&input.prefecture)
        .bind(&input.nature_collectivite)
        .bind(&convention)
        .bind(&input.circuit_id)
        .bind(to_micros(now))
    )?;
    audit::append(
        tx,
        now,
        NewEvent::new(
            Some(org),
            actor,
            "actes.settings.updated",
            "actes_settings",
            org,
        )
        .details(json!({
            "prefecture": input.prefecture,
            "departement": input.departement,
            "arrondissement": input.arrondissement,
            "nature_collectivite": input.nature_collectivite,
            "convention": convention,
            "circuit": input.circuit_id,
        })),
    )
    .await?;
    Ok(())
}

/// Saves the classification `org` received from its préfecture (the only way one is saved):
/// its content, its date and when it arrived, with a journal entry. Settings that do not
/// exist yet are created empty (the administrator completes them).
pub async fn store_classification(
    tx: &mut Tx,
    org: OrgId,
    classification: impl Borrow<Classification>,
    received_at: Timestamp,
) -> StoreResult<()> {
    let c: &Classification = classification.borrow();
    if c.matieres.is_empty() {
        return Err(StoreError::App(AppError::Conflict(
            "La classification reçue ne contient aucune matière : elle n'est pas enregistrée."
                .into(),
        )));
    }
    let date = c.date.to_string();
    let at = to_micros(received_at);
    exec!(
        tx,
        sqlx::query(
            "INSERT INTO actes_settings (org_id, departement, arrondissement, prefecture, \
         nature_collectivite, classification_date, classification_received_at, classification, \
         updated_at) VALUES ($1, '', '', '', '', $2, $3, $4, $3) \
         ON CONFLICT (org_id) DO UPDATE SET classification_date = excluded.classification_date, \
         classification_received_at = excluded.classification_received_at, \
         classification = excluded.classification, updated_at = excluded.updated_at"
        )
        .bind(org.to_string())
        .bind(&date)
        .bind(at)
        .bind(c.to_json())
    )?;
    let matieres: usize = c.matieres.len();
    audit::append(
        tx,
        received_at,
        NewEvent::new(
            Some(org),
            &AuditActor {
                user_id: None,
                label: "Préfecture".into(),
            },
            "actes.classification.stored",
            "actes_settings",
            org,
        )
        .details(json!({ "date": date, "matieres_niveau_1": matieres })),
    )
    .await?;
    Ok(())
}

/// The settings that are still missing for `org` to transmit, in French (empty when
/// everything is there). `siren` is the organisation's.
pub fn missing(settings: Option<&SettingsRow>, siren: &str) -> Vec<String> {
    let Some(s) = settings else {
        return vec![
            "Les paramètres des actes de votre organisation ne sont pas renseignés (préfecture, arrondissement, convention) : un administrateur de l'organisation les complète dans « Actes › Paramètres ».".into(),
        ];
    };
    let mut out = Vec::new();
    if s.prefecture.trim().is_empty() || s.collectivite(siren).is_err() {
        out.push("Les paramètres des actes sont incomplets (préfecture, département, arrondissement ou code nature de la collectivité) : un administrateur les complète dans « Actes › Paramètres ».".into());
    }
    if s.convention_date.is_none() {
        out.push("La date de la convention signée avec la préfecture n'est pas renseignée : sans convention, la préfecture refuse les transmissions.".into());
    }
    if s.classification().is_none() {
        out.push("La classification de votre préfecture (matières et typologies des pièces) n'a pas encore été reçue : demandez-la depuis « Actes › Paramètres ».".into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> Date {
        Date::constant(2026, 11, 23)
    }

    #[test]
    fn departements_are_written_on_three_characters() {
        assert_eq!(normalize_departement("35"), "035");
        assert_eq!(normalize_departement(" 2a "), "02A");
        assert_eq!(normalize_departement("974"), "974");
    }

    #[test]
    fn settings_input_is_checked_field_by_field() {
        let ok = check_input(
            "Préfecture d'Ille-et-Vilaine",
            "35",
            "1",
            "31",
            "2025-01-15",
            today(),
        )
        .unwrap();
        assert_eq!(ok.departement, "035");
        assert_eq!(ok.convention_date, Some(Date::constant(2025, 1, 15)));
        let errors = check_input("", "ABC", "12", "3", "2030-01-01", today()).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "prefecture",
                "departement",
                "arrondissement",
                "nature_collectivite",
                "convention_date"
            ]
        );
        assert!(errors.iter().all(|e| !e.message.is_empty()));
    }

    #[test]
    fn missing_settings_are_told_in_french() {
        assert_eq!(missing(None, "213500051").len(), 1);
        let row = SettingsRow {
            org_id: String::new(),
            departement: "035".into(),
            arrondissement: "1".into(),
            prefecture: "Préfecture".into(),
            nature_collectivite: "31".into(),
            convention_date: Some("2025-01-15".into()),
            classification_date: Some("2019-04-18".into()),
            classification_received_at: Some(0),
            classification: Some(Classification::demo().to_json()),
            circuit_id: None,
            updated_at: 0,
        };
        assert!(missing(Some(&row), "213500051").is_empty());
        let bare = SettingsRow {
            convention_date: None,
            classification: None,
            arrondissement: String::new(),
            ..row
        };
        assert_eq!(missing(Some(&bare), "213500051").len(), 3);
    }
}
