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
