//! Linking a generation to the Langfuse prompt version it used (reference §2.2:
//! `langfuse.observation.prompt.name` and the integer `.version`).
//!
//! A [`PromptLink`] is what the generation setters and
//! `propagation::PropagateAttributes::link_prompt` take. The prompt clients of
//! `langfuse_tracing::prompts` convert into one, so the fetched prompt itself is passed;
//! a **fallback** prompt (one the server did not give) converts into an empty link, and
//! nothing is written: it is never linked.
//!
//! ```
//! use langfuse_tracing_core::prompt::PromptLink;
//! assert_eq!(PromptLink::from(("qa", 3)).parts(), Some(("qa", 3)));
//! assert_eq!(PromptLink::fallback().parts(), None);
//! ```

/// The prompt name and version a generation links to, or nothing (a fallback prompt).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PromptLink {
    link: Option<(String, i64)>,
}

impl PromptLink {
    /// A link to version `version` of prompt `name`.
    ///
    /// ```
    /// let l = langfuse_tracing_core::prompt::PromptLink::new("qa", 2);
    /// assert_eq!(l.parts(), Some(("qa", 2)));
    /// ```
    pub fn new(name: impl Into<String>, version: i64) -> Self {
        PromptLink {
            link: Some((name.into(), version)),
        }
    }

    /// No link: what a fallback prompt converts into.
    ///
    /// ```
    /// assert!(langfuse_tracing_core::prompt::PromptLink::fallback().is_empty());
    /// ```
    pub fn fallback() -> Self {
        PromptLink { link: None }
    }

    /// True when nothing is linked.
    ///
    /// ```
    /// assert!(!langfuse_tracing_core::prompt::PromptLink::new("qa", 1).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.link.is_none()
    }

    /// Name and version, if linked.
    ///
    /// ```
    /// let l = langfuse_tracing_core::prompt::PromptLink::new("qa", 7);
    /// assert_eq!(l.parts(), Some(("qa", 7)));
    /// ```
    pub fn parts(&self) -> Option<(&str, i64)> {
        self.link.as_ref().map(|(n, v)| (n.as_str(), *v))
    }

    /// Name and version, if linked, by value.
    ///
    /// ```
    /// let l = langfuse_tracing_core::prompt::PromptLink::new("qa", 7);
    /// assert_eq!(l.into_parts(), Some(("qa".to_string(), 7)));
    /// ```
    pub fn into_parts(self) -> Option<(String, i64)> {
        self.link
    }
}

impl<S: Into<String>> From<(S, i64)> for PromptLink {
    fn from((name, version): (S, i64)) -> Self {
        PromptLink::new(name, version)
    }
}

impl From<&PromptLink> for PromptLink {
    fn from(link: &PromptLink) -> Self {
        link.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_and_fallbacks() {
        assert_eq!(
            PromptLink::from((String::from("a"), 1)),
            PromptLink::new("a", 1)
        );
        assert_eq!(PromptLink::default(), PromptLink::fallback());
        assert_eq!(
            PromptLink::from(&PromptLink::new("b", 2)).parts(),
            Some(("b", 2))
        );
    }
}
