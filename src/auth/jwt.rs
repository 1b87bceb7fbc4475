//! JWS compact tokens (JWT): the keys that sign and verify them, their key ids, and the checks
//! of the Docker token spec. Signatures through `ring`; only the algorithms listed in [`Alg`]
//! are accepted (never `none`, never an HMAC).

use std::fmt;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{self, KeyPair as _};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

/// A signature algorithm this crate signs or verifies with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Alg {
    Rs256,
    Rs384,
    Rs512,
    Es256,
    Es384,
    EdDsa,
}

impl Alg {
    fn from_name(name: &str) -> Option<Alg> {
        Some(match name {
            "RS256" => Alg::Rs256,
            "RS384" => Alg::Rs384,
            "RS512" => Alg::Rs512,
            "ES256" => Alg::Es256,
            "ES384" => Alg::Es384,
            "EdDSA" => Alg::EdDsa,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Rs384 => "RS384",
            Alg::Rs512 => "RS512",
            Alg::Es256 => "ES256",
            Alg::Es384 => "ES384",
            Alg::EdDsa => "EdDSA",
        }
    }
}

/// The kind of a public key, with the key in the form `ring` verifies with.
#[derive(Clone, PartialEq, Eq)]
enum Public {
    /// PKCS#1 `RSAPublicKey` DER, and its modulus and exponent (unsigned big-endian).
    Rsa {
        der: Vec<u8>,
        n: Vec<u8>,
        e: Vec<u8>,
    },
    /// An uncompressed point (`04 || x || y`).
    P256(Vec<u8>),
    P384(Vec<u8>),
    /// 32 bytes.
    Ed25519(Vec<u8>),
}

/// A key that cannot be used: malformed PEM, DER or JWK, or an unsupported kind.
#[derive(Debug)]
pub struct KeyError(String);

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "key: {}", self.0)
    }
}

impl std::error::Error for KeyError {}

fn key_error(message: impl Into<String>) -> KeyError {
    KeyError(message.into())
}

// ---- DER, as little as keys and certificates need ----

const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

/// One DER element off the front of `input`: (tag, contents, rest).
fn der_next(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let len = rest[..count]
            .iter()
            .fold(0usize, |len, &b| (len << 8) | usize::from(b));
        (len, &rest[count..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

fn der_expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    match der_next(input)? {
        (t, contents, rest) if t == tag => Some((contents, rest)),
        _ => None,
    }
}

fn der_write(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = contents.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|&b| b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend_from_slice(&bytes);
    }
    out.extend_from_slice(contents);
    out
}

/// A DER INTEGER of an unsigned big-endian number.
fn der_uint(value: &[u8]) -> Vec<u8> {
    let trimmed = strip_zeros(value);
    let mut contents = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.first().is_none_or(|&b| b & 0x80 != 0) {
        contents.push(0);
    }
    contents.extend_from_slice(trimmed);
    der_write(0x02, &contents)
}

fn strip_zeros(value: &[u8]) -> &[u8] {
    let start = value.iter().position(|&b| b != 0).unwrap_or(value.len());
    &value[start..]
}

impl Public {
    /// From a DER `SubjectPublicKeyInfo`.
    fn from_spki(spki: &[u8]) -> Result<Public, KeyError> {
        let bad = || key_error("malformed SubjectPublicKeyInfo");
        let (body, _) = der_expect(spki, 0x30).ok_or_else(bad)?;
        let (algorithm, rest) = der_expect(body, 0x30).ok_or_else(bad)?;
        let (bits, _) = der_expect(rest, 0x03).ok_or_else(bad)?;
        let key = match bits.split_first() {
            Some((0, key)) => key,
            _ => return Err(bad()),
        };
        let (oid, params) = der_expect(algorithm, 0x06).ok_or_else(bad)?;
        match oid {
            OID_RSA => {
                let (seq, _) = der_expect(key, 0x30).ok_or_else(bad)?;
                let (n, rest) = der_expect(seq, 0x02).ok_or_else(bad)?;
                let (e, _) = der_expect(rest, 0x02).ok_or_else(bad)?;
                Ok(Public::Rsa {
                    der: key.to_vec(),
                    n: strip_zeros(n).to_vec(),
                    e: strip_zeros(e).to_vec(),
                })
            }
            OID_EC => match der_expect(params, 0x06).map(|(curve, _)| curve) {
                Some(OID_P256) if key.len() == 65 => Ok(Public::P256(key.to_vec())),
                Some(OID_P384) if key.len() == 97 => Ok(Public::P384(key.to_vec())),
                _ => Err(key_error("only P-256 and P-384 EC keys (uncompressed)")),
            },
            OID_ED25519 if key.len() == 32 => Ok(Public::Ed25519(key.to_vec())),
            _ => Err(key_error(
                "unsupported key type (RSA, EC P-256/P-384, Ed25519)",
            )),
        }
    }

    /// The DER `SubjectPublicKeyInfo` (what libtrust key ids hash).
    fn spki(&self) -> Vec<u8> {
        let oid = |oid: &[u8]| der_write(0x06, oid);
        let (algorithm, key) = match self {
            Public::Rsa { der, .. } => ([oid(OID_RSA), vec![0x05, 0x00]].concat(), der),
            Public::P256(point) => ([oid(OID_EC), oid(OID_P256)].concat(), point),
            Public::P384(point) => ([oid(OID_EC), oid(OID_P384)].concat(), point),
            Public::Ed25519(key) => (oid(OID_ED25519), key),
        };
        let bits = [&[0u8][..], key].concat();
        der_write(
            0x30,
            &[der_write(0x30, &algorithm), der_write(0x03, &bits)].concat(),
        )
    }

    /// The RFC 7638 JWK thumbprint input: the required members in lexicographic order.
    fn thumbprint_json(&self) -> String {
        let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        match self {
            Public::Rsa { n, e, .. } => {
                format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, b64(e), b64(n))
            }
            Public::P256(point) | Public::P384(point) => {
                let (crv, size) = match self {
                    Public::P256(_) => ("P-256", 32),
                    _ => ("P-384", 48),
                };
                let coordinates = point.get(1..).unwrap_or_default();
                let (x, y) = coordinates.split_at(size.min(coordinates.len()));
                format!(
                    r#"{{"crv":"{crv}","kty":"EC","x":"{}","y":"{}"}}"#,
                    b64(x),
                    b64(y)
                )
            }
            Public::Ed25519(x) => format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, b64(x)),
        }
    }

    fn accepts(&self, alg: Alg) -> bool {
        matches!(
            (self, alg),
            (Public::Rsa { .. }, Alg::Rs256 | Alg::Rs384 | Alg::Rs512)
                | (Public::P256(_), Alg::Es256)
                | (Public::P384(_), Alg::Es384)
                | (Public::Ed25519(_), Alg::EdDsa)
        )
    }

    fn verify(&self, alg: Alg, message: &[u8], signature: &[u8]) -> bool {
        let (algorithm, key): (&'static dyn signature::VerificationAlgorithm, &[u8]) =
            match (self, alg) {
                (Public::Rsa { der, .. }, Alg::Rs256) => {
                    (&signature::RSA_PKCS1_2048_8192_SHA256, der)
                }
                (Public::Rsa { der, .. }, Alg::Rs384) => {
                    (&signature::RSA_PKCS1_2048_8192_SHA384, der)
                }
                (Public::Rsa { der, .. }, Alg::Rs512) => {
                    (&signature::RSA_PKCS1_2048_8192_SHA512, der)
                }
                (Public::P256(point), Alg::Es256) => (&signature::ECDSA_P256_SHA256_FIXED, point),
                (Public::P384(point), Alg::Es384) => (&signature::ECDSA_P384_SHA384_FIXED, point),
                (Public::Ed25519(key), Alg::EdDsa) => (&signature::ED25519, key),
                _ => return false,
            };
        signature::UnparsedPublicKey::new(algorithm, key)
            .verify(message, signature)
            .is_ok()
    }
}

/// The libtrust key id of a DER `SubjectPublicKeyInfo`: SHA-256, first 240 bits, base32,
/// grouped by four with `:` (what docker_auth and distribution's own token tools emit).
pub(crate) fn libtrust_kid(spki: &[u8]) -> String {
    let digest = Sha256::digest(spki);
    let encoded = base32(&digest[..30]);
    let groups: Vec<&str> = encoded
        .as_bytes()
        .chunks(4)
        .filter_map(|c| std::str::from_utf8(c).ok())
        .collect();
    groups.join(":")
}

/// RFC 4648 base32, no padding.
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The DER inside every PEM block labelled `label`.
fn pem_blocks(pem: &str, label: &str) -> Vec<Result<Vec<u8>, KeyError>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    pem.split(begin.as_str())
        .skip(1)
        .map(|rest| {
            let (body, _) = rest
                .split_once(end.as_str())
                .ok_or_else(|| key_error(format!("unterminated {label} block")))?;
            let text: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            STANDARD
                .decode(text)
                .map_err(|e| key_error(format!("{label}: {e}")))
        })
        .collect()
}

/// The `SubjectPublicKeyInfo` of a DER X.509 certificate.
fn certificate_spki(cert: &[u8]) -> Option<&[u8]> {
    let (cert, _) = der_expect(cert, 0x30)?;
    let (tbs, _) = der_expect(cert, 0x30)?;
    let mut rest = tbs;
    // [0] version is optional; then serial, signature, issuer, validity, subject.
    if rest.first() == Some(&0xa0) {
        rest = der_next(rest)?.2;
    }
    for _ in 0..5 {
        rest = der_next(rest)?.2;
    }
    let (_, _, after) = der_next(rest)?;
    rest.get(..rest.len() - after.len())
}

/// A public key that verifies token signatures, with the key ids it answers to.
///
/// A token's `kid` selects the key: each key answers to its libtrust id (what docker_auth and
/// distribution's tools emit), its RFC 7638 JWK thumbprint, and the `kid` a JWKS gave it (or
/// one set with [`VerifyingKey::with_kid`]). A token without `kid` is tried with every key
/// that fits its `alg`.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifyingKey {
    public: Public,
    kids: Vec<String>,
}

impl VerifyingKey {
    fn new(public: Public) -> Self {
        let kids = vec![
            libtrust_kid(&public.spki()),
            URL_SAFE_NO_PAD.encode(Sha256::digest(public.thumbprint_json().as_bytes())),
        ];
        VerifyingKey { public, kids }
    }

    /// From a DER `SubjectPublicKeyInfo`.
    pub fn from_spki_der(spki: &[u8]) -> Result<Self, KeyError> {
        Ok(Self::new(Public::from_spki(spki)?))
    }

    /// Every key in PEM text: `PUBLIC KEY` blocks and the keys of `CERTIFICATE` blocks (a
    /// distribution `rootcertbundle` works; certificate chains and expiry are not checked,
    /// the key is what is trusted).
    pub fn from_pem(pem: &str) -> Result<Vec<Self>, KeyError> {
        let mut keys = Vec::new();
        for der in pem_blocks(pem, "PUBLIC KEY") {
            keys.push(Self::from_spki_der(&der?)?);
        }
        for der in pem_blocks(pem, "CERTIFICATE") {
            let der = der?;
            let spki = certificate_spki(&der).ok_or_else(|| key_error("malformed certificate"))?;
            keys.push(Self::from_spki_der(spki)?);
        }
        if keys.is_empty() {
            return Err(key_error("no PUBLIC KEY or CERTIFICATE block"));
        }
        Ok(keys)
    }

    /// Every usable key of a JWK Set (`{"keys": [..]}`) or of one JWK, each answering to its
    /// `kid` too. Keys of other kinds (`oct`, or unknown curves) are skipped.
    pub fn from_jwks(json: &str) -> Result<Vec<Self>, KeyError> {
        #[derive(Deserialize)]
        struct Jwk {
            kty: String,
            crv: Option<String>,
            x: Option<String>,
            y: Option<String>,
            n: Option<String>,
            e: Option<String>,
            kid: Option<String>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Set {
            Keys { keys: Vec<Jwk> },
            One(Jwk),
        }
        let set: Set = serde_json::from_str(json).map_err(|e| key_error(format!("JWKS: {e}")))?;
        let jwks = match set {
            Set::Keys { keys } => keys,
            Set::One(jwk) => vec![jwk],
        };
        let decode = |field: &Option<String>| -> Result<Vec<u8>, KeyError> {
            let text = field
                .as_deref()
                .ok_or_else(|| key_error("JWK member missing"))?;
            URL_SAFE_NO_PAD
                .decode(text.trim_end_matches('='))
                .map_err(|e| key_error(format!("JWK: {e}")))
        };
        let mut keys = Vec::new();
        for jwk in &jwks {
            let public = match (jwk.kty.as_str(), jwk.crv.as_deref()) {
                ("RSA", _) => {
                    let (n, e) = (decode(&jwk.n)?, decode(&jwk.e)?);
                    let der = der_write(0x30, &[der_uint(&n), der_uint(&e)].concat());
                    Public::Rsa {
                        der,
                        n: strip_zeros(&n).to_vec(),
                        e: strip_zeros(&e).to_vec(),
                    }
                }
                ("EC", Some(crv @ ("P-256" | "P-384"))) => {
                    let point = [vec![4u8], decode(&jwk.x)?, decode(&jwk.y)?].concat();
                    match (crv, point.len()) {
                        ("P-256", 65) => Public::P256(point),
                        ("P-384", 97) => Public::P384(point),
                        _ => return Err(key_error("EC JWK coordinates of the wrong size")),
                    }
                }
                ("OKP", Some("Ed25519")) => {
                    let x = decode(&jwk.x)?;
                    if x.len() != 32 {
                        return Err(key_error("Ed25519 JWK of the wrong size"));
                    }
                    Public::Ed25519(x)
                }
                _ => continue,
            };
            let mut key = Self::new(public);
            if let Some(kid) = &jwk.kid {
                key = key.with_kid(kid.clone());
            }
            keys.push(key);
        }
        Ok(keys)
    }

    /// Also answers to key id `kid`.
    #[must_use]
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kids.push(kid.into());
        self
    }

    /// The key ids it answers to: libtrust id, RFC 7638 thumbprint, then any given.
    pub fn kids(&self) -> &[String] {
        &self.kids
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kids", &self.kids)
            .finish()
    }
}

enum Pair {
    Rsa(signature::RsaKeyPair, Alg),
    Ecdsa(signature::EcdsaKeyPair, Alg),
    Ed25519(signature::Ed25519KeyPair),
}

/// A private key that signs tokens (for [`TokenIssuer`](super::TokenIssuer)), with its `kid`
/// (the libtrust id unless set with [`SigningKey::with_kid`]).
///
/// ```
/// use tower_oci::auth::SigningKey;
/// let key = SigningKey::generate_es256().unwrap();
/// assert_eq!(key.kid().len(), 59); // XXXX:XXXX:... twelve groups of four
/// ```
pub struct SigningKey {
    pair: Pair,
    kid: String,
    verifying: VerifyingKey,
}

impl SigningKey {
    fn from_pair(pair: Pair) -> Result<Self, KeyError> {
        let public = match &pair {
            Pair::Rsa(key, _) => {
                let der = key.public().as_ref().to_vec();
                let (seq, _) = der_expect(&der, 0x30).ok_or_else(|| key_error("RSA public key"))?;
                let (n, rest) = der_expect(seq, 0x02).ok_or_else(|| key_error("RSA modulus"))?;
                let (e, _) = der_expect(rest, 0x02).ok_or_else(|| key_error("RSA exponent"))?;
                let (n, e) = (strip_zeros(n).to_vec(), strip_zeros(e).to_vec());
                Public::Rsa { der, n, e }
            }
            Pair::Ecdsa(key, Alg::Es384) => Public::P384(key.public_key().as_ref().to_vec()),
            Pair::Ecdsa(key, _) => Public::P256(key.public_key().as_ref().to_vec()),
            Pair::Ed25519(key) => Public::Ed25519(key.public_key().as_ref().to_vec()),
        };
        let verifying = VerifyingKey::new(public);
        let kid = verifying.kids[0].clone();
        Ok(SigningKey {
            pair,
            kid,
            verifying,
        })
    }

    /// From PEM: a PKCS#8 `PRIVATE KEY` (RSA, EC P-256 or P-384, Ed25519; what
    /// `openssl genpkey` writes) or a PKCS#1 `RSA PRIVATE KEY`. RSA keys sign RS256.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let rng = SystemRandom::new();
        if let Some(der) = pem_blocks(pem, "PRIVATE KEY").into_iter().next() {
            let der = der?;
            if let Ok(pair) = signature::EcdsaKeyPair::from_pkcs8(
                &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                &der,
                &rng,
            ) {
                return Self::from_pair(Pair::Ecdsa(pair, Alg::Es256));
            }
            if let Ok(pair) = signature::EcdsaKeyPair::from_pkcs8(
                &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
                &der,
                &rng,
            ) {
                return Self::from_pair(Pair::Ecdsa(pair, Alg::Es384));
            }
            if let Ok(pair) = signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der) {
                return Self::from_pair(Pair::Ed25519(pair));
            }
            return match signature::RsaKeyPair::from_pkcs8(&der) {
                Ok(pair) => Self::from_pair(Pair::Rsa(pair, Alg::Rs256)),
                Err(e) => Err(key_error(format!("unsupported PRIVATE KEY: {e}"))),
            };
        }
        if let Some(der) = pem_blocks(pem, "RSA PRIVATE KEY").into_iter().next() {
            return match signature::RsaKeyPair::from_der(&der?) {
                Ok(pair) => Self::from_pair(Pair::Rsa(pair, Alg::Rs256)),
                Err(e) => Err(key_error(format!("RSA PRIVATE KEY: {e}"))),
            };
        }
        Err(key_error(
            "no PRIVATE KEY (PKCS#8) or RSA PRIVATE KEY block (EC keys: `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`)",
        ))
    }

    /// A new random ES256 (P-256) key.
    pub fn generate_es256() -> Result<Self, KeyError> {
        let rng = SystemRandom::new();
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = signature::EcdsaKeyPair::generate_pkcs8(alg, &rng)
            .map_err(|_| key_error("cannot generate a key"))?;
        let pair = signature::EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng)
            .map_err(|_| key_error("cannot load the generated key"))?;
        Self::from_pair(Pair::Ecdsa(pair, Alg::Es256))
    }

    /// A new random Ed25519 key.
    pub fn generate_ed25519() -> Result<Self, KeyError> {
        let rng = SystemRandom::new();
        let pkcs8 = signature::Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|_| key_error("cannot generate a key"))?;
        let pair = signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
            .map_err(|_| key_error("cannot load the generated key"))?;
        Self::from_pair(Pair::Ed25519(pair))
    }

    /// Signs with key id `kid` instead of the libtrust id (the verifying key answers to it).
    #[must_use]
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = kid.into();
        self.verifying = self.verifying.with_kid(self.kid.clone());
        self
    }

    /// The `kid` its tokens carry.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public half, for a [`BearerConfig`](super::BearerConfig).
    pub fn verifying_key(&self) -> VerifyingKey {
        self.verifying.clone()
    }

    fn alg(&self) -> Alg {
        match &self.pair {
            Pair::Rsa(_, alg) | Pair::Ecdsa(_, alg) => *alg,
            Pair::Ed25519(_) => Alg::EdDsa,
        }
    }

    /// A compact JWS of `claims` (`header.claims.signature`, base64url; the header names the
    /// algorithm and this key's `kid`): a token, for hosts that issue their own.
    /// `claims` is anything that serializes to a JSON object (a `serde_json::Value`, or a
    /// struct deriving `Serialize`); a value that cannot be serialized is an error.
    pub fn sign(&self, claims: &impl serde::Serialize) -> Result<String, KeyError> {
        let header = serde_json::json!({ "typ": "JWT", "alg": self.alg().name(), "kid": self.kid });
        let claims =
            serde_json::to_string(claims).map_err(|_| key_error("claims do not serialize"))?;
        let mut token = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let rng = SystemRandom::new();
        let signature = match &self.pair {
            Pair::Rsa(key, _) => {
                let mut out = vec![0; key.public().modulus_len()];
                key.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &rng,
                    token.as_bytes(),
                    &mut out,
                )
                .map_err(|_| key_error("RSA signing failed"))?;
                out
            }
            Pair::Ecdsa(key, _) => key
                .sign(&rng, token.as_bytes())
                .map_err(|_| key_error("ECDSA signing failed"))?
                .as_ref()
                .to_vec(),
            Pair::Ed25519(key) => key.sign(token.as_bytes()).as_ref().to_vec(),
        };
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(signature));
        Ok(token)
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg())
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// Why a token was refused (for the log; clients only learn `invalid_token`).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Invalid(pub(crate) &'static str);

/// The JOSE header fields that matter.
#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
    crit: Option<serde_json::Value>,
}

/// Checks the signature of compact JWS `token` with `keys` and returns its claims (not yet
/// checked).
pub(crate) fn verify_signature(
    token: &str,
    keys: &[VerifyingKey],
) -> Result<serde_json::Value, Invalid> {
    let mut parts = token.split('.');
    let (Some(header), Some(claims), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Invalid("not a compact JWS"));
    };
    let decode = |part: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| Invalid("bad base64url"))
    };
    let header: Header =
        serde_json::from_slice(&decode(header)?).map_err(|_| Invalid("bad header"))?;
    if header.crit.is_some() {
        return Err(Invalid("critical header extensions"));
    }
    // `none`, HMAC and anything else unlisted: refused.
    let alg = Alg::from_name(&header.alg).ok_or(Invalid("algorithm not accepted"))?;
    let signature = decode(signature)?;
    let message_len = token.len() - signature_part_len(token);
    let message = token
        .as_bytes()
        .get(..message_len)
        .ok_or(Invalid("bad token"))?;
    let candidates = keys.iter().filter(|key| {
        key.public.accepts(alg)
            && header
                .kid
                .as_ref()
                .is_none_or(|kid| key.kids.iter().any(|k| k == kid))
    });
    let mut any = false;
    for key in candidates {
        any = true;
        if key.public.verify(alg, message, &signature) {
            return serde_json::from_slice(&decode(claims)?).map_err(|_| Invalid("bad claims"));
        }
    }
    Err(Invalid(if any {
        "bad signature"
    } else {
        "no trusted key with this kid and alg"
    }))
}

/// Length of `.signature` at the end of a token.
fn signature_part_len(token: &str) -> usize {
    token.rfind('.').map_or(0, |dot| token.len() - dot)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The EC key of distribution's jwt.md example (its `kid` is given there).
    const SPEC_X: &str = "m7zUpx3b-zmVE5cymSs64POG9QcyEpJaYCD82-549_Q";
    const SPEC_Y: &str = "dU3biz8sZ_8GPB-odm8Wxz3lNDr1xcAQQPQaOcr1fmc";
    const SPEC_KID: &str = "PYYO:TEWU:V7JH:26JV:AQTZ:LJC3:SXVJ:XGHA:34F2:2LAQ:ZRMK:Z7Q6";

    fn spec_key() -> VerifyingKey {
        let jwk = format!(r#"{{"kty":"EC","crv":"P-256","x":"{SPEC_X}","y":"{SPEC_Y}"}}"#);
        VerifyingKey::from_jwks(&jwk).expect("jwk").remove(0)
    }

    #[test]
    fn libtrust_kid_matches_the_spec_example() {
        let key = spec_key();
        assert_eq!(key.kids()[0], SPEC_KID);
        // The SPKI round-trips through the DER parser.
        let again = VerifyingKey::from_spki_der(&key.public.spki()).expect("spki");
        assert_eq!(again, key);
    }

    #[test]
    fn rfc7638_thumbprint_of_its_example_key() {
        // RFC 7638 section 3.1.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let jwks = format!(
            r#"{{"keys":[{{"kty":"RSA","n":"{n}","e":"AQAB","kid":"2011-04-29"}},{{"kty":"oct","k":"c2VjcmV0"}}]}}"#
        );
        let keys = VerifyingKey::from_jwks(&jwks).expect("jwks");
        assert_eq!(keys.len(), 1, "the oct key is skipped");
        assert_eq!(
            keys[0].kids()[1],
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
        assert_eq!(keys[0].kids()[2], "2011-04-29");
        let again = VerifyingKey::from_spki_der(&keys[0].public.spki()).expect("spki");
        assert_eq!(again.kids()[..2], keys[0].kids()[..2]);
    }

    #[test]
    fn base32_is_rfc4648() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
    }

    #[test]
    fn signs_and_verifies_with_each_generated_kind() {
        for key in [
            SigningKey::generate_es256().expect("es256"),
            SigningKey::generate_ed25519().expect("ed25519"),
        ] {
            let claims = serde_json::json!({"sub": "alice"});
            let token = key.sign(&claims).expect("sign");
            let trusted = [key.verifying_key()];
            assert_eq!(verify_signature(&token, &trusted), Ok(claims.clone()));
            // Tampered claims, another key, a kid nobody has: refused.
            let mut parts: Vec<&str> = token.split('.').collect();
            let forged = URL_SAFE_NO_PAD.encode(r#"{"sub":"root"}"#);
            parts[1] = &forged;
            assert!(verify_signature(&parts.join("."), &trusted).is_err());
            let other = [SigningKey::generate_es256().expect("other").verifying_key()];
            assert!(verify_signature(&token, &other).is_err());
            let renamed = key.with_kid("mine");
            let token = renamed.sign(&claims).expect("sign");
            assert_eq!(
                verify_signature(&token, &[renamed.verifying_key()]),
                Ok(claims)
            );
            assert!(
                verify_signature(&token, &trusted).is_err(),
                "kid `mine` unknown"
            );
        }
    }

    #[test]
    fn alg_none_and_hmac_are_refused() {
        let key = SigningKey::generate_es256().expect("key");
        let trusted = [key.verifying_key()];
        let claims = URL_SAFE_NO_PAD.encode(r#"{"sub":"root"}"#);
        for header in [
            r#"{"alg":"none"}"#,
            r#"{"alg":"HS256"}"#,
            r#"{"alg":"RS256"}"#,
        ] {
            let token = format!("{}.{claims}.", URL_SAFE_NO_PAD.encode(header));
            assert!(verify_signature(&token, &trusted).is_err(), "{header}");
        }
    }

    #[test]
    fn keys_from_pem_and_certificates() {
        let key = SigningKey::generate_ed25519().expect("key");
        let spki = key.verifying_key().public.spki();
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            STANDARD.encode(&spki)
        );
        assert_eq!(
            VerifyingKey::from_pem(&pem).expect("pem"),
            vec![key.verifying_key()]
        );
        assert!(VerifyingKey::from_pem("nothing").is_err());
        assert!(
            SigningKey::from_pem(&pem).is_err(),
            "a public key does not sign"
        );
    }
}
