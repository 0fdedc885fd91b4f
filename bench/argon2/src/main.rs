//! L2's bound: CPU per argon2id verification for each implementation a Rust server could
//! use, at congvu's full cost (m = 19,456 KiB, t = 2, p = 1), on one core, in one process.
//!
//! - RustCrypto `argon2` 0.5 (what congvu uses) and 0.6 (which adds an AVX2 path), each
//!   with its working memory kept between checks, as congvu keeps it per thread;
//! - libsodium's `crypto_pwhash` (through `libsodium-rs`, libsodium's author's binding),
//!   which maps its working memory afresh for every check;
//! - Debian's libargon2, the reference C implementation slapd's argon2 module calls.
//!
//! Every implementation must produce the same 32 bytes, or the run fails. Prints one
//! Markdown table row per implementation: median and range over the runs of CPU per
//! verification, and the ratio of libargon2's to each.

use std::time::Duration;

const MEMORY_KIB: u32 = 19_456;
const ITERATIONS: u32 = 2;
const PASSWORD: &[u8] = b"Mat-khau-cua-can-bo-2026";
const SALT: &[u8; 16] = b"0123456789abcdef";

type Output = [u8; 32];

fn main() {
    let mut args = std::env::args().skip(1);
    let runs: usize = args.next().map_or(3, |a| a.parse().expect("runs: a number"));
    let checks: usize = args.next().map_or(60, |a| a.parse().expect("checks: a number"));
    let implementations: [(&str, Box<dyn FnMut() -> Output>); 4] = [
        ("RustCrypto argon2 0.5 (congvu)", Box::new(rustcrypto_05())),
        ("RustCrypto argon2 0.6", Box::new(rustcrypto_06())),
        ("libsodium 1.0 crypto_pwhash", Box::new(libsodium())),
        ("libargon2 (Debian; slapd's)", Box::new(libargon2)),
    ];
    let mut figures = Vec::new();
    let mut expected = None;
    for (name, mut check) in implementations {
        let first = check();
        assert_eq!(*expected.get_or_insert(first), first, "{name} computed another hash");
        let per_run: Vec<Duration> = (0..runs).map(|_| cpu_per_check(&mut check, checks)).collect();
        figures.push((name, per_run));
    }
    let reference = median(&figures.last().expect("four implementations").1);
    println!("| implementation | CPU per verification, median [range] | libargon2's ÷ this |");
    println!("|---|---|---|");
    for (name, per_run) in &figures {
        let (low, high) = (per_run.iter().min().unwrap(), per_run.iter().max().unwrap());
        println!(
            "| {name} | {:.2} ms [{:.2}–{:.2}] | {:.2}× |",
            ms(median(per_run)),
            ms(*low),
            ms(*high),
            ms(reference) / ms(median(per_run)),
        );
    }
}

fn cpu_per_check(check: &mut dyn FnMut() -> Output, checks: usize) -> Duration {
    let start = thread_cpu();
    for _ in 0..checks {
        std::hint::black_box(check());
    }
    (thread_cpu() - start) / checks as u32
}

/// A check with RustCrypto's crate `$krate`, its working memory kept between checks. The two
/// versions' types are distinct, so each gets its own copy of this function.
macro_rules! rustcrypto {
    ($name:ident, $krate:ident) => {
        fn $name() -> impl FnMut() -> Output {
            use $krate::{Algorithm, Argon2, Block, Params, Version};
            let params = Params::new(MEMORY_KIB, ITERATIONS, 1, None).expect("valid parameters");
            let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
            let mut memory = vec![Block::default(); MEMORY_KIB as usize];
            move || {
                let mut out = [0; 32];
                argon
                    .hash_password_into_with_memory(PASSWORD, SALT, &mut out, &mut memory)
                    .expect("hashed");
                out
            }
        }
    };
}

rustcrypto!(rustcrypto_05, argon2_05);
rustcrypto!(rustcrypto_06, argon2_06);

fn libsodium() -> impl FnMut() -> Output {
    use libsodium_rs::crypto_pwhash::argon2id;
    libsodium_rs::ensure_init().expect("libsodium initialised");
    || {
        let hash = argon2id::pwhash(
            32,
            PASSWORD,
            SALT,
            u64::from(ITERATIONS),
            MEMORY_KIB as usize * 1024,
        )
        .expect("hashed");
        hash.try_into().expect("32 bytes")
    }
}

extern "C" {
    /// argon2.h: `argon2id_hash_raw`.
    fn argon2id_hash_raw(
        t_cost: u32,
        m_cost: u32,
        parallelism: u32,
        pwd: *const u8,
        pwdlen: usize,
        salt: *const u8,
        saltlen: usize,
        hash: *mut u8,
        hashlen: usize,
    ) -> i32;
}

fn libargon2() -> Output {
    let mut out = [0; 32];
    // SAFETY: every pointer is valid for the length given with it, for the call's duration.
    let status = unsafe {
        argon2id_hash_raw(
            ITERATIONS,
            MEMORY_KIB,
            1,
            PASSWORD.as_ptr(),
            PASSWORD.len(),
            SALT.as_ptr(),
            SALT.len(),
            out.as_mut_ptr(),
            out.len(),
        )
    };
    assert_eq!(status, 0, "libargon2 failed");
    out
}

/// CPU time of this thread (utime + stime in /proc, clock ticks of 10 ms: the runs are long
/// enough for that to be under 1%).
fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("/proc is mounted");
    let after_name = stat.rsplit(')').next().expect("a stat line");
    let fields: Vec<u64> = after_name
        .split_whitespace()
        .skip(11)
        .take(2)
        .map(|f| f.parse().expect("a tick count"))
        .collect();
    Duration::from_millis((fields[0] + fields[1]) * 10)
}

fn median(values: &[Duration]) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
