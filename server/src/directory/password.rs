//! Password hashing and verification with argon2id, PHC strings, and the cost classes: full
//! cost for passwords a person chose, a cheaper class for generated initial passwords, and
//! the hashes brought over from an old directory, which are only ever checked (see
//! `legacy_password`) and replaced at the official's first sign-in.

use std::str::FromStr;

use std::cell::RefCell;

use argon2::password_hash::{Output, PasswordHash as Phc, PasswordHasher as _, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::RngCore;

use super::DirectoryError;
use crate::model::{PasswordCost, PasswordHash};

impl FromStr for PasswordCost {
    type Err = DirectoryError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "full" => Ok(PasswordCost::Full),
            "initial" => Ok(PasswordCost::Initial),
            "legacy" => Ok(PasswordCost::Legacy),
            other => Err(DirectoryError::Internal(format!(
                "unknown password cost class \"{other}\""
            ))),
        }
    }
}

/// argon2id parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Cost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Argon2Cost {
    /// OWASP's argon2id baseline (m=19 MiB, t=2, p=1).
    pub const FULL_DEFAULT: Argon2Cost = Argon2Cost {
        memory_kib: 19456,
        iterations: 2,
        parallelism: 1,
    };
    /// For generated initial secrets only (see [`PasswordCost::Initial`]).
    pub const INITIAL: Argon2Cost = Argon2Cost {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
    };
}

/// Hashes and verifies passwords. Hashing is CPU- and memory-heavy: callers run it off the
/// async threads (`spawn_blocking`).
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    full: Argon2Cost,
    /// Threads for [`PasswordHasher::hash_all`]; 0 is one per core.
    workers: usize,
}

impl PasswordHasher {
    /// A hasher whose full cost is `full`.
    pub fn new(full: Argon2Cost) -> PasswordHasher {
        PasswordHasher { full, workers: 0 }
    }

    /// The same hasher, hashing batches on `workers` threads (0: one per core).
    pub fn with_workers(mut self, workers: usize) -> PasswordHasher {
        self.workers = workers;
        self
    }

    /// Threads batches are hashed on, and verifications allowed at once.
    pub fn workers(&self) -> usize {
        match self.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }

    /// Hashes `password` at `cost` on a blocking thread: argon2 is deliberately slow and must
    /// not hold up the async threads.
    pub async fn hash_off_thread(
        &self,
        password: String,
        cost: PasswordCost,
    ) -> Result<PasswordHash, DirectoryError> {
        let hasher = self.clone();
        let hashing = tokio::task::spawn_blocking(move || hasher.hash(&password, cost));
        crate::task::finished(hashing.await).unwrap_or_else(|| {
            Err(DirectoryError::Internal(
                "the password was not hashed: the program is shutting down".into(),
            ))
        })
    }

    /// Hashes `password` at `cost`.
    pub fn hash(&self, password: &str, cost: PasswordCost) -> Result<PasswordHash, DirectoryError> {
        let params = match cost {
            PasswordCost::Full => self.full,
            PasswordCost::Initial => Argon2Cost::INITIAL,
            PasswordCost::Legacy => {
                return Err(DirectoryError::Internal(
                    "legacy hashes are only carried over, never made".into(),
                ))
            }
        };
        let argon = argon2_with(params)?;
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        let salt = SaltString::encode_b64(&salt)
            .map_err(|e| DirectoryError::Internal(format!("password salt: {e}")))?;
        let phc = argon
            .hash_password(password.as_bytes(), &salt)
            .map_err(|e| DirectoryError::Internal(format!("password hashing failed: {e}")))?;
        Ok(PasswordHash(phc.to_string()))
    }

    /// Whether `password` matches `stored`, in constant time. The argon2 working memory
    /// (19 MiB at full cost) is kept per thread and reused: allocating and faulting it in
    /// afresh for every login costs a noticeable share of the check.
    pub fn verify(&self, password: &str, stored: &PasswordHash) -> bool {
        thread_local! {
            static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
        }
        let Some(check) = Check::parse(&stored.0) else {
            return false;
        };
        let mut out = vec![0u8; check.expected.len()];
        let computed = MEMORY.with(|memory| {
            let mut memory = memory.borrow_mut();
            let blocks = check.argon.params().block_count();
            if memory.len() < blocks {
                memory.resize(blocks, Block::default());
            }
            check.argon.hash_password_into_with_memory(
                password.as_bytes(),
                check.salt(),
                &mut out,
                &mut memory[..blocks],
            )
        });
        // `Output`'s equality is constant-time.
        computed.is_ok() && Output::new(&out).is_ok_and(|o| o == check.expected)
    }
}

impl PasswordHasher {
    /// Hashes many passwords on the hasher's worker threads, in order, calling
    /// `progress(n)` as each batch of `n` finishes. Blocking: run it off the async threads.
    pub fn hash_all(
        &self,
        secrets: &[(String, PasswordCost)],
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<Vec<PasswordHash>, DirectoryError> {
        let workers = self.workers();
        let chunk = secrets.len().div_ceil(workers).max(1);
        std::thread::scope(|scope| {
            let handles: Vec<_> = secrets
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        let mut hashes = Vec::with_capacity(part.len());
                        for batch in part.chunks(64) {
                            for (secret, cost) in batch {
                                hashes.push(self.hash(secret, *cost)?);
                            }
                            progress(batch.len() as u64);
                        }
                        Ok::<_, DirectoryError>(hashes)
                    })
                })
                .collect();
            let mut all = Vec::with_capacity(secrets.len());
            for handle in handles {
                let part = handle
                    .join()
                    .map_err(|_| DirectoryError::Internal("a hashing thread panicked".into()))??;
                all.extend(part);
            }
            Ok(all)
        })
    }
}

/// What verifying against one stored PHC string needs.
struct Check {
    argon: Argon2<'static>,
    salt: [u8; 64],
    salt_len: usize,
    expected: Output,
}

impl Check {
    /// Reads an argon2 PHC string; `None` for anything else.
    fn parse(phc: &str) -> Option<Check> {
        let parsed = Phc::new(phc).ok()?;
        let algorithm = Algorithm::try_from(parsed.algorithm).ok()?;
        let version = match parsed.version {
            Some(v) => Version::try_from(v).ok()?,
            None => Version::default(),
        };
        let params = Params::try_from(&parsed).ok()?;
        let mut salt = [0u8; 64];
        let salt_len = parsed.salt?.decode_b64(&mut salt).ok()?.len();
        Some(Check {
            argon: Argon2::new(algorithm, version, params),
            salt,
            salt_len,
            expected: parsed.hash?,
        })
    }

    fn salt(&self) -> &[u8] {
        &self.salt[..self.salt_len]
    }
}

fn argon2_with(cost: Argon2Cost) -> Result<Argon2<'static>, DirectoryError> {
    let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
        .map_err(|e| DirectoryError::Internal(format!("argon2 parameters: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// A random initial password of 20 characters from a 57-symbol alphabet without look-alikes
/// (about 116 bits), safe to store at [`PasswordCost::Initial`].
pub fn generate_initial_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..20)
        .map(|_| ALPHABET[(rng.next_u32() as usize) % ALPHABET.len()] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_then_verify() {
        let hasher = PasswordHasher::new(Argon2Cost::INITIAL);
        let hash = hasher.hash("Mật khẩu 2026!", PasswordCost::Full).unwrap();
        assert!(hash.0.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        assert!(hasher.verify("Mật khẩu 2026!", &hash));
        assert!(!hasher.verify("Mật khẩu 2025!", &hash));
        assert!(!hasher.verify("x", &PasswordHash("not a phc".into())));
    }

    #[test]
    fn hash_all_keeps_the_order_across_threads() {
        let hasher = PasswordHasher::new(Argon2Cost::INITIAL).with_workers(4);
        let secrets: Vec<_> = (0..9)
            .map(|i| (format!("secret-{i}"), PasswordCost::Initial))
            .collect();
        let done = std::sync::atomic::AtomicU64::new(0);
        let hashes = hasher
            .hash_all(&secrets, &|n| {
                done.fetch_add(n, std::sync::atomic::Ordering::SeqCst);
            })
            .unwrap();
        assert_eq!(done.into_inner(), 9);
        for ((secret, _), hash) in secrets.iter().zip(&hashes) {
            assert!(hasher.verify(secret, hash), "{secret}");
        }
        assert!(!hasher.verify("secret-0", &hashes[1]));
    }

    #[test]
    fn initial_passwords_differ_and_avoid_look_alikes() {
        let a = generate_initial_password();
        let b = generate_initial_password();
        assert_eq!(a.len(), 20);
        assert_ne!(a, b);
        assert!(!a.contains(['0', 'O', 'l', '1', 'I']));
    }
}
