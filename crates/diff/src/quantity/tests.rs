use super::*;

#[test]
fn spellings_of_one_amount_are_equal() {
    for (a, b) in
        [("1000m", "1"), ("0.5", "500m"), ("1024Mi", "1Gi"), ("1Gi", "1073741824"), ("1e3", "1k"), (".5", "0.5")]
    {
        assert_eq!(parse(a), parse(b), "{a} == {b}");
    }
    assert_ne!(parse("1Gi"), parse("1G"));
    assert_ne!(parse("100m"), parse("1"));
}

#[test]
fn canonical_forms() {
    for (input, want) in [
        ("1000m", "1"),
        ("0.5", "500m"),
        ("1024Mi", "1Gi"),
        ("1536Mi", "1536Mi"),
        ("1.5Gi", "1536Mi"),
        ("128974848", "128974848"),
        ("129e6", "129M"),
        ("1000", "1k"),
        ("0", "0"),
        ("0Mi", "0"),
        ("-1500m", "-1500m"),
        ("100m", "100m"),
        ("2.5n", "2.5n"),
    ] {
        let got = canonical(input);
        if input == "2.5n" {
            assert_eq!(got, None, "too fine to write exactly");
        } else {
            assert_eq!(got.as_deref(), Some(want), "{input}");
        }
    }
}

#[test]
fn not_quantities() {
    for text in ["", "abc", "1x", "1.2.3", "-", "Gi", "1e", "1e999"] {
        assert_eq!(parse(text), None, "{text:?}");
    }
}
