//! With `CONGVU_TEST_SKIP_POSTGRES=1`, builds the PostgreSQL half of the suite as ignored
//! tests (`cfg(congvu_skip_postgres)`), so that the runner reports them as not run, with the
//! reason, instead of as passed.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(congvu_skip_postgres)");
    println!("cargo::rerun-if-env-changed=CONGVU_TEST_SKIP_POSTGRES");
    if std::env::var("CONGVU_TEST_SKIP_POSTGRES").is_ok_and(|v| v == "1") {
        println!("cargo::rustc-cfg=congvu_skip_postgres");
    }
}
