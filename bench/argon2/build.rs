//! Links Debian's libargon2, the reference C implementation slapd's argon2 module uses.
fn main() {
    println!("cargo:rustc-link-lib=argon2");
}
