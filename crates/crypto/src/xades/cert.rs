//! What XAdES needs from a certificate: issuer name, decimal serial number, public key.

use x509_cert::Certificate;

pub(crate) use crate::keys::parse_certificate as parse;

/// The issuer as RFC 4514 text, what `ds:X509IssuerName` holds.
pub(crate) fn issuer_name(certificate: &Certificate) -> String {
    certificate.tbs_certificate().issuer().to_string()
}

/// The serial number in decimal, what `ds:X509SerialNumber` holds.
pub(crate) fn serial_decimal(certificate: &Certificate) -> String {
    decimal(certificate.tbs_certificate().serial_number().as_bytes())
}

/// An unsigned big-endian integer in decimal.
fn decimal(big_endian: &[u8]) -> String {
    let mut number: Vec<u8> = big_endian.to_vec();
    let mut digits = Vec::new();
    while number.iter().any(|&b| b != 0) {
        let mut remainder = 0u32;
        for byte in number.iter_mut() {
            let value = (remainder << 8) | u32::from(*byte);
            *byte = u8::try_from(value / 10).unwrap_or(0);
            remainder = value % 10;
        }
        digits.push(char::from(b'0' + u8::try_from(remainder).unwrap_or(0)));
    }
    if digits.is_empty() {
        return "0".into();
    }
    digits.iter().rev().collect()
}

/// The subjectPublicKey bits: PKCS#1 RSAPublicKey for RSA, the point for ECDSA, as
/// `aws_lc_rs::signature::UnparsedPublicKey` expects them.
pub(crate) fn public_key(certificate: &Certificate) -> &[u8] {
    certificate
        .tbs_certificate()
        .subject_public_key_info()
        .subject_public_key
        .raw_bytes()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn serial_numbers_in_decimal() {
        assert_eq!(decimal(&[]), "0");
        assert_eq!(decimal(&[0x01, 0x00]), "256");
        // The Pastell fixture's serial 4AD6FFF932A22148F64C3660ABEB951AD51B4681.
        let serial = hex::decode("4AD6FFF932A22148F64C3660ABEB951AD51B4681").unwrap();
        assert_eq!(
            decimal(&serial),
            "427259974943974867302612086964623560387531064961"
        );
    }
}
