//! W3C trace and observation ids, and `create_trace_id`.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

/// A W3C trace id: 16 bytes, shown as 32 lowercase hex characters.
///
/// ```
/// use langfuse_tracing_core::TraceId;
/// let id: TraceId = "6cec55478a541a9eb2b3bfd6c8ba5670".parse().unwrap();
/// assert_eq!(id.to_string(), "6cec55478a541a9eb2b3bfd6c8ba5670");
/// assert!("6CEC".parse::<TraceId>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraceId(u128);

/// A W3C span id, the id of one observation: 8 bytes, shown as 16 lowercase hex characters.
///
/// ```
/// use langfuse_tracing_core::ObservationId;
/// let id: ObservationId = "6cec55478a541a9e".parse().unwrap();
/// assert_eq!(id.to_u64(), 0x6cec55478a541a9e);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObservationId(u64);

/// An id string that is not lowercase hex of the right length, or is all zeros.
///
/// ```
/// let err = "xyz".parse::<langfuse_tracing_core::TraceId>().unwrap_err();
/// assert!(err.to_string().contains("32 lowercase hex"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidId {
    what: &'static str,
    len: usize,
    value: String,
}

impl fmt::Display for InvalidId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid {}: expected {} lowercase hex characters, not all zero, got {:?}",
            self.what, self.len, self.value
        )
    }
}

impl std::error::Error for InvalidId {}

fn parse_hex(s: &str, len: usize, what: &'static str) -> Result<u128, InvalidId> {
    let err = || InvalidId {
        what,
        len,
        value: s.chars().take(64).collect(),
    };
    if s.len() != len || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(err());
    }
    match u128::from_str_radix(s, 16) {
        Ok(0) | Err(_) => Err(err()),
        Ok(v) => Ok(v),
    }
}

impl TraceId {
    /// Wraps a raw id; `None` for the invalid all-zero id.
    ///
    /// ```
    /// assert!(langfuse_tracing_core::TraceId::from_u128(0).is_none());
    /// ```
    pub const fn from_u128(v: u128) -> Option<Self> {
        if v == 0 {
            None
        } else {
            Some(TraceId(v))
        }
    }

    /// The raw value.
    ///
    /// ```
    /// assert_eq!(langfuse_tracing_core::TraceId::from_u128(5).unwrap().to_u128(), 5);
    /// ```
    pub const fn to_u128(self) -> u128 {
        self.0
    }

    /// A fresh random id.
    ///
    /// ```
    /// assert_ne!(langfuse_tracing_core::TraceId::random(), langfuse_tracing_core::TraceId::random());
    /// ```
    pub fn random() -> Self {
        TraceId(random_u128())
    }
}

impl ObservationId {
    /// Wraps a raw id; `None` for the invalid all-zero id.
    ///
    /// ```
    /// assert!(langfuse_tracing_core::ObservationId::from_u64(1).is_some());
    /// ```
    pub const fn from_u64(v: u64) -> Option<Self> {
        if v == 0 {
            None
        } else {
            Some(ObservationId(v))
        }
    }

    /// The raw value.
    ///
    /// ```
    /// assert_eq!(langfuse_tracing_core::ObservationId::from_u64(9).unwrap().to_u64(), 9);
    /// ```
    pub const fn to_u64(self) -> u64 {
        self.0
    }

    /// A fresh random id.
    ///
    /// ```
    /// let _ = langfuse_tracing_core::ObservationId::random();
    /// ```
    pub fn random() -> Self {
        ObservationId(random_u64())
    }
}

impl FromStr for TraceId {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, InvalidId> {
        parse_hex(s, 32, "trace id").map(TraceId)
    }
}

impl FromStr for ObservationId {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, InvalidId> {
        parse_hex(s, 16, "observation id").map(|v| ObservationId(v as u64))
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({:032x})", self.0)
    }
}

impl fmt::Display for ObservationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Debug for ObservationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObservationId({:016x})", self.0)
    }
}

/// A non-zero random u128 from the thread-local generator (cheap: no syscall, no lock).
#[doc(hidden)]
pub fn random_u128() -> u128 {
    loop {
        let v = fastrand::u128(..);
        if v != 0 {
            return v;
        }
    }
}

/// A non-zero random u64 from the thread-local generator.
#[doc(hidden)]
pub fn random_u64() -> u64 {
    loop {
        let v = fastrand::u64(..);
        if v != 0 {
            return v;
        }
    }
}

/// A trace id for correlating Langfuse with an external id.
///
/// With a non-empty seed the id is deterministic: the first 16 bytes of SHA-256 of the
/// seed's UTF-8 bytes, as the other Langfuse SDKs compute it. With `None` or `""` it is random.
///
/// ```
/// use langfuse_tracing_core::create_trace_id;
/// assert_eq!(create_trace_id(Some("req_12345")).to_string(), "6cec55478a541a9eb2b3bfd6c8ba5670");
/// assert_ne!(create_trace_id(None), create_trace_id(None));
/// ```
pub fn create_trace_id(seed: Option<&str>) -> TraceId {
    match seed {
        Some(seed) if !seed.is_empty() => {
            let digest = Sha256::digest(seed.as_bytes());
            let mut bytes = [0u8; 16];
            bytes.copy_from_slice(&digest[..16]);
            // A digest prefix of zero is astronomically unlikely; fall back to random.
            TraceId::from_u128(u128::from_be_bytes(bytes)).unwrap_or_else(TraceId::random)
        }
        _ => TraceId::random(),
    }
}

/// The trace id of the current observation, or `None` when none is current (or no
/// Langfuse layer is installed).
///
/// ```
/// assert!(langfuse_tracing_core::get_current_trace_id().is_none());
/// ```
pub fn get_current_trace_id() -> Option<TraceId> {
    let mut out = None;
    crate::__layer::hooks::with_current_state(|s| out = TraceId::from_u128(s.trace_id));
    out
}

/// The id of the current observation, or `None` when none is current.
///
/// ```
/// assert!(langfuse_tracing_core::get_current_observation_id().is_none());
/// ```
pub fn get_current_observation_id() -> Option<ObservationId> {
    let mut out = None;
    crate::__layer::hooks::with_current_state(|s| out = ObservationId::from_u64(s.span_id));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_trace_id_matches_the_python_sdk() {
        assert_eq!(
            create_trace_id(Some("req_12345")).to_string(),
            "6cec55478a541a9eb2b3bfd6c8ba5670"
        );
        assert_eq!(
            create_trace_id(Some("req_12345")),
            create_trace_id(Some("req_12345"))
        );
    }

    #[test]
    fn empty_seed_is_random() {
        assert_ne!(create_trace_id(Some("")), create_trace_id(Some("")));
    }

    #[test]
    fn ids_reject_bad_strings() {
        for bad in [
            "",
            "abc",
            "6CEC55478A541A9EB2B3BFD6C8BA5670",
            "00000000000000000000000000000000",
            "6cec55478a541a9eb2b3bfd6c8ba567g",
            "6cec55478a541a9eb2b3bfd6c8ba56700",
        ] {
            assert!(bad.parse::<TraceId>().is_err(), "{bad}");
        }
        assert!("0000000000000000".parse::<ObservationId>().is_err());
        assert_eq!(
            "00000000000000ff"
                .parse::<ObservationId>()
                .unwrap()
                .to_string(),
            "00000000000000ff"
        );
    }
}
