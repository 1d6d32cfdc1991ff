use serde_json::json;

use super::*;

fn scope() -> Scope {
    Scope {
        vars: json!({ "env": "dev", "replicas": "3" }).as_object().cloned().unwrap_or_default(),
        outputs: json!({ "open-pr": { "url": "http://x/1", "id": 7 }, "clone": { "commit": "abc" } })
            .as_object()
            .cloned()
            .unwrap_or_default(),
        freight: json!({
            "metadata": { "name": "f123" },
            "alias": "brave-otter",
            "images": [{ "repoURL": "reg/app", "tag": "v1.0.0", "digest": "sha256:aa" }],
            "commits": [{ "repoURL": "https://git/x", "id": "c0ffee", "branch": "main" }],
            "charts": [
                { "repoURL": "https://charts", "name": "redis", "version": "1.2.3" },
                { "repoURL": "https://charts", "name": "pg", "version": "9.0.0" }
            ]
        }),
        ctx: json!({ "stage": "dev", "promotion": "p1", "namespace": "ferry", "project": "ferry" }),
        extra: Map::new(),
    }
}

#[test]
fn a_whole_expression_keeps_its_type_and_text_interpolates() {
    let config = json!({
        "tag": "${{ imageFrom('reg/app').tag }}",
        "n": "${{ int(vars.replicas) + 1 }}",
        "map": "${{ chartFrom('https://charts', 'pg') }}",
        "text": "env/${{ vars.env }}/${{ outputs['open-pr'].id }} of ${{ freight.alias }}",
        "list": ["${{ ctx.stage == 'dev' }}", 5],
        "plain": "no expressions",
    });
    let out = evaluate(&config, &scope()).unwrap();
    assert_eq!(out["tag"], "v1.0.0");
    assert_eq!(out["n"], 4);
    assert_eq!(out["map"], json!({ "name": "pg", "repoURL": "https://charts", "version": "9.0.0" }));
    assert_eq!(out["text"], "env/dev/7 of brave-otter");
    assert_eq!(out["list"], json!([true, 5]));
    assert_eq!(out["plain"], "no expressions");
}

#[test]
fn functions_read_the_freight() {
    let s = scope();
    let commit = evaluate(&json!("${{ commitFrom('https://git/x') }}"), &s).unwrap();
    assert_eq!(commit["id"], "c0ffee");
    assert_eq!(commit["tag"], Value::Null);
    assert_eq!(evaluate(&json!("${{ chartFrom('https://charts').version }}"), &s).unwrap(), "1.2.3");
    assert_eq!(evaluate(&json!("${{ quote(3) }}"), &s).unwrap(), json!("3"));
    assert_eq!(evaluate(&json!("${{ quote(vars.env) }}"), &s).unwrap(), json!("dev"));
    let error = evaluate(&json!({ "a": ["${{ imageFrom('other/app').tag }}"] }), &s).unwrap_err();
    let text = error.to_string();
    assert!(text.contains("config.a[0]") && text.contains("other/app") && text.contains("imageFrom"), "{text}");
}

#[test]
fn braces_inside_string_literals_do_not_end_an_expression() {
    let out = evaluate(&json!("x-${{ '}}' + vars.env }}-y"), &scope()).unwrap();
    assert_eq!(out, "x-}}dev-y");
}

#[test]
fn errors_name_the_expression_and_why() {
    let s = scope();
    let unknown = evaluate(&json!({ "k": "${{ nope.x }}" }), &s).unwrap_err();
    assert!(matches!(&unknown, ExprError::Evaluation { expr, .. } if expr == "nope.x"), "{unknown:?}");
    assert!(unknown.to_string().contains("unknown variable or function `nope`"), "{unknown}");

    let missing = evaluate(&json!("${{ vars.missing }}"), &s).unwrap_err();
    assert!(missing.to_string().contains("no such key `missing`"), "{missing}");

    let syntax = evaluate(&json!("${{ vars.env == }}"), &s).unwrap_err();
    assert!(matches!(&syntax, ExprError::Syntax { expr, .. } if expr == "vars.env =="), "{syntax:?}");

    let types = evaluate(&json!("${{ vars.env + 1 }}"), &s).unwrap_err();
    assert!(matches!(&types, ExprError::Evaluation { .. }), "{types:?}");
    assert!(types.to_string().contains("vars.env + 1"), "{types}");

    let open = evaluate(&json!("a ${{ vars.env"), &s).unwrap_err();
    assert!(matches!(open, ExprError::Unterminated { .. }), "{open:?}");
}

#[test]
fn conditions_are_booleans() {
    let s = scope();
    assert!(condition("${{ ctx.stage == 'dev' }}", &s).unwrap());
    assert!(!condition("vars.env == 'prod'", &s).unwrap());
    let not_bool = condition("${{ vars.env }}", &s).unwrap_err();
    assert!(matches!(not_bool, ExprError::NotBoolean { .. }), "{not_bool:?}");
}

#[test]
fn vars_see_earlier_vars() {
    let vars = vec![
        promotion::Var { name: "base".into(), value: "env/${{ ctx.stage }}".into() },
        promotion::Var { name: "file".into(), value: "${{ vars.base }}/values.yaml".into() },
    ];
    let out = evaluate_vars(&vars, &Scope { vars: Map::new(), ..scope() }).unwrap();
    assert_eq!(out["file"], "env/dev/values.yaml");
}

#[test]
fn syntax_is_checked_without_a_scope() {
    assert!(syntax("${{ a.b }} and ${{ c }}").is_ok());
    assert!(syntax("a == b").is_ok());
    assert!(matches!(syntax("${{ a. }}"), Err(ExprError::Syntax { .. })));
}
