//! Signing a PES Aller flow: enveloped XAdES-EPES inserted as text before closing tags.

use std::collections::HashSet;

use x509_cert::Certificate;

use super::c14n::{self, Method};
use super::document::Document;
use super::{
    DS, ENVELOPED, POLICY_DESCRIPTION, POLICY_HASH_SHA256, POLICY_OID, POLICY_URI, PesScope,
    PesSignOptions, SHA256, SIGNED_PROPERTIES_TYPE, XAD, base64_encode, bordereaux, cert, escape,
    parse_pes_aller, sha256_base64,
};
use crate::error::{CryptoError, Result};
use crate::keys::{Credential, SignatureAlgorithm, SigningKey};

const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
const ECDSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256";

/// Signs a PES Aller flow (XAdES-EPES enveloped, Hélios policy) and returns the signed file:
/// the input bytes with, for each signed element, a missing `Id` added and the `ds:Signature`
/// inserted just before its closing tag, in the file's encoding.
///
/// Refuses DOCTYPEs, files that are not well-formed, flows that are not PES Aller, flows
/// without a bordereau and elements already signed.
pub fn sign_pes(xml: &[u8], credential: &Credential, options: &PesSignOptions) -> Result<Vec<u8>> {
    let doc = parse_pes_aller(xml)?;
    let bordereaux = bordereaux(&doc);
    if bordereaux.is_empty() {
        return Err(CryptoError::bad_input(
            "Le flux PES ne contient aucun bordereau (PES_DepenseAller ou PES_RecetteAller) à signer.",
        ));
    }
    let targets = match options.scope {
        PesScope::EachBordereau => bordereaux,
        PesScope::WholeFlow => vec![doc.root],
    };
    for &target in &targets {
        refuse_if_signed(&doc, target)?;
    }
    let mut ids = Ids::new(&doc);
    // Adding an attribute changes no element order: the targets keep their indices.
    let (xml, doc) = with_ids(xml, doc, &targets, &mut ids)?;
    let certificate = cert::parse(&credential.certificate)?;
    let mut insertions = Vec::new();
    for &target in &targets {
        let element = doc.element(target);
        let end = element.end_tag.ok_or_else(|| {
            CryptoError::bad_input(format!(
                "L'élément « {} » est vide : il ne peut pas porter de signature.",
                element.name.local
            ))
        })?;
        let target_id = element.id().unwrap_or_default().to_string();
        let signature_id = ids.fresh(&format!("{target_id}_SIG_1"));
        let properties_id = ids.fresh(&format!("{signature_id}_SP"));
        let value_id = ids.fresh(&format!("{signature_id}_SV"));
        let signature = Signer {
            credential,
            certificate: &certificate,
            options,
        }
        .signature(
            &doc,
            target,
            &target_id,
            [&signature_id, &properties_id, &value_id],
        )?;
        insertions.push((doc.original_offset(end), doc.encoding.encode(&signature)));
    }
    let signed = insert(&xml, insertions);
    self_check(&signed)?;
    Ok(signed)
}

fn refuse_if_signed(doc: &Document, target: usize) -> Result<()> {
    if doc.child(target, DS, "Signature").is_some() {
        let element = doc.element(target);
        let name = match element.id() {
            Some(id) => format!("{} « {id} »", element.name.local),
            None => element.name.local.clone(),
        };
        return Err(CryptoError::bad_input(format!(
            "L'élément {name} est déjà signé : une seule signature y est permise."
        )));
    }
    Ok(())
}

/// The `Id` values of the document, to make new ones unique.
struct Ids(HashSet<String>);

impl Ids {
    fn new(doc: &Document) -> Self {
        Ids(doc
            .elements
            .iter()
            .filter_map(|e| e.id().map(str::to_string))
            .collect())
    }

    /// `base`, or `base_2`, `base_3`… if taken; reserved from then on.
    fn fresh(&mut self, base: &str) -> String {
        let mut candidate = base.to_string();
        let mut n = 2;
        while self.0.contains(&candidate) {
            candidate = format!("{base}_{n}");
            n += 1;
        }
        self.0.insert(candidate.clone());
        candidate
    }
}

/// Adds an `Id` to the targets without one (signatures point at it), then parses again.
fn with_ids(
    xml: &[u8],
    doc: Document,
    targets: &[usize],
    ids: &mut Ids,
) -> Result<(Vec<u8>, Document)> {
    let mut insertions = Vec::new();
    for &target in targets {
        let element = doc.element(target);
        if element.id().is_some() {
            continue;
        }
        let base = if target == doc.root {
            "PES_Aller".to_string()
        } else {
            format!("BORD{}", bordereau_number(&doc, target).unwrap_or_default())
        };
        let id = ids.fresh(&base);
        let after_name = element.start + 1 + element.name.qualified().len();
        let attribute = doc.encoding.encode(&format!(" Id=\"{}\"", escape(&id)));
        insertions.push((doc.original_offset(after_name), attribute));
    }
    if insertions.is_empty() {
        return Ok((xml.to_vec(), doc));
    }
    let xml = insert(xml, insertions);
    let doc = Document::parse(&xml)?;
    Ok((xml, doc))
}

/// `BlocBordereau/IdBord/@V` when it is a plain number.
fn bordereau_number(doc: &Document, bordereau: usize) -> Option<String> {
    let bloc = doc
        .child_elements(bordereau)
        .find(|&e| doc.element(e).name.local == "BlocBordereau")?;
    let id_bord = doc
        .child_elements(bloc)
        .find(|&e| doc.element(e).name.local == "IdBord")?;
    let value = doc.element(id_bord).attribute("V")?.trim().to_string();
    (!value.is_empty() && value.chars().all(|c| c.is_ascii_digit())).then_some(value)
}

/// Inserts byte strings at offsets of `xml`.
fn insert(xml: &[u8], mut insertions: Vec<(usize, Vec<u8>)>) -> Vec<u8> {
    insertions.sort_by_key(|(offset, _)| *offset);
    let extra: usize = insertions.iter().map(|(_, bytes)| bytes.len()).sum();
    let mut out = Vec::with_capacity(xml.len() + extra);
    let mut copied = 0;
    for (offset, bytes) in insertions {
        out.extend_from_slice(&xml[copied..offset]);
        out.extend_from_slice(&bytes);
        copied = offset;
    }
    out.extend_from_slice(&xml[copied..]);
    out
}

/// Verifies the integrity of what was just signed: a bug here must never reach Hélios.
fn self_check(signed: &[u8]) -> Result<()> {
    for report in super::verify_pes(signed, &[], None)? {
        if let crate::report::Check::Failed(reason) = report.integrity {
            return Err(CryptoError::internal(format!(
                "la signature produite ne se vérifie pas ({reason})"
            )));
        }
    }
    Ok(())
}

struct Signer<'a> {
    credential: &'a Credential,
    certificate: &'a Certificate,
    options: &'a PesSignOptions,
}

impl Signer<'_> {
    /// The `ds:Signature` element over `target`, as text. It declares the `ds` prefix itself,
    /// and `QualifyingProperties` the `xad` one, so that its canonical parts do not depend on
    /// where it is inserted.
    fn signature(
        &self,
        doc: &Document,
        target: usize,
        target_id: &str,
        [signature_id, properties_id, value_id]: [&str; 3],
    ) -> Result<String> {
        let exclusive = Method::Exclusive(Vec::new());
        let data_digest =
            sha256_base64(c14n::canonicalize(doc, target, None, &exclusive).as_bytes());
        let object = self.qualifying_properties(signature_id, properties_id);
        let properties_digest =
            sha256_base64(canonical_part(&object, XAD, "SignedProperties")?.as_bytes());
        let signed_info = signed_info(
            self.credential.key.algorithm(),
            [target_id, &data_digest],
            [properties_id, &properties_digest],
        );
        let canonical_signed_info = canonical_part(&signed_info, DS, "SignedInfo")?;
        let value = signature_value(&self.credential.key, canonical_signed_info.as_bytes())?;
        Ok(format!(
            "<ds:Signature xmlns:ds=\"{DS}\" Id=\"{id}\">{signed_info}\
             <ds:SignatureValue Id=\"{value_id}\">{value}</ds:SignatureValue>\
             <ds:KeyInfo><ds:X509Data><ds:X509Certificate>{certificate}</ds:X509Certificate>\
             </ds:X509Data></ds:KeyInfo>{object}</ds:Signature>",
            id = escape(signature_id),
            value_id = escape(value_id),
            value = base64_encode(&value),
            certificate = base64_encode(&self.credential.certificate),
        ))
    }

    /// `ds:Object/xad:QualifyingProperties`, namespaces as in the Pastell fixture. Like every
    /// French PES signer seen (Pastell, Berger-Levrault, Stela), `CertDigest` and `SigPolicyHash`
    /// hold `xad:DigestMethod`/`xad:DigestValue` (the XAdES 1.1.1 structure) where the 1.2.2
    /// schema wants `ds:` ones: kept so, to be read as Hélios reads Pastell's. The certificate
    /// digest is SHA-256 (Pastell's is SHA-1).
    fn qualifying_properties(&self, signature_id: &str, properties_id: &str) -> String {
        let options = self.options;
        let signing_time = options.signing_time.strftime("%Y-%m-%dT%H:%M:%SZ");
        format!(
            "<ds:Object><xad:QualifyingProperties Target=\"#{target}\" xmlns:xad=\"{XAD}\" xmlns=\"{XAD}\">\
             <xad:SignedProperties Id=\"{properties_id}\"><xad:SignedSignatureProperties>\
             <xad:SigningTime>{signing_time}</xad:SigningTime>\
             <xad:SigningCertificate><xad:Cert><xad:CertDigest>\
             <xad:DigestMethod Algorithm=\"{SHA256}\"/><xad:DigestValue>{certificate_digest}</xad:DigestValue>\
             </xad:CertDigest><xad:IssuerSerial><ds:X509IssuerName>{issuer}</ds:X509IssuerName>\
             <ds:X509SerialNumber>{serial}</ds:X509SerialNumber></xad:IssuerSerial></xad:Cert>\
             </xad:SigningCertificate>{policy}{place}{role}\
             </xad:SignedSignatureProperties></xad:SignedProperties></xad:QualifyingProperties></ds:Object>",
            target = escape(signature_id),
            properties_id = escape(properties_id),
            certificate_digest = sha256_base64(&self.credential.certificate),
            issuer = escape(&cert::issuer_name(self.certificate)),
            serial = cert::serial_decimal(self.certificate),
            policy = signature_policy(),
            place = production_place(options),
            role = signer_role(options),
        )
    }
}

fn signature_policy() -> String {
    format!(
        "<xad:SignaturePolicyIdentifier><xad:SignaturePolicyId><xad:SigPolicyId>\
         <xad:Identifier>{POLICY_OID}</xad:Identifier><xad:Description>{POLICY_DESCRIPTION}</xad:Description>\
         </xad:SigPolicyId><xad:SigPolicyHash><xad:DigestMethod Algorithm=\"{SHA256}\"/>\
         <xad:DigestValue>{POLICY_HASH_SHA256}</xad:DigestValue></xad:SigPolicyHash>\
         <xad:SigPolicyQualifiers><xad:SigPolicyQualifier><xad:SPURI>{POLICY_URI}</xad:SPURI>\
         </xad:SigPolicyQualifier></xad:SigPolicyQualifiers></xad:SignaturePolicyId>\
         </xad:SignaturePolicyIdentifier>"
    )
}

/// `SignatureProductionPlace` in the schema's order (City, PostalCode, CountryName), if any.
fn production_place(options: &PesSignOptions) -> String {
    let parts: String = [
        ("City", &options.city),
        ("PostalCode", &options.postal_code),
        ("CountryName", &options.country),
    ]
    .into_iter()
    .filter_map(|(name, value)| {
        let value = clean(value.as_deref()?);
        (!value.is_empty()).then(|| format!("<xad:{name}>{value}</xad:{name}>"))
    })
    .collect();
    if parts.is_empty() {
        return String::new();
    }
    format!("<xad:SignatureProductionPlace>{parts}</xad:SignatureProductionPlace>")
}

fn signer_role(options: &PesSignOptions) -> String {
    match options.claimed_role.as_deref().map(clean) {
        Some(role) if !role.is_empty() => format!(
            "<xad:SignerRole><xad:ClaimedRoles><xad:ClaimedRole>{role}</xad:ClaimedRole>\
             </xad:ClaimedRoles></xad:SignerRole>"
        ),
        _ => String::new(),
    }
}

/// User text for an element: trimmed, control characters dropped, escaped.
fn clean(text: &str) -> String {
    let printable: String = text.trim().chars().filter(|c| !c.is_control()).collect();
    escape(&printable)
}

fn signed_info(
    algorithm: SignatureAlgorithm,
    [target_id, data_digest]: [&str; 2],
    [properties_id, properties_digest]: [&str; 2],
) -> String {
    let exclusive = c14n::EXCLUSIVE;
    let method = match algorithm {
        SignatureAlgorithm::RsaPkcs1Sha256 => RSA_SHA256,
        SignatureAlgorithm::EcdsaP256Sha256 => ECDSA_SHA256,
    };
    format!(
        "<ds:SignedInfo><ds:CanonicalizationMethod Algorithm=\"{exclusive}\"/>\
         <ds:SignatureMethod Algorithm=\"{method}\"/>\
         <ds:Reference URI=\"#{target_id}\"><ds:Transforms>\
         <ds:Transform Algorithm=\"{ENVELOPED}\"/><ds:Transform Algorithm=\"{exclusive}\"/>\
         </ds:Transforms><ds:DigestMethod Algorithm=\"{SHA256}\"/>\
         <ds:DigestValue>{data_digest}</ds:DigestValue></ds:Reference>\
         <ds:Reference Type=\"{SIGNED_PROPERTIES_TYPE}\" URI=\"#{properties_id}\"><ds:Transforms>\
         <ds:Transform Algorithm=\"{exclusive}\"/></ds:Transforms>\
         <ds:DigestMethod Algorithm=\"{SHA256}\"/>\
         <ds:DigestValue>{properties_digest}</ds:DigestValue></ds:Reference></ds:SignedInfo>",
        target_id = escape(target_id),
        properties_id = escape(properties_id),
    )
}

/// Exclusive canonical form of the element `{ns}local` of a signature part, parsed inside a
/// `ds:Signature` that declares `ds` (the part declares any other prefix it uses).
fn canonical_part(part: &str, ns: &str, local: &str) -> Result<String> {
    let wrapped = format!("<ds:Signature xmlns:ds=\"{DS}\">{part}</ds:Signature>");
    let doc = Document::parse(wrapped.as_bytes()).map_err(CryptoError::internal)?;
    let element = doc
        .descendants(doc.root, ns, local)
        .first()
        .copied()
        .ok_or_else(|| CryptoError::internal(format!("élément {local} introuvable")))?;
    Ok(c14n::canonicalize(
        &doc,
        element,
        None,
        &Method::Exclusive(Vec::new()),
    ))
}

/// The signature of the canonical SignedInfo: PKCS#1 v1.5 for RSA; for ECDSA, XML-DSig wants
/// r and s side by side (RFC 4050), not the DER the key produces.
fn signature_value(key: &SigningKey, message: &[u8]) -> Result<Vec<u8>> {
    let signature = key.sign(message)?;
    match key.algorithm() {
        SignatureAlgorithm::RsaPkcs1Sha256 => Ok(signature),
        SignatureAlgorithm::EcdsaP256Sha256 => ecdsa_der_to_fixed(&signature, 32),
    }
}

fn ecdsa_der_to_fixed(der_signature: &[u8], size: usize) -> Result<Vec<u8>> {
    #[derive(der::Sequence)]
    struct EcdsaSignature<'a> {
        r: der::asn1::UintRef<'a>,
        s: der::asn1::UintRef<'a>,
    }
    use der::Decode;
    let parsed = EcdsaSignature::from_der(der_signature).map_err(CryptoError::internal)?;
    let mut fixed = vec![0u8; 2 * size];
    for (i, integer) in [parsed.r, parsed.s].iter().enumerate() {
        let bytes = integer.as_bytes();
        if bytes.len() > size {
            return Err(CryptoError::internal("signature ECDSA trop longue"));
        }
        let end = (i + 1) * size;
        fixed[end - bytes.len()..end].copy_from_slice(bytes);
    }
    Ok(fixed)
}
