//! An error whose `Display` writes nothing gets its short type name as the status
//! message (`KeyError`), as the reference's `type(e).__name__`, not its path
//! (`error_status::errors::KeyError`); read back from the in-process OTLP receiver.

mod support;

use langfuse_tracing::observe;

const STATUS: &str = "langfuse.observation.status_message";
const LEVEL: &str = "langfuse.observation.level";

mod errors {
    /// `Display` writes nothing.
    #[derive(Debug)]
    pub struct KeyError;

    impl std::fmt::Display for KeyError {
        fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            Ok(())
        }
    }

    impl std::error::Error for KeyError {}

    /// Generic, with an empty `Display`.
    #[derive(Debug)]
    pub struct Wrapped<T>(pub T);

    impl<T> std::fmt::Display for Wrapped<T> {
        fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            Ok(())
        }
    }

    /// A `Display` with text: kept.
    #[derive(Debug)]
    pub struct Named;

    impl std::fmt::Display for Named {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("named failure")
        }
    }
}

#[observe]
fn key_lookup() -> Result<(), errors::KeyError> {
    Err(errors::KeyError)
}

#[observe]
fn wrapped() -> Result<(), errors::Wrapped<std::io::Error>> {
    Err(errors::Wrapped(std::io::Error::other("x")))
}

#[observe]
fn boxed() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    Err(Box::new(errors::KeyError))
}

#[observe]
fn named() -> Result<(), errors::Named> {
    Err(errors::Named)
}

#[test]
fn an_empty_display_gives_the_short_type_name() {
    let (_receiver, spans) = support::capture(|| {
        let _ = key_lookup();
        let _ = wrapped();
        let _ = boxed();
        let _ = named();
    });
    let status = |name: &str| {
        let span = spans.iter().find(|s| s.name == name).expect(name);
        assert_eq!(span.str_attr(LEVEL), Some("ERROR"), "{name}");
        span.str_attr(STATUS).map(str::to_owned)
    };
    assert_eq!(status("key_lookup").as_deref(), Some("KeyError"));
    assert_eq!(status("wrapped").as_deref(), Some("Wrapped"));
    // A boxed error's Display is the inner one's: empty too, and the type seen is the box.
    assert_eq!(status("boxed").as_deref(), Some("Box"));
    assert_eq!(status("named").as_deref(), Some("named failure"));
}
