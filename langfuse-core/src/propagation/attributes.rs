//! The values of a `propagate_attributes` scope: [`PropagatedAttributes`], how each
//! value is validated (dropped with one warning, never the value) and how nested
//! scopes merge. A leaf module: the layer's context frame and the observation state
//! hold these values, so it imports nothing of the layer (only `warn`).

/// The longest propagated value, in characters (Unicode scalar values). A longer one
/// is dropped with one warning (the reference SDK's rule): shorten it first if it can
/// be longer.
///
/// ```
/// use langfuse_tracing_core::propagation::{PropagateAttributes, MAX_VALUE_CHARS};
///
/// let user_id: String = "user-".repeat(60); // 300 characters
/// let user_id: String = user_id.chars().take(MAX_VALUE_CHARS).collect();
/// let scope = PropagateAttributes::new().user_id(user_id.clone());
/// assert_eq!(scope.attributes().user_id.as_deref(), Some(user_id.as_str()));
/// ```
pub const MAX_VALUE_CHARS: usize = 200;

/// The longest propagated environment, in characters; a longer one is dropped with one
/// warning.
///
/// ```
/// use langfuse_tracing_core::propagation::{PropagateAttributes, MAX_ENVIRONMENT_CHARS};
///
/// let region = "staging-eu-west-1";
/// assert!(region.len() <= MAX_ENVIRONMENT_CHARS);
/// let scope = PropagateAttributes::new().environment(region);
/// assert_eq!(scope.attributes().environment.as_deref(), Some(region));
/// ```
pub const MAX_ENVIRONMENT_CHARS: usize = 40;

/// The validated, merged attributes of the innermost `propagate_attributes` scope.
///
/// The layer copies this (an `Arc`) into every observation started in the scope and
/// writes it at export; the observation's own values win where the wire reference says so.
///
/// ```
/// let p = langfuse_tracing_core::propagation::PropagatedAttributes::default();
/// assert!(p.user_id.is_none());
/// assert!(p.is_empty());
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PropagatedAttributes {
    /// `user.id`.
    pub user_id: Option<String>,
    /// `session.id`.
    pub session_id: Option<String>,
    /// `langfuse.version`.
    pub version: Option<String>,
    /// `langfuse.trace.name`.
    pub trace_name: Option<String>,
    /// `langfuse.environment`.
    pub environment: Option<String>,
    /// `langfuse.trace.tags`.
    pub tags: Vec<String>,
    /// `langfuse.trace.metadata.<key>`, metadata-encoded.
    pub metadata: Vec<(String, String)>,
    /// `langfuse.observation.prompt.name` / `.version`.
    pub prompt: Option<(String, i64)>,
    /// W3C baggage entries (name, unencoded value) that [`inject_trace_headers`](super::inject_trace_headers) sends
    /// along: those of `as_baggage` scopes and those received by [`extract_trace_headers`](super::extract_trace_headers).
    /// Not written on observations.
    pub baggage: Vec<(String, String)>,
}

impl PropagatedAttributes {
    /// True when nothing would be written on an observation (baggage aside).
    ///
    /// ```
    /// use langfuse_tracing_core::propagation::PropagatedAttributes;
    /// let mut p = PropagatedAttributes::default();
    /// assert!(p.is_empty());
    /// p.tags.push("a".into());
    /// assert!(!p.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.user_id.is_none()
            && self.session_id.is_none()
            && self.version.is_none()
            && self.trace_name.is_none()
            && self.environment.is_none()
            && self.tags.is_empty()
            && self.metadata.is_empty()
            && self.prompt.is_none()
    }

    /// `self` (the outer scope) with `inner` nested in it, by the Langfuse rules:
    /// scalars of `inner` replace those of `self`, metadata merges (inner wins per key),
    /// tags are the outer list plus each inner tag not already in the *outer* list.
    /// Baggage entries merge per name, inner winning.
    ///
    /// ```
    /// use langfuse_tracing_core::propagation::PropagatedAttributes;
    /// let outer = PropagatedAttributes {
    ///     user_id: Some("u1".into()),
    ///     tags: vec!["tag-a".into(), "tag-b".into(), "tag-a".into()],
    ///     metadata: vec![("a".into(), "1".into()), ("b".into(), "1".into())],
    ///     ..Default::default()
    /// };
    /// let inner = PropagatedAttributes {
    ///     user_id: Some("u2".into()),
    ///     tags: vec!["tag-c".into(), "tag-a".into()],
    ///     metadata: vec![("b".into(), "2".into())],
    ///     ..Default::default()
    /// };
    /// let m = outer.merged(&inner);
    /// assert_eq!(m.user_id.as_deref(), Some("u2"));
    /// assert_eq!(m.tags, ["tag-a", "tag-b", "tag-a", "tag-c"]);
    /// assert_eq!(m.metadata, [("a".to_string(), "1".to_string()), ("b".into(), "2".into())]);
    /// ```
    #[must_use]
    pub fn merged(&self, inner: &PropagatedAttributes) -> PropagatedAttributes {
        let pick = |inner: &Option<String>, outer: &Option<String>| {
            inner.clone().or_else(|| outer.clone())
        };
        let mut tags = self.tags.clone();
        for tag in &inner.tags {
            if !self.tags.contains(tag) {
                tags.push(tag.clone());
            }
        }
        let mut metadata = self.metadata.clone();
        for (k, v) in &inner.metadata {
            upsert(&mut metadata, k, v);
        }
        let mut baggage = self.baggage.clone();
        for (k, v) in &inner.baggage {
            upsert(&mut baggage, k, v);
        }
        PropagatedAttributes {
            user_id: pick(&inner.user_id, &self.user_id),
            session_id: pick(&inner.session_id, &self.session_id),
            version: pick(&inner.version, &self.version),
            trace_name: pick(&inner.trace_name, &self.trace_name),
            environment: pick(&inner.environment, &self.environment),
            tags,
            metadata,
            prompt: inner.prompt.clone().or_else(|| self.prompt.clone()),
            baggage,
        }
    }
}

pub(crate) fn upsert(pairs: &mut Vec<(String, String)>, key: &str, value: &str) {
    match pairs.iter_mut().find(|(k, _)| k == key) {
        Some(slot) => slot.1 = value.to_owned(),
        None => pairs.push((key.to_owned(), value.to_owned())),
    }
}

// ---------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------

/// Logs the one warning for a dropped entry: the key and the reason, never the value.
pub(crate) fn dropped(key: &str, reason: &str) {
    crate::__layer::warn::emit(&format!("propagate_attributes: `{key}` dropped: {reason}"));
}

/// More than `max` characters, counted without walking a long string to its end.
fn longer_than(s: &str, max: usize) -> bool {
    s.len() > max && s.chars().nth(max).is_some()
}

/// A user id, session id, version, trace name or tag: at most 200 characters.
pub(crate) fn check_value(key: &str, value: String) -> Option<String> {
    if longer_than(&value, MAX_VALUE_CHARS) {
        dropped(key, "longer than 200 characters");
        None
    } else {
        Some(value)
    }
}

/// `^(?!langfuse)[a-z0-9_-]+$`, at most 40 characters.
pub(crate) fn check_environment(key: &str, value: String) -> Option<String> {
    let ok = !value.is_empty()
        && value.len() <= MAX_ENVIRONMENT_CHARS
        && value
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-'))
        && !value.starts_with("langfuse");
    if ok {
        Some(value)
    } else {
        dropped(
            key,
            "must be 1 to 40 characters of a-z, 0-9, `_`, `-`, not starting with `langfuse`",
        );
        None
    }
}

/// ASCII letters, digits and `_` (DESIGN.md), non-empty.
pub(crate) fn valid_metadata_key(key: &str) -> bool {
    !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A printable, bounded form of a rejected key for the warning.
pub(crate) fn shown_key(key: &str) -> String {
    let short: String = key.chars().take(64).collect();
    format!("metadata key {short:?}")
}

/// Checks one metadata entry whose value is already metadata-encoded.
pub(crate) fn check_metadata(key: &str, encoded: String) -> Option<(String, String)> {
    if !valid_metadata_key(key) {
        dropped(
            &shown_key(key),
            "keys may only contain ASCII letters, digits and `_`",
        );
        return None;
    }
    if longer_than(&encoded, MAX_VALUE_CHARS) {
        dropped(
            &format!("metadata.{key}"),
            "the encoded value is longer than 200 characters",
        );
        return None;
    }
    Some((key.to_owned(), encoded))
}

/// A prompt: a non-empty name of at most 200 characters.
pub(crate) fn check_prompt(key: &str, name: String, version: i64) -> Option<(String, i64)> {
    if name.is_empty() {
        dropped(key, "the prompt name is empty");
        return None;
    }
    check_value(key, name).map(|name| (name, version))
}
