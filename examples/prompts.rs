//! Prompt management: fetch the `production` version of a prompt kept in Langfuse, fill
//! its variables, and link the generation that used it to that prompt version.
//!
//! ```text
//! cargo run --example prompts
//! ```
//!
//! Without credentials no request is made: the fallback prompts given here are used
//! (the run says so), they are never linked to the generation, and the trace is printed
//! on stderr. With `LANGFUSE_PUBLIC_KEY` and `LANGFUSE_SECRET_KEY` set, and prompts
//! named `movie-critic` (text) and `movie-chat` (chat, with a `history` placeholder)
//! in the project, the fetched versions are used, cached for 60 s, and linked.

use langfuse_tracing::observation::{generation, GenerationUpdate};
use langfuse_tracing::prompts::{ChatItem, ChatMessage, PromptClient};

fn main() {
    let _langfuse = langfuse_tracing::init().expect("langfuse configuration");
    let prompts = PromptClient::from_env().expect("langfuse configuration");

    // A text prompt, with a fallback for when it cannot be fetched.
    let critic = prompts
        .get_prompt("movie-critic")
        .fallback_text("As a {{criticlevel}} movie critic, do you like {{movie}}?")
        .text()
        .expect("a prompt or the fallback");
    if critic.is_fallback() {
        println!("movie-critic: using the fallback prompt (not linked to the generation)");
    } else {
        println!(
            "movie-critic: version {} (labels {:?})",
            critic.version(),
            critic.labels()
        );
    }
    let question = critic.compile([("criticlevel", "expert"), ("movie", "Dune: Part Two")]);
    println!("prompt: {question}");

    generation("movie-review")
        .model("gpt-4o")
        .link_prompt(&critic)
        .input(&question)
        .run(|g| {
            let answer = "Yes: the scale, the sound and the desert.";
            g.update(GenerationUpdate::new().output(&answer));
        });

    // A chat prompt with a placeholder for the conversation so far.
    let chat = prompts
        .get_prompt("movie-chat")
        .fallback_chat([
            ChatItem::message("system", "You are a {{criticlevel}} movie critic."),
            ChatItem::placeholder("history"),
            ChatItem::message("user", "And {{movie}}?"),
        ])
        .chat()
        .expect("a prompt or the fallback");
    if chat.is_fallback() {
        println!("movie-chat: using the fallback prompt (not linked to the generation)");
    }
    let messages = chat.compile_with(
        [("criticlevel", "friendly"), ("movie", "Arrival")],
        [(
            "history",
            vec![
                ChatMessage::new("user", "Did you like Dune?"),
                ChatMessage::new("assistant", "Very much."),
            ],
        )],
    );
    println!(
        "messages: {}",
        serde_json::to_string(&messages).unwrap_or_default()
    );
    generation("movie-chat-turn")
        .model("gpt-4o")
        .link_prompt(&chat)
        .input(&messages)
        .run(|g| {
            g.update(GenerationUpdate::new().output(&"A quiet masterpiece."));
        });
}
