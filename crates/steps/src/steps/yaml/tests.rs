use super::*;

fn edit(text: &str, f: impl FnOnce(&mut Document) -> Result<(), String>) -> String {
    let mut doc = yaml::from_slice(text).unwrap();
    f(&mut doc).unwrap();
    doc.to_string()
}

#[test]
fn set_at_dotted_paths_keeps_comments_and_order() {
    let text = "# top comment\nimage:\n  repository: app # the app\n  tag: v1\nreplicas: 1\nlist:\n  - a\n  - b\n";
    let out = edit(text, |doc| {
        let id = walk(doc, &split_key("image.tag"), Create::Yes)?;
        set_value(doc.value_mut(id), &Value::from("v2"));
        let id = walk(doc, &split_key("list.1"), Create::Yes)?;
        set_value(doc.value_mut(id), &Value::from("c"));
        let id = walk(doc, &split_key("new.nested"), Create::Yes)?;
        set_value(doc.value_mut(id), &Value::from(5));
        Ok(())
    });
    assert_eq!(
        out,
        "# top comment\nimage:\n  repository: app # the app\n  tag: v2\nreplicas: 1\nlist:\n  - a\n  - c\nnew:\n  nested: 5\n"
    );
}

#[test]
fn keys_with_escaped_dots() {
    assert_eq!(split_key(r"a.b\.c.0"), vec!["a", "b.c", "0"]);
    assert!(split_key("").is_empty());
}

#[test]
fn setting_the_same_string_keeps_quotes() {
    let text = "tag: \"v1\"\n";
    let out = edit(text, |doc| {
        let id = walk(doc, &split_key("tag"), Create::Yes)?;
        set_value(doc.value_mut(id), &Value::from("v1"));
        Ok(())
    });
    assert_eq!(out, text);
}

#[test]
fn a_scalar_parent_is_an_error() {
    let mut doc = yaml::from_slice("image: nginx\n").unwrap();
    let error = walk(&mut doc, &split_key("image.tag"), Create::Yes).unwrap_err();
    assert!(error.contains("not a mapping"), "{error}");
}

#[test]
fn a_plain_scalar_stays_plain_when_the_new_string_reads_back_the_same() {
    let text = "version: 0.3.0 # set by ferry\nquoted: '0.3.0'\ntag: v1\nnumber: 1.5\n";
    let out = edit(text, |doc| {
        for (key, value) in [("version", "0.4.0"), ("quoted", "0.4.0"), ("tag", "1.0"), ("number", "2.0.1")] {
            let id = walk(doc, &split_key(key), Create::Yes)?;
            set_value(doc.value_mut(id), &Value::from(value));
        }
        Ok(())
    });
    // `1.0` unquoted would be a number; a number node becomes a string only when quoted;
    // a quoted scalar keeps being quoted.
    assert_eq!(out, "version: 0.4.0 # set by ferry\nquoted: '0.4.0'\ntag: '1.0'\nnumber: '2.0.1'\n");
    let parsed: Value = serde_saphyr::from_str(&out).unwrap();
    assert_eq!(parsed, serde_json::json!({"version": "0.4.0", "quoted": "0.4.0", "tag": "1.0", "number": "2.0.1"}));
    for unsafe_plain in [
        "", " x", "a: b", "a:", "a #b", "true", "null", "12", "0x1f", "[a]", "'q'", "a,b", "*ref", "&a x", "!t x",
        "%x", "@x", "- x", "-x", "? x",
    ] {
        assert!(!reads_as_plain_string(unsafe_plain), "{unsafe_plain:?}");
    }
    for safe in ["0.4.0", "v1.2.3", "1.0.0+build.7", "sha256:abc", "registry.local/app:v1"] {
        assert!(reads_as_plain_string(safe), "{safe:?}");
    }
}
