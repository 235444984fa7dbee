//! Password hashing with argon2id, off the async threads and capped in concurrency.
//!
//! Each hash costs about 35 ms of CPU and 19 MiB of memory (CRATES.md), so hashing runs on
//! tokio's blocking pool behind a semaphore sized to the cores. The permit moves into the
//! blocking task: a client that disconnects drops its request, not the hash it started, so
//! the hash keeps its permit until it ends and no more than `concurrency` ever run. Requests
//! waiting for a permit are bounded too (`queue`): past it, `Busy`, which the API answers
//! with 503 and Retry-After (DESIGN §8). Signin with an unknown email verifies against a
//! dummy hash, so it costs what a wrong password costs.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use tokio::sync::{OnceCell, Semaphore};

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("password hashing was interrupted")]
    Interrupted,
    #[error("too many password hashes are waiting")]
    Busy,
}

#[derive(Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
    /// Places in the queue for a permit; `None`: unbounded (`--limits off`).
    queue: Option<Arc<Semaphore>>,
    /// Hashes running now, counted inside the blocking task (`/metrics`).
    running: Arc<AtomicUsize>,
    dummy: Arc<OnceCell<String>>,
}

impl Passwords {
    /// At most `concurrency` hashes at once, and `queue` more waiting (`None`: no bound).
    pub fn new(concurrency: usize, queue: Option<usize>) -> Passwords {
        Passwords {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            queue: queue.map(|places| Arc::new(Semaphore::new(places))),
            running: Arc::new(AtomicUsize::new(0)),
            dummy: Arc::new(OnceCell::new()),
        }
    }

    /// Hashes running at this moment.
    pub fn running(&self) -> usize {
        self.running.load(Ordering::Relaxed)
    }

    /// Hashes a password into a PHC string with a fresh salt.
    pub async fn hash(&self, password: &str) -> Result<String, PasswordError> {
        let password = password.to_owned();
        self.blocking(move || {
            Argon2::default()
                .hash_password(password.as_bytes())
                .map(|hash| hash.to_string())
                .map_err(|e| PasswordError::Hash(e.to_string()))
        })
        .await
    }

    /// Checks a password against a PHC string; `None` verifies against a dummy hash and
    /// answers false, taking the same time.
    pub async fn verify(
        &self,
        password: &str,
        hash: Option<String>,
    ) -> Result<bool, PasswordError> {
        let known = hash.is_some();
        let hash = match hash {
            Some(hash) => hash,
            None => self.dummy_hash().await?,
        };
        let password = password.to_owned();
        let matches = self
            .blocking(move || {
                Ok(Argon2::default()
                    .verify_password(password.as_bytes(), hash.as_str())
                    .is_ok())
            })
            .await?;
        Ok(known && matches)
    }

    async fn dummy_hash(&self) -> Result<String, PasswordError> {
        self.dummy
            .get_or_try_init(|| self.hash("not a real password, only spends time"))
            .await
            .cloned()
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, PasswordError> + Send + 'static,
    ) -> Result<T, PasswordError> {
        let place = match &self.queue {
            Some(queue) => Some(
                queue
                    .clone()
                    .try_acquire_owned()
                    .map_err(|_| PasswordError::Busy)?,
            ),
            None => None,
        };
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| PasswordError::Interrupted)?;
        drop(place);
        let running = self.running.clone();
        tokio::task::spawn_blocking(move || {
            // Held until the hash ends, whether or not anyone still waits for it.
            let _permit = permit;
            running.fetch_add(1, Ordering::Relaxed);
            let result = work();
            running.fetch_sub(1, Ordering::Relaxed);
            result
        })
        .await
        .map_err(|_| PasswordError::Interrupted)?
    }
}
