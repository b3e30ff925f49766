//! A connected app's RSA key pair for tests and examples of the JWT bearer flow: the public half
//! goes into [`super::SalesforceFakeConfig::jwt_public_key_pem`] (as an admin uploads the
//! certificate to the connected app), the private half to the client.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine;

/// A fresh, test-only RSA-2048 key pair: `(private PKCS#8 PEM, public SPKI PEM)`. `None` only
/// if the crypto library cannot generate or encode a key.
pub fn test_rsa_key_pair() -> Option<(String, String)> {
    let pair = KeyPair::generate(KeySize::Rsa2048).ok()?;
    let private = pair.as_der().ok()?;
    let public = pair.public_key().as_der().ok()?;
    Some((
        pem("PRIVATE KEY", private.as_ref()),
        pem("PUBLIC KEY", public.as_ref()),
    ))
}

/// PEM-armours DER bytes (64-character lines).
fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    let mut rest = b64.as_str();
    while !rest.is_empty() {
        let (line, tail) = rest.split_at(rest.len().min(64));
        out.push_str(line);
        out.push('\n');
        rest = tail;
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pair_is_pem_armoured() {
        let (private, public) = test_rsa_key_pair().unwrap();
        assert!(private.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert!(public.ends_with("-----END PUBLIC KEY-----\n"));
        assert!(private.lines().all(|l| l.len() <= 64));
    }
}
