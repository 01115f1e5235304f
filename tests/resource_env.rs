//! `OTEL_SERVICE_NAME` / `OTEL_RESOURCE_ATTRIBUTES` shape the resource (own test binary:
//! it sets process-wide environment variables before anything reads them).

mod support;

use support::{AttrValue, Receiver};
use tracing_subscriber::prelude::*;

#[test]
fn otel_resource_conventions_apply() {
    // SAFETY: this binary has a single test; nothing else reads the environment concurrently.
    unsafe {
        std::env::set_var("OTEL_SERVICE_NAME", "checkout-api");
        std::env::set_var(
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.region=eu-west-1,team=search",
        );
    }
    let receiver = Receiver::start();
    let layer = support::layer_builder(&receiver).build().unwrap();
    let handle = layer.handle();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let _s = tracing::info_span!("x", langfuse.observation.type = "span").entered();
    });
    handle.flush().unwrap();
    let span = receiver.span_named("x");
    let r = &span.resource_attributes;
    assert_eq!(
        r.get("service.name"),
        Some(&AttrValue::Str("checkout-api".into()))
    );
    assert_eq!(
        r.get("deployment.region"),
        Some(&AttrValue::Str("eu-west-1".into()))
    );
    assert_eq!(r.get("team"), Some(&AttrValue::Str("search".into())));
    assert_eq!(r.get("langfuse.environment"), None, "only when set");
}
