//! The configuration from variables and from the builder: defaults, precedence,
//! warnings, the base URL rules and secrets kept out of messages.

mod env_and_builder {
    use super::super::validate::validate_environment;
    use super::super::*;
    use crate::builder::LangfuseConfigBuilder;
    use std::collections::HashMap;

    fn from(vars: &[(&str, &str)]) -> (LangfuseConfig, Vec<String>) {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let (b, w) = Settings::from_env_vars(|k| map.get(k).cloned());
        (b.validate().expect("env settings validate"), w)
    }

    #[test]
    fn defaults_match_the_reference() {
        let (c, w) = from(&[]);
        assert!(w.is_empty());
        assert_eq!(
            c.endpoint(),
            "https://cloud.langfuse.com/api/public/otel/v1/traces"
        );
        assert_eq!(
            (c.flush_at, c.flush_interval, c.timeout),
            (512, Duration::from_secs(5), Duration::from_secs(5))
        );
        assert_eq!(c.compression, Compression::Gzip);
        assert_eq!(c.sample_rate, 1.0);
        assert!(c.enabled && !c.debug && c.console_enabled());
    }

    #[test]
    fn base_url_then_host_then_default_and_slashes_do_not_matter() {
        let (c, _) = from(&[
            ("LANGFUSE_HOST", "http://h:1"),
            ("LANGFUSE_BASE_URL", "http://b:2/"),
        ]);
        assert_eq!(c.endpoint(), "http://b:2/api/public/otel/v1/traces");
        let (c, _) = from(&[("LANGFUSE_HOST", "http://h:1/")]);
        assert_eq!(c.endpoint(), "http://h:1/api/public/otel/v1/traces");
        let (c, _) = from(&[
            ("LANGFUSE_BASE_URL", "http://b:2"),
            ("LANGFUSE_OTEL_TRACES_EXPORT_PATH", "/custom/v1/traces"),
        ]);
        assert_eq!(c.endpoint(), "http://b:2/custom/v1/traces");
    }

    #[test]
    fn only_false_disables_tracing() {
        assert!(!from(&[("LANGFUSE_TRACING_ENABLED", "FALSE")]).0.enabled);
        assert!(from(&[("LANGFUSE_TRACING_ENABLED", "0")]).0.enabled);
    }

    #[test]
    fn invalid_env_values_warn_once_each_and_keep_defaults() {
        let (c, w) = from(&[
            ("LANGFUSE_SAMPLE_RATE", "1.5"),
            ("LANGFUSE_FLUSH_AT", "-3"),
            ("LANGFUSE_FLUSH_INTERVAL", "soon"),
            ("LANGFUSE_TIMEOUT", "0"),
            ("LANGFUSE_OTEL_COMPRESSION", "brotli"),
            ("LANGFUSE_TRACING_ENVIRONMENT", "Production env"),
            ("LANGFUSE_QUEUE_FULL_WAIT_MS", "1.5s"),
        ]);
        assert_eq!(w.len(), 7, "{w:#?}");
        assert_eq!(c.queue_full_wait, Duration::ZERO);
        assert_eq!(c.sample_rate, 1.0);
        assert_eq!(c.flush_at, 512);
        assert_eq!(c.compression, Compression::Gzip);
        assert_eq!(c.environment, None);
        assert!(c.endpoint().starts_with(DEFAULT_BASE_URL));
    }

    #[test]
    fn valid_env_values_are_used() {
        let (c, w) = from(&[
            ("LANGFUSE_PUBLIC_KEY", "pk"),
            ("LANGFUSE_SECRET_KEY", "sk"),
            ("LANGFUSE_SAMPLE_RATE", "0.25"),
            ("LANGFUSE_FLUSH_AT", "10"),
            ("LANGFUSE_FLUSH_INTERVAL", "0.5"),
            ("LANGFUSE_TIMEOUT", "2"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "none"),
            ("LANGFUSE_TRACING_ENVIRONMENT", "staging-2"),
            ("LANGFUSE_DEBUG", "true"),
            ("LANGFUSE_QUEUE_FULL_WAIT_MS", "250"),
        ]);
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(c.queue_full_wait, Duration::from_millis(250));
        assert!(c.has_credentials() && !c.console_enabled());
        assert_eq!(c.sample_rate, 0.25);
        assert_eq!(c.flush_at, 10);
        assert_eq!(c.flush_interval, Duration::from_millis(500));
        assert_eq!(c.timeout, Duration::from_secs(2));
        assert_eq!(c.compression, Compression::None);
        assert_eq!(c.environment.as_deref(), Some("staging-2"));
        assert!(c.debug);
    }

    #[test]
    fn release_falls_back_to_ci_variables_in_order() {
        let (c, _) = from(&[("GITHUB_SHA", "gh"), ("CI_COMMIT_SHA", "gl")]);
        assert_eq!(c.release.as_deref(), Some("gl"));
        let (c, _) = from(&[("GITHUB_SHA", "gh"), ("LANGFUSE_RELEASE", "r1")]);
        assert_eq!(c.release.as_deref(), Some("r1"));
    }

    #[test]
    fn environment_rule_is_the_servers() {
        for (given, stored) in [
            ("production", "production"),
            ("staging_2", "staging_2"),
            ("a-b", "a-b"),
            ("Production", "production"),
            ("langfuse-prod", "prod"),
            ("LANGFUSE_langfuseProd", "prod"),
            ("\u{212A}8s", "k8s"),
            (&"x".repeat(45), &"x".repeat(40)),
            (&format!("{}\u{e9}", "y".repeat(40)), &"y".repeat(40)),
        ] {
            assert_eq!(validate_environment(given).unwrap(), stored, "{given}");
        }
        for bad in ["", "langfuse", "langfuse-", "a b", "pr\u{e9}", " prod"] {
            let err = validate_environment(bad).unwrap_err();
            assert_eq!(err.setting(), "environment", "{bad}");
        }
    }

    #[test]
    fn an_environment_the_server_would_change_is_sent_as_stored_with_one_warning() {
        let (c, w) = from(&[("LANGFUSE_TRACING_ENVIRONMENT", "Production")]);
        assert_eq!(c.environment.as_deref(), Some("production"));
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("LANGFUSE_TRACING_ENVIRONMENT")
                && w[0].contains("\"Production\"")
                && w[0].contains("\"production\""),
            "{w:?}"
        );
        assert!(
            c.warnings.is_empty(),
            "validation warns again: {:?}",
            c.warnings
        );
        // Through `with_env`'s path (variables, then validation): still one warning.
        let mut vars = HashMap::new();
        vars.insert("LANGFUSE_TRACING_ENVIRONMENT", "Staging");
        let c = Settings::default()
            .resolve(true, |k| vars.get(k).map(|v| v.to_string()))
            .unwrap();
        assert_eq!(c.environment(), Some("staging"));
        assert_eq!(c.warnings().len(), 1, "{:?}", c.warnings());
        // The builder: the same, one warning, no error.
        let c = LangfuseConfig::builder()
            .environment("langfuse-Prod")
            .build()
            .unwrap();
        assert_eq!(c.environment(), Some("prod"));
        assert_eq!(c.warnings().len(), 1, "{:?}", c.warnings());
        // Unchanged: no warning.
        let c = LangfuseConfig::builder()
            .environment("prod")
            .build()
            .unwrap();
        assert!(c.warnings().is_empty());
    }

    #[test]
    fn debug_output_and_errors_never_show_the_secret() {
        let b = LangfuseConfig::builder()
            .public_key("pk-lf-1")
            .secret_key("sk-lf-TOPSECRET");
        assert!(!format!("{b:?}").contains("TOPSECRET"));
        let c = b.clone().build().unwrap();
        assert!(!format!("{c:?}").contains("TOPSECRET"));
        let err = b.secret_key("sk-lf-TOPSECRET\n").build().unwrap_err();
        assert!(!err.to_string().contains("TOPSECRET"));
    }

    #[test]
    fn builder_rejects_bad_values_with_the_setting_name() {
        let cases: Vec<(LangfuseConfigBuilder, &str)> = vec![
            (
                LangfuseConfig::builder().sample_rate(f64::NAN),
                "sample_rate",
            ),
            (LangfuseConfig::builder().flush_at(0), "flush_at"),
            (LangfuseConfig::builder().timeout(Duration::ZERO), "timeout"),
            (
                LangfuseConfig::builder().base_url("localhost:3000"),
                "base_url",
            ),
            (
                LangfuseConfig::builder().environment("langfuse"),
                "environment",
            ),
            (
                LangfuseConfig::builder().header("bad header", "v"),
                "header",
            ),
        ];
        for (b, setting) in cases {
            assert_eq!(b.build().unwrap_err().setting(), setting);
        }
    }
}

mod base_url {
    use super::super::validate::{FLUSH_INTERVAL_BOUNDS, TIMEOUT_BOUNDS};
    use super::super::*;
    use std::collections::HashMap;

    fn from_env(vars: &[(&str, &str)]) -> Result<LangfuseConfig, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_env_vars(|k| map.get(k).cloned())
            .0
            .validate()
    }

    #[test]
    fn an_invalid_base_url_variable_is_an_error_naming_it_never_a_fallback() {
        for (name, value) in [
            ("LANGFUSE_BASE_URL", "langfuse.internal:3000"),
            ("LANGFUSE_BASE_URL", "ftp://x"),
            ("LANGFUSE_HOST", "http://"),
            ("LANGFUSE_HOST", "http://exa mple.com"),
        ] {
            let err = from_env(&[
                ("LANGFUSE_PUBLIC_KEY", "pk-lf-1"),
                ("LANGFUSE_SECRET_KEY", "sk-lf-1"),
                (name, value),
            ])
            .expect_err(value);
            assert_eq!(err.setting(), "base_url");
            let message = err.to_string();
            assert!(
                message.contains(name) && message.contains(value),
                "{message}"
            );
        }
    }

    #[test]
    fn a_url_with_credentials_is_rejected_and_the_secret_never_shown() {
        let url = "http://pk-lf-1:sk-lf-TOPSECRET@langfuse.internal:3000";
        let err = LangfuseConfig::builder().base_url(url).build().unwrap_err();
        assert!(!err.to_string().contains("TOPSECRET"), "{err}");
        assert!(err.to_string().contains("langfuse.internal:3000"), "{err}");
        assert!(!format!("{err:?}").contains("TOPSECRET"));
        let b = LangfuseConfig::builder().base_url(url);
        assert!(!format!("{b:?}").contains("TOPSECRET"));
        let err = from_env(&[("LANGFUSE_BASE_URL", url)]).unwrap_err();
        assert!(!err.to_string().contains("TOPSECRET"), "{err}");
    }

    /// The secret pasted anywhere else in a base URL (a malformed user info, the port,
    /// the path, the query): an error that never shows it, in `Display` or `Debug`, and
    /// never a base URL that would carry it in every request and export message.
    #[test]
    fn a_url_holding_the_secret_anywhere_is_rejected_without_showing_it() {
        for url in [
            "http://pk-lf-1:sk-lf-TOPSECRET/y@langfuse.internal",
            "http://langfuse.internal:sk-lf-TOPSECRET/",
            "ftp://sk-lf-TOPSECRET",
            "http://langfuse.internal/sk-lf-TOPSECRET",
            "http://langfuse.internal/?key=sk-lf-TOPSECRET",
        ] {
            let b = LangfuseConfig::builder().base_url(url);
            assert!(!format!("{b:?}").contains("TOPSECRET"), "{b:?}");
            let err = b.build().unwrap_err();
            assert!(!err.to_string().contains("TOPSECRET"), "{err}");
            assert!(!format!("{err:?}").contains("TOPSECRET"), "{err:?}");
            let err = from_env(&[("LANGFUSE_BASE_URL", url)]).unwrap_err();
            assert!(!err.to_string().contains("TOPSECRET"), "{err}");
        }
        // A secret of another shape, found because it is the configured one.
        let err = LangfuseConfig::builder()
            .secret_key("my-own-TOPSECRET")
            .base_url("http://langfuse.internal/my-own-TOPSECRET")
            .build()
            .unwrap_err();
        assert!(!err.to_string().contains("TOPSECRET"), "{err}");
        assert!(err.to_string().contains("secret key"), "{err}");
    }

    /// A base URL that is not UTF-8 is an error, never "unset" (which meant the cloud
    /// default: a self-hosted project's keys and data sent there).
    #[test]
    fn a_base_url_that_is_not_utf8_is_an_error() {
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            let name = "LANGFUSE_TEST_NOT_UTF8_VARIABLE";
            std::env::set_var(
                name,
                std::ffi::OsStr::from_bytes(b"http://self-hosted/\xff"),
            );
            assert_eq!(
                super::super::env::process_var(name).as_deref(),
                Some("http://self-hosted/\u{fffd}")
            );
            std::env::remove_var(name);
        }
        let err = from_env(&[("LANGFUSE_BASE_URL", "http://self-hosted/\u{fffd}")]).unwrap_err();
        assert!(err.to_string().contains("not valid UTF-8"), "{err}");
    }

    /// Durations below a nanosecond are zero: a warning and the default, never a
    /// failed start.
    #[test]
    fn sub_nanosecond_durations_are_warnings() {
        let map: HashMap<String, String> = [
            ("LANGFUSE_TIMEOUT", "1e-300"),
            ("LANGFUSE_FLUSH_INTERVAL", "1e-12"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let (settings, warnings) = Settings::from_env_vars(|k| map.get(k).cloned());
        let c = settings.validate().expect("starts");
        assert_eq!(c.timeout, Duration::from_secs(5));
        assert_eq!(c.flush_interval, Duration::from_secs(5));
        assert_eq!(warnings.len(), 2, "{warnings:?}");
    }

    /// One key without the other: a warning naming both, never a silent console.
    #[test]
    fn one_key_without_the_other_is_a_warning() {
        let c = from_env(&[("LANGFUSE_PUBLIC_KEY", "pk-lf-1")]).unwrap();
        assert!(!c.has_credentials());
        assert!(
            c.warnings()
                .iter()
                .any(|w| w.contains("LANGFUSE_SECRET_KEY") && w.contains("nothing is sent")),
            "{:?}",
            c.warnings()
        );
        let c = LangfuseConfig::builder()
            .secret_key("sk-lf-1")
            .build()
            .unwrap();
        assert!(c
            .warnings()
            .iter()
            .any(|w| w.contains("LANGFUSE_PUBLIC_KEY")));
        assert!(c.warnings().iter().all(|w| !w.contains("sk-lf-1")));
        let c = from_env(&[]).unwrap();
        assert!(c.warnings().is_empty(), "{:?}", c.warnings());
    }

    #[test]
    fn a_valid_builder_url_overrides_an_invalid_variable() {
        let set = Settings {
            base_url: Some("http://127.0.0.1:1".to_owned()),
            ..Settings::default()
        };
        let c = set
            .resolve(true, |k| {
                (k == "LANGFUSE_BASE_URL").then(|| "nope".to_owned())
            })
            .expect("the builder's URL wins");
        assert!(c.endpoint().starts_with("http://127.0.0.1:1/"));
    }

    #[test]
    fn degenerate_durations_are_clamped_with_one_warning_each() {
        let c = from_env(&[
            ("LANGFUSE_FLUSH_INTERVAL", "0.000000001"),
            ("LANGFUSE_TIMEOUT", "0.000001"),
        ])
        .unwrap();
        assert_eq!(c.flush_interval, FLUSH_INTERVAL_BOUNDS.0);
        assert_eq!(c.timeout, TIMEOUT_BOUNDS.0);
        assert_eq!(c.warnings().len(), 2, "{:?}", c.warnings());
        let c = LangfuseConfig::builder()
            .timeout(Duration::from_secs(86_400))
            .build()
            .unwrap();
        assert_eq!(c.timeout, TIMEOUT_BOUNDS.1);
        assert_eq!(c.warnings().len(), 1);
    }

    #[test]
    fn https_needs_the_tls_feature() {
        let built = LangfuseConfig::builder()
            .base_url("https://cloud.langfuse.com")
            .build();
        if cfg!(feature = "rustls") {
            assert!(built.is_ok());
        } else {
            let err = built.unwrap_err();
            assert!(err.to_string().contains("TLS"), "{err}");
        }
    }
}
