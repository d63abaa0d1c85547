//! Verifying the XML-DSig / XAdES signatures of a PES Aller flow.

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use jiff::Timestamp;

use super::c14n::{self, Method};
use super::document::Document;
use super::{DS, ENVELOPED, base64_decode, cert, digest_algorithm, parse_pes_aller};
use crate::error::Result;
use crate::pki;
use crate::report::{CertificateInfo, Check, SignatureFormat, SignatureReport};

/// Namespace of `InclusiveNamespaces` (exclusive canonicalisation parameter).
const EXC_C14N_NS: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
/// Every XAdES version shares this namespace prefix (1.1.1, 1.2.2, 1.3.2, 1.4.1).
const XADES_NS_START: &str = "http://uri.etsi.org/01903/";

/// Verifies every `ds:Signature` of a PES Aller flow, in document order (none: empty list).
///
/// For each: both references' digests and the signature value over the canonical SignedInfo
/// (integrity), that the signature covers the element containing it (coverage), the signer's
/// certificate (embedded), its match with the signed SigningCertificate and its validity at
/// `at` (default: the claimed SigningTime). `anchors` are the trusted roots (DER).
pub fn verify_pes(
    xml: &[u8],
    anchors: &[Vec<u8>],
    at: Option<Timestamp>,
) -> Result<Vec<SignatureReport>> {
    let doc = parse_pes_aller(xml)?;
    let mut signatures = doc.descendants(doc.root, DS, "Signature");
    // Signatures inside signatures (counter-signatures) are not PES: only the outer ones.
    signatures.retain(|&s| !inside_signature(&doc, s));
    Ok(signatures
        .iter()
        .enumerate()
        .map(|(i, &s)| verify_signature(&doc, s, i, anchors, at))
        .collect())
}

fn inside_signature(doc: &Document, element: usize) -> bool {
    let mut current = doc.element(element).parent;
    while let Some(e) = current {
        if doc.element(e).name.is(DS, "Signature") {
            return true;
        }
        current = doc.element(e).parent;
    }
    false
}

fn verify_signature(
    doc: &Document,
    signature: usize,
    index: usize,
    anchors: &[Vec<u8>],
    at: Option<Timestamp>,
) -> SignatureReport {
    let name = doc
        .element(signature)
        .id()
        .map_or_else(|| format!("signature n° {}", index + 1), str::to_string);
    let mut report = SignatureReport::new(SignatureFormat::Xades, name);
    let certificates = embedded_certificates(doc, signature);
    let certificate = certificates.first();
    report.signer = certificate.and_then(|der| pki::certificate_info(der).ok());
    report.claimed_time = signing_time(doc, signature);
    report.integrity = match integrity(doc, signature, certificate.map(Vec::as_slice)) {
        Ok(()) => Check::Ok,
        Err(reason) => Check::Failed(reason),
    };
    report.coverage = coverage(doc, signature);
    let (check, chain) = certificate_check(
        doc,
        signature,
        &certificates,
        anchors,
        at.or(report.claimed_time),
    );
    report.certificate = check;
    report.chain = chain;
    report
}

/// The `ds:X509Certificate`s of the signature's KeyInfo, in order (the signer's first).
fn embedded_certificates(doc: &Document, signature: usize) -> Vec<Vec<u8>> {
    let Some(key_info) = doc.child(signature, DS, "KeyInfo") else {
        return Vec::new();
    };
    doc.descendants(key_info, DS, "X509Certificate")
        .into_iter()
        .filter_map(|e| base64_decode(&doc.text_of(e)))
        .collect()
}

/// Elements below `id` whose local name is `local`, in any XAdES namespace.
fn xades_descendants(doc: &Document, id: usize, local: &str) -> Vec<usize> {
    let mut found = doc.all_descendants(id);
    found.retain(|&e| {
        let name = &doc.element(e).name;
        name.local == local && name.ns.starts_with(XADES_NS_START)
    });
    found
}

fn signing_time(doc: &Document, signature: usize) -> Option<Timestamp> {
    let element = *xades_descendants(doc, signature, "SigningTime").first()?;
    doc.text_of(element).trim().parse().ok()
}

fn algorithm_of(doc: &Document, element: usize) -> String {
    doc.element(element)
        .attribute("Algorithm")
        .unwrap_or_default()
        .to_string()
}

/// The canonicalisation a `CanonicalizationMethod` or `Transform` names, with its PrefixList.
fn c14n_method(doc: &Document, element: usize) -> Option<Method> {
    match Method::from_uri(&algorithm_of(doc, element))? {
        Method::Exclusive(_) => {
            let prefixes = doc
                .child(element, EXC_C14N_NS, "InclusiveNamespaces")
                .and_then(|e| doc.element(e).attribute("PrefixList").map(str::to_string))
                .map(|list| list.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default();
            Some(Method::Exclusive(prefixes))
        }
        inclusive => Some(inclusive),
    }
}

/// Every reference digest and the signature value; the first failure, in French.
fn integrity(
    doc: &Document,
    signature: usize,
    certificate: Option<&[u8]>,
) -> std::result::Result<(), String> {
    let signed_info = doc
        .child(signature, DS, "SignedInfo")
        .ok_or("signature incomplète : élément SignedInfo absent")?;
    let references: Vec<usize> = doc
        .child_elements(signed_info)
        .filter(|&e| doc.element(e).name.is(DS, "Reference"))
        .collect();
    if references.is_empty() {
        return Err("signature incomplète : aucune référence".into());
    }
    for reference in references {
        check_reference(doc, signature, reference)?;
    }
    let method = doc
        .child(signed_info, DS, "CanonicalizationMethod")
        .and_then(|e| c14n_method(doc, e))
        .ok_or("méthode de canonicalisation absente ou non prise en charge")?;
    let canonical = c14n::canonicalize(doc, signed_info, None, &method);
    let algorithm = doc
        .child(signed_info, DS, "SignatureMethod")
        .map(|e| algorithm_of(doc, e))
        .unwrap_or_default();
    let value = doc
        .child(signature, DS, "SignatureValue")
        .and_then(|e| base64_decode(&doc.text_of(e)))
        .ok_or("valeur de signature absente ou illisible")?;
    let der = certificate.ok_or("aucun certificat X.509 dans la signature (KeyInfo)")?;
    let certificate = cert::parse(der).map_err(|e| e.to_string())?;
    let algorithm = verification_algorithm(&algorithm)
        .ok_or_else(|| format!("algorithme de signature non pris en charge ({algorithm})"))?;
    UnparsedPublicKey::new(algorithm, cert::public_key(&certificate))
        .verify(canonical.as_bytes(), &value)
        .map_err(|_| {
            "la valeur de signature ne correspond pas aux informations signées (SignedInfo) \
             ou à la clé du certificat"
                .to_string()
        })
}

fn verification_algorithm(uri: &str) -> Option<&'static dyn VerificationAlgorithm> {
    Some(match uri {
        "http://www.w3.org/2000/09/xmldsig#rsa-sha1" => {
            &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY
        }
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" => {
            &signature::RSA_PKCS1_2048_8192_SHA256
        }
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384" => {
            &signature::RSA_PKCS1_2048_8192_SHA384
        }
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512" => {
            &signature::RSA_PKCS1_2048_8192_SHA512
        }
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256" => {
            &signature::ECDSA_P256_SHA256_FIXED
        }
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384" => {
            &signature::ECDSA_P384_SHA384_FIXED
        }
        _ => return None,
    })
}

/// The element a same-document reference URI points at; ambiguous Ids are refused (they are
/// how signature-wrapping attacks work).
fn resolve(doc: &Document, uri: &str) -> std::result::Result<usize, String> {
    if uri.is_empty() || uri == "#xpointer(/)" {
        return Ok(doc.root);
    }
    let id = uri
        .strip_prefix("#xpointer(id('")
        .and_then(|rest| rest.strip_suffix("'))"))
        .or_else(|| uri.strip_prefix('#'))
        .ok_or_else(|| format!("référence externe « {uri} » non prise en charge"))?;
    match doc.elements_with_id(id).as_slice() {
        [element] => Ok(*element),
        [] => Err(format!("l'élément référencé « {uri} » est introuvable")),
        _ => Err(format!(
            "l'identifiant « {id} » apparaît plusieurs fois dans le fichier"
        )),
    }
}

fn check_reference(
    doc: &Document,
    signature: usize,
    reference: usize,
) -> std::result::Result<(), String> {
    let uri = doc
        .element(reference)
        .attribute("URI")
        .ok_or("référence sans URI non prise en charge")?;
    let target = resolve(doc, uri)?;
    let mut excluded = None;
    let mut method = Method::Inclusive;
    if let Some(transforms) = doc.child(reference, DS, "Transforms") {
        for transform in doc.child_elements(transforms) {
            let algorithm = algorithm_of(doc, transform);
            if algorithm == ENVELOPED {
                excluded = Some(signature);
            } else {
                method = c14n_method(doc, transform)
                    .ok_or_else(|| format!("transformation non prise en charge ({algorithm})"))?;
            }
        }
    }
    let digest_method = doc
        .child(reference, DS, "DigestMethod")
        .map(|e| algorithm_of(doc, e))
        .unwrap_or_default();
    let digest = digest_algorithm(&digest_method)
        .ok_or_else(|| format!("algorithme d'empreinte non pris en charge ({digest_method})"))?;
    let expected = doc
        .child(reference, DS, "DigestValue")
        .and_then(|e| base64_decode(&doc.text_of(e)))
        .ok_or("empreinte de référence absente ou illisible")?;
    let canonical = c14n::canonicalize(doc, target, excluded, &method);
    if aws_lc_rs::digest::digest(digest, canonical.as_bytes()).as_ref() != expected.as_slice() {
        return Err(format!(
            "le contenu signé (référence « {uri} ») a été modifié depuis la signature"
        ));
    }
    Ok(())
}

/// The signature must cover the element it sits in (the bordereau or the whole flow) through
/// an enveloped reference; otherwise it proves nothing about that element.
fn coverage(doc: &Document, signature: usize) -> Check {
    let Some(parent) = doc.element(signature).parent else {
        return Check::Failed("la signature n'est dans aucun élément".into());
    };
    let covered = doc
        .child(signature, DS, "SignedInfo")
        .into_iter()
        .flat_map(|si| doc.child_elements(si).collect::<Vec<_>>())
        .filter(|&r| doc.element(r).name.is(DS, "Reference"))
        .any(|r| {
            let uri = doc.element(r).attribute("URI").unwrap_or("#");
            let enveloped = doc.child(r, DS, "Transforms").is_some_and(|t| {
                doc.child_elements(t)
                    .any(|tr| algorithm_of(doc, tr) == ENVELOPED)
            });
            enveloped && resolve(doc, uri) == Ok(parent)
        });
    if covered {
        Check::Ok
    } else {
        Check::Failed(format!(
            "la signature ne porte pas sur l'élément « {} » qui la contient",
            doc.element(parent).name.local
        ))
    }
}

/// SigningCertificate, then the chain (with validity at `at`) through [`pki::verify_chain`].
/// Returns the check and the path found, signer first.
fn certificate_check(
    doc: &Document,
    signature: usize,
    certificates: &[Vec<u8>],
    anchors: &[Vec<u8>],
    at: Option<Timestamp>,
) -> (Check, Vec<CertificateInfo>) {
    let Some((der, intermediates)) = certificates.split_first() else {
        return (
            Check::Failed("aucun certificat X.509 dans la signature (KeyInfo)".into()),
            Vec::new(),
        );
    };
    if let Err(reason) = check_signing_certificate(doc, signature, der) {
        return (Check::Failed(reason), Vec::new());
    }
    let Some(at) = at else {
        return (
            Check::NotChecked("date de signature inconnue : la chaîne n'est pas vérifiée".into()),
            Vec::new(),
        );
    };
    if anchors.is_empty() {
        return (not_checked_without_anchors(der, at), Vec::new());
    }
    match pki::verify_chain(der, intermediates, anchors, at) {
        Ok(path) => (Check::Ok, path),
        Err(error) => (Check::Failed(error.to_string()), Vec::new()),
    }
}

/// Without trusted authorities the chain is not checked, but an expired certificate is said.
fn not_checked_without_anchors(der: &[u8], at: Timestamp) -> Check {
    match pki::certificate_info(der) {
        Ok(info) if at < info.not_before || at > info.not_after => Check::Failed(format!(
            "le certificat n'était pas valide le {} (valide du {} au {}) ; \
             aucune autorité de confiance fournie pour vérifier sa chaîne",
            pki::french_date(at),
            pki::french_date(info.not_before),
            pki::french_date(info.not_after)
        )),
        Ok(_) => Check::NotChecked(
            "aucune autorité de confiance fournie : la chaîne du certificat n'est pas vérifiée"
                .into(),
        ),
        Err(error) => Check::Failed(error.to_string()),
    }
}

/// The signed `SigningCertificate` digest must be the embedded certificate's.
fn check_signing_certificate(
    doc: &Document,
    signature: usize,
    der: &[u8],
) -> std::result::Result<(), String> {
    let Some(&cert_digest) = xades_descendants(doc, signature, "CertDigest").first() else {
        return Err("propriété signée SigningCertificate absente".into());
    };
    let method = doc
        .all_descendants(cert_digest)
        .into_iter()
        .find(|&e| doc.element(e).name.local == "DigestMethod")
        .map(|e| algorithm_of(doc, e))
        .unwrap_or_default();
    let expected = doc
        .all_descendants(cert_digest)
        .into_iter()
        .find(|&e| doc.element(e).name.local == "DigestValue")
        .and_then(|e| base64_decode(&doc.text_of(e)))
        .ok_or("empreinte SigningCertificate illisible")?;
    let algorithm = digest_algorithm(&method)
        .ok_or_else(|| format!("algorithme d'empreinte non pris en charge ({method})"))?;
    if aws_lc_rs::digest::digest(algorithm, der).as_ref() != expected.as_slice() {
        return Err(
            "le certificat joint n'est pas celui désigné par les propriétés signées \
             (SigningCertificate)"
                .into(),
        );
    }
    Ok(())
}
