//! Cross-service propagation: W3C `traceparent` and `baggage` headers.
//!
//! The W3C propagators of OpenTelemetry Rust 0.33 live in `opentelemetry_sdk`, which this
//! crate must not depend on, so the two headers are read and written here by hand, to
//! the W3C Trace Context and Baggage specifications (the tests check the result against
//! the SDK's propagators).
//!
//! One job per module: `traceparent.rs` parses the Trace Context header, `baggage.rs`
//! reads and writes the Baggage header's `langfuse_*` members (percent-encoding, W3C
//! limits, the trace claim), `inject.rs` writes both for an outbound request from the
//! current context, `extract.rs` reads them into a [`RemoteContext`] scope.

mod baggage;
mod extract;
mod inject;
mod traceparent;

pub use baggage::BAGGAGE_HEADER;
pub use extract::{extract_trace_headers, RemoteContext};
pub use inject::{current_baggage, current_traceparent, inject_trace_headers};
pub use traceparent::{TraceContextError, TRACEPARENT_HEADER};

#[cfg(test)]
mod tests {
    use super::baggage::{
        parse_baggage, parse_tags, percent_decode, percent_encode, MAX_BAGGAGE_BYTES,
        MAX_BAGGAGE_MEMBERS,
    };
    use super::traceparent::parse_traceparent;
    use super::*;
    use crate::propagation::tests::warnings;
    use crate::propagation::{current, PropagateAttributes};
    use http::header::{HeaderMap, HeaderValue};

    const TP: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn traceparent_valid_forms() {
        assert_eq!(
            parse_traceparent(TP).unwrap(),
            (0x0af7651916cd43dd8448eb211c80319c, 0xb7ad6b7169203331, true)
        );
        let unsampled = TP.replace("-01", "-00");
        assert!(!parse_traceparent(&unsampled).unwrap().2);
        // Surrounding whitespace; unknown flag bits.
        assert!(parse_traceparent(&format!(" {TP}\t")).is_ok());
        assert!(parse_traceparent(&TP.replace("-01", "-03")).unwrap().2);
        // A future version may append fields.
        let v1 = TP.replacen("00", "01", 1);
        assert!(parse_traceparent(&v1).is_ok());
        assert!(parse_traceparent(&format!("{v1}-extra")).is_ok());
    }

    #[test]
    fn traceparent_invalid_forms() {
        let bad = [
            "",
            "00",
            &TP[..54],
            &format!("{TP}-extra"), // version 00 has 4 fields
            &format!("{}x", TP.replacen("00", "01", 1)), // later version: `-` must follow
            &TP.replacen("00", "ff", 1),
            &TP.to_uppercase(),
            &TP.replace("0af7", "0AF7"),
            &TP.replace("b7ad", "B7AD"),
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "00-0af7651916cd43dd8448eb211c80319g-b7ad6b7169203331-01",
            "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0x",
            "0g-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ];
        for b in bad {
            assert!(parse_traceparent(b).is_err(), "{b:?} accepted");
        }
    }

    #[test]
    fn percent_encoding_round_trips_and_reads_python_plus() {
        let mut s = String::new();
        percent_encode(&mut s, "a b+c=d,e;f%g\"h'é✓");
        assert_eq!(s, "a%20b%2Bc%3Dd%2Ce%3Bf%25g%22h%27%C3%A9%E2%9C%93");
        assert_eq!(percent_decode(&s).unwrap(), "a b+c=d,e;f%g\"h'é✓");
        assert_eq!(percent_decode("John+Doe").unwrap(), "John Doe");
        assert_eq!(percent_decode("100%").unwrap(), "100%");
        assert_eq!(percent_decode("%zz%4").unwrap(), "%zz%4");
        assert!(percent_decode("%FF").is_none());
    }

    #[test]
    fn baggage_maps_langfuse_members_and_ignores_others() {
        let header = "other=1, langfuse_trace_id=abc,langfuse_user_id=baggage-user;prop=1,\
            langfuse_session_id=baggage-session,langfuse_version=2.0,langfuse_trace_name=t,\
            langfuse_environment=prod,langfuse_tags=%5B%27tag-a%27%2C+%27tag-b%27%5D,\
            langfuse_metadata_experiment=%22variant_a%22,langfuse_custom=x,\
            langfuse_prompt_name=qa,langfuse_prompt_version=3";
        let a = parse_baggage(header);
        assert_eq!(a.user_id.as_deref(), Some("baggage-user"));
        assert_eq!(a.session_id.as_deref(), Some("baggage-session"));
        assert_eq!(a.version.as_deref(), Some("2.0"));
        assert_eq!(a.trace_name.as_deref(), Some("t"));
        assert_eq!(a.environment.as_deref(), Some("prod"));
        assert_eq!(a.tags, ["tag-a", "tag-b"]);
        assert_eq!(
            a.metadata,
            [
                ("experiment".to_string(), "\"variant_a\"".to_string()),
                ("custom".into(), "x".into())
            ]
        );
        assert_eq!(a.prompt, Some(("qa".to_string(), 3)));
        // Forwarded: the accepted langfuse entries only.
        let names: Vec<&str> = a.baggage.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "langfuse_user_id",
                "langfuse_session_id",
                "langfuse_version",
                "langfuse_trace_name",
                "langfuse_environment",
                "langfuse_tags",
                "langfuse_metadata_experiment",
                "langfuse_custom",
                "langfuse_prompt_name",
                "langfuse_prompt_version"
            ]
        );
    }

    #[test]
    fn baggage_values_are_validated() {
        let long = "x".repeat(201);
        let header = format!(
            "langfuse_user_id={long},langfuse_session_id=s,langfuse_environment=Prod,\
             langfuse_metadata_bad-key=1,langfuse_prompt_name=p,langfuse_prompt_version=v1"
        );
        let (a, w) = warnings(|| parse_baggage(&header));
        assert!(a.user_id.is_none());
        assert_eq!(a.session_id.as_deref(), Some("s"));
        assert!(a.environment.is_none());
        assert!(a.metadata.is_empty());
        assert!(a.prompt.is_none());
        assert_eq!(w.len(), 4, "{w:?}");
        assert!(w.iter().all(|m| !m.contains("xxxx")));
    }

    #[test]
    fn tags_in_three_forms() {
        assert_eq!(parse_tags(r#"["a","b,c"]"#), ["a", "b,c"]);
        assert_eq!(parse_tags("['tag-a', 'tag-b']"), ["tag-a", "tag-b"]);
        assert_eq!(parse_tags("a, b"), ["a", "b"]);
    }

    #[test]
    fn oversized_baggage_is_ignored() {
        let header = format!("langfuse_user_id=u,big={}", "x".repeat(9000));
        let (a, w) = warnings(|| parse_baggage(&header));
        assert!(a.user_id.is_none());
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn extract_rules() {
        let mut h = HeaderMap::new();
        assert_eq!(extract_trace_headers(&h).unwrap(), RemoteContext::default());
        h.insert("baggage", HeaderValue::from_static("langfuse_user_id=u"));
        h.append("baggage", HeaderValue::from_static("langfuse_session_id=s"));
        let cx = extract_trace_headers(&h).unwrap();
        assert!(cx.trace_id().is_none());
        assert_eq!(cx.attributes().unwrap().user_id.as_deref(), Some("u"));
        assert_eq!(cx.attributes().unwrap().session_id.as_deref(), Some("s"));
        h.insert("traceparent", HeaderValue::from_static(TP));
        let cx = extract_trace_headers(&h).unwrap();
        assert_eq!(
            cx.trace_id().unwrap().to_string(),
            "0af7651916cd43dd8448eb211c80319c"
        );
        assert_eq!(
            cx.parent_observation_id().unwrap().to_string(),
            "b7ad6b7169203331"
        );
        h.append("traceparent", HeaderValue::from_static(TP));
        assert!(extract_trace_headers(&h).is_err());
        h.insert("traceparent", HeaderValue::from_static("garbage"));
        assert!(extract_trace_headers(&h).is_err());
    }

    #[test]
    fn remote_context_scope_sets_the_frame_and_replaces_outer_attributes() {
        let cx = RemoteContext::from_w3c(Some(TP), Some("langfuse_user_id=remote")).unwrap();
        PropagateAttributes::new()
            .user_id("local")
            .session_id("local-s")
            .run(|| {
                cx.run(|| {
                    let f = crate::__layer::context::current_frame();
                    let r = f.remote_parent.unwrap();
                    assert_eq!(
                        (r.trace_id, r.span_id, r.as_root, r.anchor),
                        (
                            0x0af7651916cd43dd8448eb211c80319c,
                            0xb7ad6b7169203331,
                            false,
                            None
                        )
                    );
                    let a = f.propagated.unwrap();
                    assert_eq!(a.user_id.as_deref(), Some("remote"));
                    assert!(a.session_id.is_none());
                    // No observation: the remote parent is passed on.
                    assert_eq!(current_traceparent().as_deref(), Some(TP));
                    // Received baggage travels on; a nested scope adds to it.
                    PropagateAttributes::new()
                        .session_id("s2")
                        .as_baggage(true)
                        .run(|| {
                            assert_eq!(
                                current_baggage().as_deref(),
                                Some("langfuse_user_id=remote,langfuse_session_id=s2")
                            );
                        });
                });
            });
        assert!(current().attributes().is_none());
    }

    #[test]
    fn inject_keeps_foreign_baggage_and_replaces_langfuse_members() {
        let mut h = HeaderMap::new();
        h.insert(
            "baggage",
            HeaderValue::from_static("k1=v1;p=1, langfuse_user_id=old,k2=v2"),
        );
        PropagateAttributes::new()
            .user_id("new")
            .as_baggage(true)
            .run(|| inject_trace_headers(&mut h));
        assert_eq!(h["baggage"], "k1=v1;p=1,k2=v2,langfuse_user_id=new");
        // Nothing to propagate: headers untouched.
        let mut h2 = HeaderMap::new();
        inject_trace_headers(&mut h2);
        assert!(h2.is_empty());
    }

    #[test]
    fn inject_respects_the_w3c_limits() {
        let mut p = PropagateAttributes::new().as_baggage(true);
        for i in 0..80 {
            p = p.metadata(format!("k{i}"), &"v".repeat(150));
        }
        let (header, w) = warnings(|| p.run(current_baggage));
        let header = header.unwrap();
        assert!(header.len() <= MAX_BAGGAGE_BYTES);
        assert!(header.split(',').count() <= MAX_BAGGAGE_MEMBERS);
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn baggage_round_trip_through_headers() {
        let mut h = HeaderMap::new();
        PropagateAttributes::new()
            .user_id("user 1+2")
            .session_id("sé,ss;ion=1")
            .tags(["a,b", "c"])
            .metadata("m", &serde_json::json!({"k": "v w"}))
            .environment("prod")
            .version("v1")
            .trace_name("tn")
            .prompt("pn", 7)
            .as_baggage(true)
            .run(|| inject_trace_headers(&mut h));
        let a = extract_trace_headers(&h)
            .unwrap()
            .attributes()
            .cloned()
            .unwrap();
        assert_eq!(a.user_id.as_deref(), Some("user 1+2"));
        assert_eq!(a.session_id.as_deref(), Some("sé,ss;ion=1"));
        assert_eq!(a.tags, ["a,b", "c"]);
        assert_eq!(
            a.metadata,
            [("m".to_string(), r#"{"k":"v w"}"#.to_string())]
        );
        assert_eq!(a.environment.as_deref(), Some("prod"));
        assert_eq!(a.version.as_deref(), Some("v1"));
        assert_eq!(a.trace_name.as_deref(), Some("tn"));
        assert_eq!(a.prompt, Some(("pn".to_string(), 7)));
    }
}
