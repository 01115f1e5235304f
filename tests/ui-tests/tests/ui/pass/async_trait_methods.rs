//! `#[async_trait]` methods: the inner future is observed, not the boxing wrapper.
use async_trait::async_trait;
use langfuse_tracing_core::observe;
use std::sync::Arc;

#[async_trait]
trait Tool: Send + Sync {
    async fn run(&self, input: &str) -> Result<String, String>;

    #[observe(name = "default-method")]
    async fn twice(&self, input: &str) -> Result<String, String> {
        let once = self.run(input).await?;
        self.run(&once).await
    }
}

struct Upper;

#[async_trait]
impl Tool for Upper {
    #[observe(as_type = "tool")]
    async fn run(&self, input: &str) -> Result<String, String> {
        if input.is_empty() {
            return Err("empty".to_owned());
        }
        Ok(input.to_uppercase())
    }
}

#[async_trait]
trait Store {
    async fn put(&mut self, key: String, value: u32);
    async fn take(self: Arc<Self>, (a, b): (u32, u32)) -> u32;
    async fn unit(&self);
}

struct Mem(Vec<(String, u32)>);

#[async_trait]
impl Store for Mem {
    #[observe(skip(value))]
    async fn put(&mut self, key: String, value: u32) {
        self.0.push((key, value));
    }

    #[observe]
    async fn take(self: Arc<Self>, (a, b): (u32, u32)) -> u32 {
        self.0.len() as u32 + a + b
    }

    #[observe]
    async fn unit(&self) {}
}

pub fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        assert_eq!(Upper.run("a").await.unwrap(), "A");
        assert!(Upper.run("").await.is_err());
        assert_eq!(Upper.twice("b").await.unwrap(), "B");
        let mut m = Mem(vec![]);
        m.put("k".into(), 1).await;
        m.unit().await;
        assert_eq!(Arc::new(m).take((1, 2)).await, 4);
        // The boxed future is still `Send`.
        let dynamic: Box<dyn Tool> = Box::new(Upper);
        tokio::spawn(async move { dynamic.run("x").await })
            .await
            .unwrap()
            .unwrap();
    });
}
