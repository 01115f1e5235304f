//! [`ConfigError`]: which setting is wrong and why, never a secret value.

use std::fmt;

/// An invalid setting. It names the setting and the reason, never a secret value.
///
/// ```
/// let err = langfuse_tracing::LangfuseConfig::builder().sample_rate(2.0).build().unwrap_err();
/// assert!(err.to_string().contains("sample_rate"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ConfigError {
    setting: &'static str,
    message: String,
}

impl ConfigError {
    pub(crate) fn invalid(setting: &'static str, value: &str, why: &str) -> Self {
        let shown: String = value.chars().take(80).collect();
        ConfigError {
            setting,
            message: format!("invalid {setting} {shown:?}: {why}"),
        }
    }

    pub(crate) fn other(setting: &'static str, message: impl Into<String>) -> Self {
        ConfigError {
            setting,
            message: message.into(),
        }
    }

    /// The name of the setting that is wrong (`sample_rate`, `base_url`, ...).
    ///
    /// ```
    /// let err = langfuse_tracing::LangfuseConfig::builder().flush_at(0).build().unwrap_err();
    /// assert_eq!(err.setting(), "flush_at");
    /// ```
    pub fn setting(&self) -> &'static str {
        self.setting
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The message as it is, not escaped inside a struct: what `.expect("...")` and
/// `fn main() -> Result<..>` print is then as readable as `Display`.
///
/// ```
/// let err = langfuse_tracing::LangfuseConfig::builder().base_url("cloud.langfuse.com").build().unwrap_err();
/// assert!(format!("{err:?}").starts_with("invalid base_url \"cloud.langfuse.com\": expected an http"));
/// ```
impl fmt::Debug for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (setting: {})", self.message, self.setting)
    }
}

impl std::error::Error for ConfigError {}
