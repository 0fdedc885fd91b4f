use super::*;

fn file(text: &str) -> tempfile::NamedTempFile {
    use std::io::Write;
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

#[test]
fn lines_are_read_and_bad_ones_fail_alone_with_their_number() {
    let f = file(
        "\u{feff}Address,source_user,source_password\n\
         AnNV@VinhPhuc.gov.vn, an ,s3cret\n\
         ,binh,pw\n\
         chi@vinhphuc.gov.vn,chi,\n\
         annv@vinhphuc.gov.vn,an,other\n\
         dung@vinhphuc.gov.vn,dung,\"pa,ss\"\n",
    );
    let lines = read(f.path(), false).unwrap();
    assert_eq!(lines.len(), 5);
    let first = lines[0].as_ref().unwrap();
    assert_eq!(first.line, 2);
    assert_eq!(first.address, "annv@vinhphuc.gov.vn");
    assert_eq!(first.source_user, "an");
    assert_eq!(first.source_password.as_deref(), Some("s3cret"));
    let no_address = lines[1].as_ref().unwrap_err();
    assert!(
        no_address.error.starts_with("line 3: no address"),
        "{no_address:?}"
    );
    let no_password = lines[2].as_ref().unwrap_err();
    assert!(
        no_password.error.starts_with("line 4: no source_password"),
        "{no_password:?}"
    );
    let repeated = lines[3].as_ref().unwrap_err();
    assert!(repeated.error.contains("repeats line 2"), "{repeated:?}");
    assert_eq!(
        lines[4].as_ref().unwrap().source_password.as_deref(),
        Some("pa,ss")
    );
}

#[test]
fn master_credentials_make_passwords_optional() {
    let f = file("address,source_user\nannv@vinhphuc.gov.vn,an\n");
    let lines = read(f.path(), true).unwrap();
    assert_eq!(lines[0].as_ref().unwrap().source_password, None);
    let refused = read(f.path(), false).unwrap_err().to_string();
    assert!(refused.contains("no source_password column"), "{refused}");
}

#[test]
fn a_file_without_the_columns_is_refused_naming_it() {
    let f = file("email,login\na@b.vn,a\n");
    let error = read(f.path(), true).unwrap_err().to_string();
    assert!(error.contains(&f.path().display().to_string()), "{error}");
    assert!(error.contains("address and source_user"), "{error}");
    let missing = read(Path::new("/nonexistent/accounts.csv"), true).unwrap_err();
    assert!(format!("{missing:#}").contains("/nonexistent/accounts.csv"));
}

#[test]
fn passwords_never_show_in_debug_output() {
    let f = file("address,source_user,source_password\na@b.vn,a,s3cret\n");
    let lines = read(f.path(), false).unwrap();
    let shown = format!("{lines:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
}
