//! A generation whose input holds an image as a data URI: the image is sent as
//! Langfuse media (uploaded in the background) and the input keeps only a reference.
//!
//! ```text
//! cargo run --example vision
//! ```
//!
//! Runs with no credentials (the console shows the media reference).
//! `LANGFUSE_MEDIA_UPLOAD_ENABLED=false` keeps the data URI as it is.

use base64::Engine as _;
use langfuse_tracing::observation::{generation, GenerationUpdate};
use serde_json::json;

fn main() {
    let langfuse = match langfuse_tracing::init() {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("langfuse: {e}");
            std::process::exit(1);
        }
    };
    // A 1x1 PNG.
    let png: &[u8] = &[
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44,
        0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f,
        0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8,
        0xcf, 0xc0, 0xf0, 0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00,
        0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
    ];
    let data_uri = format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png)
    );
    let input = json!([{
        "role": "user",
        "content": [
            {"type": "text", "text": "What is in this image?"},
            {"type": "image_url", "image_url": {"url": &data_uri}}
        ]
    }]);

    let llm = generation("describe-image").model("gpt-4o").start();
    // The image is recorded as
    // `@@@langfuseMedia:type=image/png|id=...|source=base64_data_uri@@@`, with no call
    // needed: the layer replaces data URIs (and the Anthropic and Gemini base64 shapes)
    // in input, output and metadata, and uploads the bytes in the background.
    if let Some(media) = langfuse_tracing::media::LangfuseMedia::from_data_uri(&data_uri) {
        println!("{}", media.reference());
    }
    llm.update(
        GenerationUpdate::new()
            .input(&input)
            .output(&"A single transparent pixel."),
    );
    llm.end();
    drop(langfuse); // waits for the upload, the spans and the scores
}
