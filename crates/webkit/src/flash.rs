//! One-time notices after a redirect ("Mot de passe modifié.").
//!
//! The cookie carries a code, never free text: only the messages listed here, or by a
//! module's [`Module::flash`](crate::Module::flash), can be shown, so a forged cookie cannot
//! put words in Bouquet's mouth.

use axum::http::{HeaderValue, header};
use axum::response::Response;

use crate::cookies;

pub fn message(code: &str) -> Option<&'static str> {
    Some(match code {
        "connexion" => "Vous êtes connecté.",
        "deconnexion" => "Vous êtes déconnecté. À bientôt !",
        "session-expiree" => "Votre session a expiré. Connectez-vous à nouveau.",
        "mot-de-passe-modifie" => {
            "Votre mot de passe a été modifié. Vos autres sessions ont été fermées."
        }
        "mot-de-passe-reinitialise" => {
            "Votre mot de passe a été réinitialisé. Vous pouvez vous connecter."
        }
        "jeton-revoque" => "Le jeton a été révoqué : il ne fonctionne plus.",
        "roles-modifies" => "Les rôles ont été modifiés.",
        "acces-retire" => "L'accès à l'organisation a été retiré.",
        "message-envoye" => "Votre message a été envoyé.",
        "parametres-enregistres" => "Les paramètres ont été enregistrés.",
        "tache-relancee" => "La tâche a été remise dans la file d'attente.",
        "compte-cree" => {
            "Le compte a été créé. Un courriel a été envoyé pour choisir le mot de passe."
        }
        "compte-desactive" => {
            "Le compte a été désactivé : ses sessions et ses jetons ne fonctionnent plus."
        }
        "compte-reactive" => "Le compte a été réactivé.",
        "lien-envoye" => {
            "Un lien pour choisir un nouveau mot de passe a été envoyé par courriel (valable une heure)."
        }
        "compte-deja-dans-cet-etat" => "Le compte était déjà dans cet état : rien n'a changé.",
        "invitation-envoyee" => "L'invitation a été envoyée par courriel (lien valable 7 jours).",
        "invitation-renvoyee" => {
            "Un nouveau lien d'invitation a été envoyé (valable 7 jours) : l'ancien ne fonctionne plus."
        }
        "invitation-annulee" => "L'invitation a été annulée : son lien ne fonctionne plus.",
        "invitation-acceptee" => "Bienvenue ! Vous avez maintenant accès à cette organisation.",
        "entreprise-inscrite" => {
            "L'espace de votre entreprise est créé. Invitez vos collègues depuis « Utilisateurs »."
        }
        "journal-intact" => "Le journal est intact : aucune modification détectée.",
        _ => return None,
    })
}

/// Adds a notice to a response (usually a redirect). Unknown codes are dropped when read.
pub fn set(mut response: Response, code: &str, secure: bool) -> Response {
    if let Some(v) = cookies::set(cookies::FLASH, code, secure, Some(60)) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// The `Set-Cookie` that consumes the notice once shown.
pub fn consumed(secure: bool) -> Option<HeaderValue> {
    cookies::clear(cookies::FLASH, secure)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_codes_have_messages() {
        assert!(message("connexion").is_some());
        assert!(message("<script>").is_none());
    }
}
