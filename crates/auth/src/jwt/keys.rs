//! Verification keys: PEM public keys, HMAC secrets and JWKS documents (RFC 7517).
//!
//! Every key is validated when it is loaded (an RSA modulus that parses, an EC point on its
//! curve, an Ed25519 point that decompresses), so that a verification never meets a broken
//! key. Each key is typed, and only verifies the algorithms of its type: an RSA public key can
//! never be used as an HMAC secret (the classic key-confusion attack), a P-256 key only
//! verifies ES256, and so on.

use std::fmt;
use std::sync::Arc;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER;
use jsonwebtoken::DecodingKey;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPublicKey};
use serde_json::{Map, Value};
use thiserror::Error;

use super::Algorithm;

/// Smallest RSA modulus accepted, in bits (RFC 7518 §3.3: 2048 or larger MUST be used).
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted, in bits (the RustCrypto `rsa` crate's limit).
pub const MAX_RSA_BITS: usize = 4096;
/// Shortest HMAC secret accepted, in bytes (RFC 7518 §3.2: at least the hash size; HS384
/// and HS512 keys need 48 and 64 bytes, and shorter ones are not used for them).
pub const MIN_HMAC_BYTES: usize = 32;
/// Longest key id accepted, in bytes, in a key set and in a token header.
pub const MAX_KID_BYTES: usize = 256;
/// Largest JWKS document accepted, in bytes.
pub const MAX_JWKS_BYTES: usize = 1 << 20;
/// Most keys a JWKS document may list.
pub const MAX_JWKS_KEYS: usize = 100;

/// Why a key or key set could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyError {
    /// The input is not a single PEM block.
    #[error("not a PEM public key: {0}")]
    Pem(String),
    /// A private key was given where a public key belongs.
    #[error("this is a private key; configure the public key (`openssl pkey -pubout`)")]
    PrivateKey,
    /// A key of a type or curve that JWS verification here does not support.
    #[error("unsupported key: {0}")]
    Unsupported(String),
    /// Key material that does not parse or validate.
    #[error("invalid key: {0}")]
    Invalid(String),
    /// A key too weak to be used.
    #[error("weak key: {0}")]
    Weak(String),
    /// The JWKS document is not a JSON object with a `keys` array, or too large.
    #[error("invalid JWKS document: {0}")]
    Jwks(String),
    /// The JWKS document has no key usable for signature verification.
    #[error("no usable signature key in the JWKS document ({0})")]
    NoUsableKeys(String),
}

/// What a key is, which decides the algorithms it verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// An RSA public key: RS256/384/512, PS256/384/512.
    Rsa {
        /// Modulus size in bits.
        bits: usize,
    },
    /// A P-256 public key: ES256.
    EcP256,
    /// A P-384 public key: ES384.
    EcP384,
    /// An Ed25519 public key: EdDSA.
    Ed25519,
    /// An HMAC secret: HS256 (32+ bytes), HS384 (48+), HS512 (64+).
    Hmac {
        /// Secret length in bytes.
        bytes: usize,
    },
}

impl KeyKind {
    /// Whether a key of this kind may verify `alg`.
    pub fn supports(self, alg: Algorithm) -> bool {
        use Algorithm::*;
        match self {
            KeyKind::Rsa { .. } => matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512),
            KeyKind::EcP256 => alg == ES256,
            KeyKind::EcP384 => alg == ES384,
            KeyKind::Ed25519 => alg == EdDSA,
            KeyKind::Hmac { bytes } => match alg {
                HS256 => bytes >= 32,
                HS384 => bytes >= 48,
                HS512 => bytes >= 64,
                _ => false,
            },
        }
    }
}

/// One validated verification key.
#[derive(Clone)]
pub struct Key {
    kid: Option<String>,
    kind: KeyKind,
    alg: Option<Algorithm>,
    decoding: DecodingKey,
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("kind", &self.kind)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl Key {
    /// The key id, matched against a token's `kid`.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The key's type.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The one algorithm this key is restricted to (a JWK `alg`), if any.
    pub fn algorithm(&self) -> Option<Algorithm> {
        self.alg
    }

    /// Whether this key may verify a token signed with `alg`.
    #[inline]
    pub fn usable_with(&self, alg: Algorithm) -> bool {
        self.kind.supports(alg) && self.alg.is_none_or(|a| a == alg)
    }

    /// The jsonwebtoken key handed to the verification primitive.
    pub fn decoding_key(&self) -> &DecodingKey {
        &self.decoding
    }

    fn rsa(n: &[u8], e: &[u8]) -> Result<Key, KeyError> {
        let public = RsaPublicKey::new(BigUint::from_bytes_be(n), BigUint::from_bytes_be(e))
            .map_err(|err| KeyError::Invalid(format!("RSA public key: {err}")))?;
        Key::from_rsa_public(&public)
    }

    fn from_rsa_public(public: &RsaPublicKey) -> Result<Key, KeyError> {
        let bits = public.n().bits();
        if bits < MIN_RSA_BITS {
            return Err(KeyError::Weak(format!(
                "RSA modulus of {bits} bits; at least {MIN_RSA_BITS} are required"
            )));
        }
        if bits > MAX_RSA_BITS {
            return Err(KeyError::Unsupported(format!(
                "RSA modulus of {bits} bits; at most {MAX_RSA_BITS} are supported"
            )));
        }
        Ok(Key {
            kid: None,
            kind: KeyKind::Rsa { bits },
            alg: None,
            decoding: DecodingKey::from_rsa_raw_components(
                &public.n().to_bytes_be(),
                &public.e().to_bytes_be(),
            ),
        })
    }

    /// An EC public key from its uncompressed SEC1 point (`04 || x || y`).
    fn ec(point: Vec<u8>) -> Result<Key, KeyError> {
        let (kind, alg) = match point.len() {
            65 => (KeyKind::EcP256, Algorithm::ES256),
            97 => (KeyKind::EcP384, Algorithm::ES384),
            n => {
                return Err(KeyError::Unsupported(format!(
                    "EC point of {n} bytes; only uncompressed P-256 and P-384 points are supported"
                )))
            }
        };
        let decoding = DecodingKey::from_ec_der(&point);
        // The verifier parses the point and checks it is on the curve.
        if (DEFAULT_PROVIDER.verifier_factory)(&alg.to_jwt(), &decoding).is_err() {
            return Err(KeyError::Invalid(format!(
                "EC public key is not a point on {}",
                if alg == Algorithm::ES256 {
                    "P-256"
                } else {
                    "P-384"
                }
            )));
        }
        Ok(Key {
            kid: None,
            kind,
            alg: None,
            decoding,
        })
    }

    fn ed25519(x: &[u8]) -> Result<Key, KeyError> {
        if x.len() != 32 {
            return Err(KeyError::Invalid(format!(
                "Ed25519 public key of {} bytes; 32 are required",
                x.len()
            )));
        }
        let decoding = DecodingKey::from_ed_der(x);
        if (DEFAULT_PROVIDER.verifier_factory)(&jsonwebtoken::Algorithm::EdDSA, &decoding).is_err()
        {
            return Err(KeyError::Invalid(
                "Ed25519 public key is not a valid point".to_owned(),
            ));
        }
        Ok(Key {
            kid: None,
            kind: KeyKind::Ed25519,
            alg: None,
            decoding,
        })
    }

    fn hmac(secret: &[u8]) -> Result<Key, KeyError> {
        if secret.len() < MIN_HMAC_BYTES {
            return Err(KeyError::Weak(format!(
                "HMAC secret of {} bytes; at least {MIN_HMAC_BYTES} are required",
                secret.len()
            )));
        }
        Ok(Key {
            kid: None,
            kind: KeyKind::Hmac {
                bytes: secret.len(),
            },
            alg: None,
            decoding: DecodingKey::from_secret(secret),
        })
    }

    fn with_kid(mut self, kid: Option<String>) -> Result<Key, KeyError> {
        if let Some(k) = &kid {
            check_kid(k)?;
        }
        self.kid = kid;
        Ok(self)
    }
}

fn check_kid(kid: &str) -> Result<(), KeyError> {
    if kid.len() > MAX_KID_BYTES {
        return Err(KeyError::Invalid(format!(
            "key id of {} bytes; at most {MAX_KID_BYTES} are allowed",
            kid.len()
        )));
    }
    Ok(())
}

/// DER of the named-curve OIDs, as they appear in an EC SubjectPublicKeyInfo.
const OID_P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Base64url for JWK members: padding tolerated (some issuers add it), nothing else.
const B64_JWK: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A set of verification keys. Cheap to clone (shared).
#[derive(Clone, Default)]
pub struct KeySet {
    keys: Arc<[Key]>,
    skipped: Arc<[String]>,
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet")
            .field("keys", &self.keys)
            .field("skipped", &self.skipped)
            .finish()
    }
}

impl KeySet {
    /// A set with no key (a provider whose JWKS has not been fetched yet).
    pub fn empty() -> KeySet {
        KeySet::default()
    }

    fn one(key: Key) -> KeySet {
        KeySet {
            keys: Arc::from(vec![key]),
            skipped: Arc::from(Vec::new()),
        }
    }

    /// One public key from a PEM block: `PUBLIC KEY` (SubjectPublicKeyInfo) holding an RSA
    /// (2048 to 4096 bits), P-256, P-384 or Ed25519 key, or `RSA PUBLIC KEY` (PKCS#1).
    /// Private keys and certificates are refused.
    pub fn from_pem(pem_bytes: &[u8], kid: Option<String>) -> Result<KeySet, KeyError> {
        let blocks = pem::parse_many(pem_bytes).map_err(|e| KeyError::Pem(e.to_string()))?;
        let block = match blocks.as_slice() {
            [one] => one,
            [] => return Err(KeyError::Pem("no PEM block found".to_owned())),
            _ => {
                return Err(KeyError::Pem(format!(
                    "{} PEM blocks; one key per file",
                    blocks.len()
                )))
            }
        };
        let key = match block.tag() {
            "RSA PUBLIC KEY" => {
                let public = RsaPublicKey::from_pkcs1_der(block.contents())
                    .map_err(|e| KeyError::Invalid(format!("RSA public key: {e}")))?;
                Key::from_rsa_public(&public)?
            }
            "PUBLIC KEY" => Key::from_spki_pem(pem_bytes, block.contents())?,
            "PRIVATE KEY"
            | "RSA PRIVATE KEY"
            | "EC PRIVATE KEY"
            | "ENCRYPTED PRIVATE KEY"
            | "OPENSSH PRIVATE KEY" => return Err(KeyError::PrivateKey),
            "CERTIFICATE" => {
                return Err(KeyError::Unsupported(
                    "certificates are not accepted; extract the public key with \
                     `openssl x509 -pubkey -noout`"
                        .to_owned(),
                ))
            }
            other => {
                return Err(KeyError::Pem(format!(
                    "PEM block `{other}`; expected `PUBLIC KEY`"
                )))
            }
        };
        Ok(KeySet::one(key.with_kid(kid)?))
    }

    /// An HMAC secret (at least [`MIN_HMAC_BYTES`] bytes) for HS256/384/512.
    pub fn from_hmac_secret(secret: &[u8], kid: Option<String>) -> Result<KeySet, KeyError> {
        Ok(KeySet::one(Key::hmac(secret)?.with_kid(kid)?))
    }

    /// The signature keys of a JWKS document (RFC 7517): `kty` `RSA`, `EC` (P-256, P-384),
    /// `OKP` (Ed25519) and `oct`, with their optional `kid` and `alg`. Keys whose `use` is not
    /// `sig`, whose `key_ops` lack `verify`, or that are unsupported or invalid are skipped
    /// (see [`KeySet::skipped`]); a document with no usable key at all is an error.
    /// Certificate members (`x5c`, `x5u`) are ignored.
    pub fn from_jwks(json_bytes: &[u8]) -> Result<KeySet, KeyError> {
        if json_bytes.len() > MAX_JWKS_BYTES {
            return Err(KeyError::Jwks(format!(
                "{} bytes; at most {MAX_JWKS_BYTES} are accepted",
                json_bytes.len()
            )));
        }
        let doc: Value = serde_json::from_slice(json_bytes)
            .map_err(|e| KeyError::Jwks(format!("not JSON: {e}")))?;
        let entries = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| KeyError::Jwks("no `keys` array".to_owned()))?;
        if entries.len() > MAX_JWKS_KEYS {
            return Err(KeyError::Jwks(format!(
                "{} keys; at most {MAX_JWKS_KEYS} are accepted",
                entries.len()
            )));
        }
        let mut keys = Vec::with_capacity(entries.len());
        let mut skipped = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            let result = match entry.as_object() {
                Some(jwk) => jwk_to_key(jwk),
                None => Err("not a JSON object".to_owned()),
            };
            match result {
                Ok(key) => keys.push(key),
                Err(why) => {
                    let kid = entry.get("kid").and_then(Value::as_str).unwrap_or("-");
                    skipped.push(format!("key {i} (kid {kid}): {why}"));
                }
            }
        }
        if keys.is_empty() {
            let why = if skipped.is_empty() {
                "the `keys` array is empty".to_owned()
            } else {
                skipped.join("; ")
            };
            return Err(KeyError::NoUsableKeys(why));
        }
        Ok(KeySet {
            keys: Arc::from(keys),
            skipped: Arc::from(skipped),
        })
    }

    /// Adds `other`'s keys (and skip notes) to this set.
    pub fn merge(&mut self, other: KeySet) {
        if other.keys.is_empty() && other.skipped.is_empty() {
            return;
        }
        if self.keys.is_empty() && self.skipped.is_empty() {
            *self = other;
            return;
        }
        self.keys = self.keys.iter().chain(other.keys.iter()).cloned().collect();
        self.skipped = self
            .skipped
            .iter()
            .chain(other.skipped.iter())
            .cloned()
            .collect();
    }

    /// The keys.
    pub fn iter(&self) -> impl Iterator<Item = &Key> {
        self.keys.iter()
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set has no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Why JWKS entries were left out, one line each (for logs).
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }

    /// Whether any key verifies one of `algs`.
    pub fn supports_any(&self, algs: &[Algorithm]) -> bool {
        self.keys
            .iter()
            .any(|k| algs.iter().any(|&a| k.usable_with(a)))
    }
}

impl Key {
    fn from_spki_pem(pem_bytes: &[u8], der: &[u8]) -> Result<Key, KeyError> {
        if let Ok(rsa) = DecodingKey::from_rsa_pem(pem_bytes) {
            let pkcs1 = rsa
                .try_get_as_bytes()
                .map_err(|e| KeyError::Invalid(e.to_string()))?;
            let public = RsaPublicKey::from_pkcs1_der(pkcs1)
                .map_err(|e| KeyError::Invalid(format!("RSA public key: {e}")))?;
            return Key::from_rsa_public(&public);
        }
        if let Ok(ec) = DecodingKey::from_ec_pem(pem_bytes) {
            let point = ec
                .try_get_as_bytes()
                .map_err(|e| KeyError::Invalid(e.to_string()))?
                .to_vec();
            // Check the named curve, not only the point size (secp256k1 points are 65
            // bytes too).
            let curve_ok = match point.len() {
                65 => contains(der, OID_P256),
                97 => contains(der, OID_P384),
                _ => false,
            };
            if !curve_ok {
                return Err(KeyError::Unsupported(
                    "EC curve; only P-256 (ES256) and P-384 (ES384) are supported".to_owned(),
                ));
            }
            return Key::ec(point);
        }
        if let Ok(ed) = DecodingKey::from_ed_pem(pem_bytes) {
            let x = ed
                .try_get_as_bytes()
                .map_err(|e| KeyError::Invalid(e.to_string()))?;
            return Key::ed25519(x);
        }
        Err(KeyError::Unsupported(
            "public key type; RSA, EC (P-256, P-384) and Ed25519 are supported".to_owned(),
        ))
    }
}

fn member<'a>(jwk: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, String> {
    match jwk.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("`{name}` is not a string")),
    }
}

fn required_b64(jwk: &Map<String, Value>, name: &str) -> Result<Vec<u8>, String> {
    let s = member(jwk, name)?.ok_or_else(|| format!("no `{name}`"))?;
    B64_JWK
        .decode(s)
        .map_err(|_| format!("`{name}` is not base64url"))
}

fn jwk_to_key(jwk: &Map<String, Value>) -> Result<Key, String> {
    if let Some(u) = member(jwk, "use")? {
        if u != "sig" {
            return Err(format!("use `{u}` is not `sig`"));
        }
    }
    if let Some(ops) = jwk.get("key_ops") {
        let verify = ops
            .as_array()
            .is_some_and(|a| a.iter().any(|o| o.as_str() == Some("verify")));
        if !verify {
            return Err("key_ops lack `verify`".to_owned());
        }
    }
    let kid = member(jwk, "kid")?.map(str::to_owned);
    let alg = match member(jwk, "alg")? {
        None => None,
        Some(a) => Some(Algorithm::parse(a).ok_or_else(|| format!("alg `{a}` is not supported"))?),
    };
    let kty = member(jwk, "kty")?.ok_or("no `kty`")?;
    let key = match kty {
        "RSA" => Key::rsa(&required_b64(jwk, "n")?, &required_b64(jwk, "e")?),
        "EC" => {
            let crv = member(jwk, "crv")?.ok_or("no `crv`")?;
            let size = match crv {
                "P-256" => 32,
                "P-384" => 48,
                other => return Err(format!("curve `{other}` is not supported")),
            };
            let x = required_b64(jwk, "x")?;
            let y = required_b64(jwk, "y")?;
            if x.len() != size || y.len() != size {
                return Err(format!("`x` and `y` must be {size} bytes for {crv}"));
            }
            let mut point = Vec::with_capacity(1 + 2 * size);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            Key::ec(point)
        }
        "OKP" => match member(jwk, "crv")?.ok_or("no `crv`")? {
            "Ed25519" => Key::ed25519(&required_b64(jwk, "x")?),
            other => return Err(format!("curve `{other}` is not supported")),
        },
        "oct" => Key::hmac(&required_b64(jwk, "k")?),
        other => return Err(format!("kty `{other}` is not supported")),
    };
    let mut key = key
        .and_then(|k| k.with_kid(kid))
        .map_err(|e| e.to_string())?;
    if let Some(a) = alg {
        if !key.kind.supports(a) {
            return Err(format!("alg `{a}` does not fit a {:?} key", key.kind));
        }
        key.alg = Some(a);
    }
    Ok(key)
}
