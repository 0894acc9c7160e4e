//! JWT verification (RFC 7519 over JWS compact serialization, RFC 7515).
//!
//! [`Provider::verify`] checks a token in this order, and stops at the first failure:
//!
//! 1. size: longer than `max_token_bytes` → [`JwtError::TooLarge`], before any parsing;
//! 2. shape: exactly three base64url segments, no padding, no whitespace, non-empty header
//!    and payload → [`JwtError::Malformed`];
//! 3. header: a JSON object without duplicate members; `alg` a string naming one of the
//!    provider's allowed algorithms, exact case (so `none` in any casing, or anything not
//!    listed, is [`JwtError::AlgorithmNotAllowed`]); any `crit` → [`JwtError::UnsupportedCrit`]
//!    (no extension is understood); `kid`, when present, a string of at most 256 bytes used
//!    only to look a key up in the provider's current [`KeySet`]. `jku`, `x5u`, `jwk` and
//!    `x5c` are ignored: never fetched, never used as keys;
//! 4. key choice (see [`Provider::verify`]) → [`JwtError::UnknownKid`] or
//!    [`JwtError::NoSuitableKey`];
//! 5. signature, through jsonwebtoken's RustCrypto primitive ([`verify_signature`]) →
//!    [`JwtError::BadSignature`];
//! 6. claims, against the injected `now_unix_secs` (jsonwebtoken's own clock-reading
//!    validation is never used): `exp` required ([`JwtError::Expired`]), `nbf`
//!    ([`JwtError::NotYetValid`]), both with the leeway; `iss` ([`JwtError::WrongIssuer`]) and
//!    `aud` ([`JwtError::WrongAudience`]) when configured.

mod cache;
mod json;
mod keys;
mod refresh;
mod source;

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER;
use jsonwebtoken::DecodingKey;
use serde_json::{Map, Value};
use thiserror::Error;

pub use cache::TokenCache;
pub use keys::{
    Key, KeyError, KeyKind, KeySet, MAX_JWKS_BYTES, MAX_JWKS_KEYS, MAX_KID_BYTES, MAX_RSA_BITS,
    MIN_HMAC_BYTES, MIN_RSA_BITS,
};
pub use refresh::{JwksRefresh, INITIAL_BACKOFF};
pub use source::{ExtractError, TokenSource};

use crate::www::error::{INSUFFICIENT_SCOPE, INVALID_TOKEN};

/// Keys tried for one token when its `kid` does not single one out.
pub const MAX_KEYS_TRIED: usize = 4;

/// Default for [`ProviderSettings::max_token_bytes`].
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8192;

/// A JWS signature algorithm this crate verifies.
#[allow(clippy::upper_case_acronyms)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// HMAC with SHA-256.
    HS256,
    /// HMAC with SHA-384.
    HS384,
    /// HMAC with SHA-512.
    HS512,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256, MGF1 with SHA-256, 32-byte salt.
    PS256,
    /// RSASSA-PSS with SHA-384, MGF1 with SHA-384, 48-byte salt.
    PS384,
    /// RSASSA-PSS with SHA-512, MGF1 with SHA-512, 64-byte salt.
    PS512,
    /// ECDSA on P-256 with SHA-256 (signature is r || s).
    ES256,
    /// ECDSA on P-384 with SHA-384 (signature is r || s).
    ES384,
    /// EdDSA with Ed25519.
    EdDSA,
}

impl Algorithm {
    /// Every supported algorithm.
    pub const ALL: [Algorithm; 12] = [
        Algorithm::HS256,
        Algorithm::HS384,
        Algorithm::HS512,
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ];

    /// The algorithm with this exact (case-sensitive) JWS name, such as `RS256`.
    pub fn parse(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.as_str() == name)
    }

    /// The JWS name.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::HS256 => "HS256",
            Algorithm::HS384 => "HS384",
            Algorithm::HS512 => "HS512",
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    /// The same algorithm in jsonwebtoken's terms.
    pub fn to_jwt(self) -> jsonwebtoken::Algorithm {
        use jsonwebtoken::Algorithm as J;
        match self {
            Algorithm::HS256 => J::HS256,
            Algorithm::HS384 => J::HS384,
            Algorithm::HS512 => J::HS512,
            Algorithm::RS256 => J::RS256,
            Algorithm::RS384 => J::RS384,
            Algorithm::RS512 => J::RS512,
            Algorithm::PS256 => J::PS256,
            Algorithm::PS384 => J::PS384,
            Algorithm::PS512 => J::PS512,
            Algorithm::ES256 => J::ES256,
            Algorithm::ES384 => J::ES384,
            Algorithm::EdDSA => J::EdDSA,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The signature check every token goes through: jsonwebtoken's RustCrypto verifier for
/// `alg`, called directly (not through jsonwebtoken's process-wide default provider, so the
/// result cannot depend on which backend features another crate turned on). `signature` is
/// raw bytes (base64url-decoded); `message` is `header.payload` as sent. A key of the wrong
/// type for `alg` simply fails.
pub fn verify_signature(
    alg: Algorithm,
    key: &DecodingKey,
    message: &[u8],
    signature: &[u8],
) -> bool {
    if alg == Algorithm::EdDSA {
        // jsonwebtoken slices `[..32]` out of an Ed25519 key: refuse anything else here,
        // rather than panic there.
        match key.try_get_as_bytes() {
            Ok(bytes) if bytes.len() == 32 => {}
            _ => return false,
        }
    }
    match (DEFAULT_PROVIDER.verifier_factory)(&alg.to_jwt(), key) {
        Ok(verifier) => verifier.verify(message, &signature.to_vec()).is_ok(),
        Err(_) => false,
    }
}

/// How one provider's tokens are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderSettings {
    /// Name, for logs.
    pub name: String,
    /// Required `iss`; `None`: not checked.
    pub issuer: Option<String>,
    /// `aud` must contain one of these; empty: not checked.
    pub audiences: Vec<String>,
    /// Accepted `alg` values: an explicit, non-empty allow-list.
    pub algorithms: Vec<Algorithm>,
    /// Clock skew allowed on `exp` and `nbf` (whole seconds count).
    pub leeway: Duration,
    /// Longer tokens are refused before any parsing.
    pub max_token_bytes: usize,
}

impl ProviderSettings {
    /// Settings with no issuer or audience check, a 30 s leeway and
    /// [`DEFAULT_MAX_TOKEN_BYTES`].
    pub fn new(name: impl Into<String>, algorithms: Vec<Algorithm>) -> ProviderSettings {
        ProviderSettings {
            name: name.into(),
            issuer: None,
            audiences: Vec::new(),
            algorithms,
            leeway: Duration::from_secs(30),
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
        }
    }
}

/// Why a provider could not be built.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProviderError {
    /// The algorithm allow-list is empty.
    #[error("provider `{0}`: the algorithm list is empty; list the accepted algorithms")]
    NoAlgorithms(String),
    /// `max_token_bytes` is zero.
    #[error("provider `{0}`: max_token_bytes must be greater than zero")]
    ZeroMaxTokenBytes(String),
    /// Keys were given, but none verifies any of the allowed algorithms.
    #[error("provider `{0}`: no key can verify any of the allowed algorithms ({1})")]
    NoUsableKey(String, String),
}

/// Why a token was refused. All of these are answered 401 with `invalid_token`
/// ([`JwtError::oauth_error`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum JwtError {
    /// Longer than the provider's `max_token_bytes`.
    #[error("token too large")]
    TooLarge,
    /// Not a well-formed JWS compact token (the reason says what is wrong).
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// `alg` missing, not a string, unknown, or not in the allow-list (`none` included).
    #[error("algorithm not allowed")]
    AlgorithmNotAllowed,
    /// The header has `crit`: no extension is understood, so the token is refused.
    #[error("unsupported critical header parameter")]
    UnsupportedCrit,
    /// No key has the token's `kid` (and there is no key without a kid to fall back to).
    /// A hint to refresh the JWKS early ([`JwksRefresh::request_early`]).
    #[error("unknown key id")]
    UnknownKid,
    /// No key of the right type for the token's `alg` (e.g. an HS256 token against RSA keys).
    #[error("no key for this algorithm")]
    NoSuitableKey,
    /// The signature does not verify.
    #[error("invalid signature")]
    BadSignature,
    /// The payload is not a JSON object, or a registered claim has the wrong type (`exp`
    /// missing or not a NumericDate, for instance).
    #[error("invalid claims: {0}")]
    InvalidClaims(&'static str),
    /// `exp` (plus leeway) has passed.
    #[error("token expired")]
    Expired,
    /// `nbf` (minus leeway) has not come yet.
    #[error("token not yet valid")]
    NotYetValid,
    /// `iss` missing or not the configured issuer.
    #[error("wrong issuer")]
    WrongIssuer,
    /// `aud` missing or naming none of the configured audiences.
    #[error("wrong audience")]
    WrongAudience,
}

impl JwtError {
    /// The RFC 6750 error code and a short description for `WWW-Authenticate`
    /// ([`crate::www::authenticate`]). Every token failure is `invalid_token`.
    pub fn oauth_error(&self) -> (&'static str, &'static str) {
        let description = match self {
            JwtError::TooLarge => "token too large",
            JwtError::Malformed(_) => "malformed token",
            JwtError::AlgorithmNotAllowed => "algorithm not allowed",
            JwtError::UnsupportedCrit => "unsupported critical header",
            JwtError::UnknownKid => "unknown key id",
            JwtError::NoSuitableKey => "no key for this algorithm",
            JwtError::BadSignature => "invalid signature",
            JwtError::InvalidClaims(_) => "invalid claims",
            JwtError::Expired => "token expired",
            JwtError::NotYetValid => "token not yet valid",
            JwtError::WrongIssuer => "wrong issuer",
            JwtError::WrongAudience => "wrong audience",
        };
        (INVALID_TOKEN, description)
    }
}

/// The claims of a verified token.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims {
    /// `sub`, when present.
    pub sub: Option<String>,
    /// `exp` (seconds since the epoch; a fractional value is rounded down).
    pub exp: u64,
    /// `nbf`, when present.
    pub nbf: Option<u64>,
    /// Scopes from `scope` (space-separated string, the OAuth form), `scp` and `scopes`
    /// (array or space-separated string), merged in that order without duplicates.
    pub scopes: Vec<String>,
    /// Every claim as sent, for required-claim checks and forwarding.
    pub all: Map<String, Value>,
}

/// Whether a value may go into a request header: no control character except tab.
fn header_safe(s: &str) -> bool {
    !s.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f)
}

fn scalar_text(v: &Value) -> Option<Cow<'_, str>> {
    match v {
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        _ => None,
    }
}

impl Claims {
    /// A claim rendered as header text: strings as is, numbers and booleans in JSON form.
    /// `None` when the claim is missing, an array, an object or null, or when its text holds a
    /// control character (CR, LF, NUL...), which must never reach a header.
    pub fn get_str(&self, name: &str) -> Option<Cow<'_, str>> {
        let text = scalar_text(self.all.get(name)?)?;
        header_safe(&text).then_some(text)
    }

    /// Whether the token carries `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// Whether claim `name` equals `value` (strings exactly; numbers and booleans in JSON
    /// form), or is an array with such an element.
    pub fn claim_matches(&self, name: &str, value: &str) -> bool {
        match self.all.get(name) {
            Some(Value::Array(items)) => items
                .iter()
                .any(|v| scalar_text(v).is_some_and(|t| t == value)),
            Some(v) => scalar_text(v).is_some_and(|t| t == value),
            None => false,
        }
    }
}

/// Why an authenticated caller is refused (403, `insufficient_scope`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Forbidden {
    /// A required scope is missing.
    #[error("missing scope `{0}`")]
    MissingScope(String),
    /// A required claim is missing or has another value.
    #[error("claim `{0}` does not have the required value")]
    ClaimMismatch(String),
}

impl Forbidden {
    /// The RFC 6750 error code and a short description for `WWW-Authenticate`.
    pub fn oauth_error(&self) -> (&'static str, &'static str) {
        let description = match self {
            Forbidden::MissingScope(_) => "missing scope",
            Forbidden::ClaimMismatch(_) => "required claim missing",
        };
        (INSUFFICIENT_SCOPE, description)
    }
}

/// What a route requires of a verified token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requirement {
    /// Scopes that must all be present.
    pub scopes: Vec<String>,
    /// Claims that must equal these values (or, for array claims, contain them).
    pub claims: Vec<(String, String)>,
}

impl Requirement {
    /// `Ok` when every scope is present and every claim matches; otherwise the first
    /// requirement that fails.
    pub fn check(&self, claims: &Claims) -> Result<(), Forbidden> {
        if let Some(missing) = self.scopes.iter().find(|s| !claims.has_scope(s)) {
            return Err(Forbidden::MissingScope(missing.clone()));
        }
        if let Some((name, _)) = self
            .claims
            .iter()
            .find(|(name, value)| !claims.claim_matches(name, value))
        {
            return Err(Forbidden::ClaimMismatch(name.clone()));
        }
        Ok(())
    }
}

/// Generations are unique across all providers of the process, so that a token cache can
/// never mistake a new provider at a reused index (after a reload) for the old one.
static NEXT_GENERATION: AtomicU64 = AtomicU64::new(1);

struct KeyState {
    keys: KeySet,
    generation: u64,
}

/// A JWT issuer: its settings and its current keys. Shared by all cores (`Arc<Provider>`);
/// keys are swapped without locks ([`Provider::update_keys`]).
pub struct Provider {
    settings: ProviderSettings,
    state: ArcSwap<KeyState>,
    /// Mirrors `state.generation` for a cheap read on every cache hit.
    generation: AtomicU64,
}

impl fmt::Debug for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.load();
        f.debug_struct("Provider")
            .field("settings", &self.settings)
            .field("keys", &state.keys.len())
            .field("generation", &state.generation)
            .finish()
    }
}

/// The three segments of a compact token, borrowed.
struct Segments<'a> {
    header: &'a [u8],
    payload: &'a [u8],
    signature: &'a [u8],
}

fn split_compact(token: &[u8]) -> Result<Segments<'_>, JwtError> {
    let mut parts = token.splitn(4, |&b| b == b'.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed("not three dot-separated segments"));
    };
    if header.is_empty() || payload.is_empty() {
        return Err(JwtError::Malformed("empty header or payload"));
    }
    let b64url = |s: &[u8]| {
        s.iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if !(b64url(header) && b64url(payload) && b64url(signature)) {
        return Err(JwtError::Malformed("segment is not unpadded base64url"));
    }
    Ok(Segments {
        header,
        payload,
        signature,
    })
}

/// A NumericDate: a non-negative number of seconds, rounded down.
fn numeric_date(v: &Value) -> Option<u64> {
    let n = v.as_number()?;
    if let Some(u) = n.as_u64() {
        return Some(u);
    }
    let f = n.as_f64()?;
    // `as` saturates for values beyond u64.
    (f.is_finite() && f >= 0.0).then_some(f as u64)
}

fn push_scopes(out: &mut Vec<String>, v: Option<&Value>) -> Result<(), JwtError> {
    let mut add = |s: &str| {
        for scope in s.split(' ').filter(|s| !s.is_empty()) {
            if !out.iter().any(|o| o == scope) {
                out.push(scope.to_owned());
            }
        }
    };
    match v {
        None => {}
        Some(Value::String(s)) => add(s),
        Some(Value::Array(items)) => {
            for item in items {
                add(item
                    .as_str()
                    .ok_or(JwtError::InvalidClaims("scope entry is not a string"))?);
            }
        }
        Some(_) => return Err(JwtError::InvalidClaims("scope is not a string or array")),
    }
    Ok(())
}

impl Provider {
    /// A provider with these settings and initial keys. The key set may be empty (a JWKS not
    /// fetched yet); a non-empty set must have a key for one of the allowed algorithms.
    pub fn new(settings: ProviderSettings, keys: KeySet) -> Result<Provider, ProviderError> {
        if settings.algorithms.is_empty() {
            return Err(ProviderError::NoAlgorithms(settings.name));
        }
        if settings.max_token_bytes == 0 {
            return Err(ProviderError::ZeroMaxTokenBytes(settings.name));
        }
        if !keys.is_empty() && !keys.supports_any(&settings.algorithms) {
            let algs: Vec<&str> = settings.algorithms.iter().map(|a| a.as_str()).collect();
            return Err(ProviderError::NoUsableKey(settings.name, algs.join(", ")));
        }
        let generation = NEXT_GENERATION.fetch_add(1, Ordering::Relaxed);
        Ok(Provider {
            settings,
            state: ArcSwap::from_pointee(KeyState { keys, generation }),
            generation: AtomicU64::new(generation),
        })
    }

    /// The settings.
    pub fn settings(&self) -> &ProviderSettings {
        &self.settings
    }

    /// The current key set.
    pub fn keys(&self) -> KeySet {
        self.state.load().keys.clone()
    }

    /// Installs a new key set (lock-free; verifications in progress finish with the old
    /// one) and moves to a new generation, which invalidates cached tokens.
    pub fn update_keys(&self, keys: KeySet) {
        let _previous = self.state.rcu(|_| KeyState {
            keys: keys.clone(),
            generation: NEXT_GENERATION.fetch_add(1, Ordering::Relaxed),
        });
        // Another update may have raced this one: mirror whatever is installed now.
        let current = self.state.load().generation;
        self.generation.fetch_max(current, Ordering::Release);
    }

    /// The key generation: changes (grows) on every [`Provider::update_keys`], and is unique
    /// across providers.
    #[inline]
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Verifies `token` at `now_unix_secs` (see the module documentation for the rules).
    ///
    /// Key choice: with a `kid`, the keys carrying that kid and usable with `alg` are tried;
    /// when no key carries it, the keys without a kid are tried instead (a PEM key configured
    /// without kid serves every token), and when there are none either the result is
    /// [`JwtError::UnknownKid`]. Without a `kid`, the keys usable with `alg` are tried. At
    /// most [`MAX_KEYS_TRIED`] keys are tried per token.
    pub fn verify(&self, token: &[u8], now_unix_secs: u64) -> Result<Claims, JwtError> {
        self.verify_with_generation(token, now_unix_secs).1
    }

    /// [`Provider::verify`], also returning the key generation the verdict was reached with.
    pub(crate) fn verify_with_generation(
        &self,
        token: &[u8],
        now_unix_secs: u64,
    ) -> (u64, Result<Claims, JwtError>) {
        let state = self.state.load();
        (
            state.generation,
            self.verify_with(&state.keys, token, now_unix_secs),
        )
    }

    fn verify_with(&self, keys: &KeySet, token: &[u8], now: u64) -> Result<Claims, JwtError> {
        if token.len() > self.settings.max_token_bytes {
            return Err(JwtError::TooLarge);
        }
        let seg = split_compact(token)?;
        let header_json = URL_SAFE_NO_PAD
            .decode(seg.header)
            .map_err(|_| JwtError::Malformed("header is not base64url"))?;
        let header = json::parse_object(&header_json)
            .ok_or(JwtError::Malformed("header is not a JSON object"))?;
        let alg = match header.get("alg") {
            Some(Value::String(name)) => Algorithm::parse(name),
            _ => None,
        }
        .filter(|a| self.settings.algorithms.contains(a))
        .ok_or(JwtError::AlgorithmNotAllowed)?;
        if header.contains_key("crit") {
            return Err(JwtError::UnsupportedCrit);
        }
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(k)) if k.len() <= MAX_KID_BYTES => Some(k.as_str()),
            Some(_) => {
                return Err(JwtError::Malformed(
                    "kid is not a string of at most 256 bytes",
                ))
            }
        };
        if seg.signature.is_empty() {
            return Err(JwtError::Malformed("empty signature"));
        }
        let signature = URL_SAFE_NO_PAD
            .decode(seg.signature)
            .map_err(|_| JwtError::Malformed("signature is not base64url"))?;
        let message = &token[..seg.header.len() + 1 + seg.payload.len()];

        let mut tried = 0;
        let mut verified = false;
        let mut try_key = |key: &Key| {
            if tried < MAX_KEYS_TRIED && !verified {
                tried += 1;
                verified = verify_signature(alg, key.decoding_key(), message, &signature);
            }
        };
        match kid {
            Some(kid) if keys.iter().any(|k| k.kid() == Some(kid)) => {
                keys.iter()
                    .filter(|k| k.kid() == Some(kid) && k.usable_with(alg))
                    .for_each(&mut try_key);
                if tried == 0 {
                    return Err(JwtError::NoSuitableKey);
                }
            }
            Some(_) => {
                keys.iter()
                    .filter(|k| k.kid().is_none() && k.usable_with(alg))
                    .for_each(&mut try_key);
                if tried == 0 {
                    return Err(JwtError::UnknownKid);
                }
            }
            None => {
                keys.iter()
                    .filter(|k| k.usable_with(alg))
                    .for_each(&mut try_key);
                if tried == 0 {
                    return Err(JwtError::NoSuitableKey);
                }
            }
        }
        if !verified {
            return Err(JwtError::BadSignature);
        }

        let payload = URL_SAFE_NO_PAD
            .decode(seg.payload)
            .map_err(|_| JwtError::Malformed("payload is not base64url"))?;
        let all = json::parse_object(&payload)
            .ok_or(JwtError::InvalidClaims("payload is not a JSON object"))?;
        self.check_claims(all, now)
    }

    fn check_claims(&self, all: Map<String, Value>, now: u64) -> Result<Claims, JwtError> {
        let leeway = self.settings.leeway.as_secs();
        let exp = numeric_date(all.get("exp").ok_or(JwtError::InvalidClaims("no exp"))?)
            .ok_or(JwtError::InvalidClaims("exp is not a NumericDate"))?;
        if now >= exp.saturating_add(leeway) {
            return Err(JwtError::Expired);
        }
        let nbf = match all.get("nbf") {
            None => None,
            Some(v) => {
                Some(numeric_date(v).ok_or(JwtError::InvalidClaims("nbf is not a NumericDate"))?)
            }
        };
        if let Some(nbf) = nbf {
            if now.saturating_add(leeway) < nbf {
                return Err(JwtError::NotYetValid);
            }
        }
        if let Some(issuer) = &self.settings.issuer {
            match all.get("iss") {
                Some(Value::String(iss)) if iss == issuer => {}
                _ => return Err(JwtError::WrongIssuer),
            }
        }
        if !self.settings.audiences.is_empty() {
            let wanted = |a: &str| self.settings.audiences.iter().any(|w| w == a);
            let ok = match all.get("aud") {
                Some(Value::String(aud)) => wanted(aud),
                Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str().is_some_and(wanted)),
                _ => false,
            };
            if !ok {
                return Err(JwtError::WrongAudience);
            }
        }
        let sub = match all.get("sub") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(JwtError::InvalidClaims("sub is not a string")),
        };
        let mut scopes = Vec::new();
        push_scopes(&mut scopes, all.get("scope"))?;
        push_scopes(&mut scopes, all.get("scp"))?;
        push_scopes(&mut scopes, all.get("scopes"))?;
        Ok(Claims {
            sub,
            exp,
            nbf,
            scopes,
            all,
        })
    }
}
