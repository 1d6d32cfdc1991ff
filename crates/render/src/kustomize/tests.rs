use super::*;
use crate::process::{MAX_MESSAGE, tidy};

#[test]
fn secret_data_never_reaches_the_message() {
    let stderr = "Error: failed on resource\napiVersion: v1\nkind: Secret\ndata:\n  password: aHVudGVyMg==\n  token: c2VjcmV0\nmetadata:\n  name: db\n";
    let shown = redact(stderr, &[]);
    assert!(!shown.contains("aHVudGVyMg=="), "{shown}");
    assert!(!shown.contains("c2VjcmV0"), "{shown}");
    assert!(shown.contains("name: db"), "the rest stays: {shown}");

    let inline = r#"Error: patch failed on {"apiVersion":"v1","kind":"Secret","data":{"password":"aHVudGVyMg=="},"metadata":{"name":"db"}} and map[stringData:map[pw:hunter2] kind:Secret]"#;
    let shown = redact(inline, &[]);
    assert!(!shown.contains("aHVudGVyMg==") && !shown.contains("hunter2"), "{shown}");
    assert!(shown.contains(r#""metadata":{"name":"db"}"#), "{shown}");
}

#[test]
fn scratch_paths_are_rewritten() {
    let rewrites = vec![("/tmp/ferry-kustomize-x/repo/".to_owned(), String::new())];
    assert_eq!(
        redact("Error: open /tmp/ferry-kustomize-x/repo/app/missing.yaml: no such file", &rewrites),
        "open app/missing.yaml: no such file"
    );
}

#[test]
fn messages_keep_the_last_lines_within_the_limit() {
    assert_eq!(shorten("\n  one\n\ntwo  \n"), "one; two");
    let long = format!("{}\nError: the cause", "noise é\n".repeat(2000));
    let short = shorten(&long);
    assert!(short.len() <= MAX_MESSAGE + 3, "{}", short.len());
    assert!(short.starts_with("..."));
    assert!(short.ends_with("Error: the cause"));
}

#[test]
fn kubectl_and_kustomize_decorations_are_removed() {
    assert_eq!(
        tidy(r#"E1122 02:26:27.462859    2363 run.go:72] "command failed" err="accumulating resources: 'a \"b\"'""#),
        r#"accumulating resources: 'a "b"'"#
    );
    assert_eq!(tidy("error: accumulating resources"), "accumulating resources");
    assert_eq!(tidy("Error: accumulating resources"), "accumulating resources");
    assert_eq!(tidy("W0101 00:00:00.000001   1 warn.go:1] something"), "something");
    assert_eq!(tidy("plain"), "plain");
}
