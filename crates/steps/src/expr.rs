//! `${{ … }}` expressions in step configs, evaluated with CEL.
//!
//! A string that is exactly one `${{ e }}` (surrounding spaces allowed) becomes `e`'s value, with
//! its type (a number stays a number, a map stays a map). Any other string has each expression's
//! result interpolated: strings as they are, `null` as nothing, numbers and booleans as written,
//! lists and maps as compact JSON.
//!
//! Variables: `vars` (the promotion's variables, all strings), `outputs` (step alias → that
//! step's outputs; `outputs['open-pr'].url` for aliases with dashes), `freight` (the Freight
//! object: `freight.metadata.name`, `freight.alias`, `freight.images`, …) and `ctx` (`stage`,
//! `promotion`, `namespace`, `project`). Functions, as in Kargo:
//!
//! - `imageFrom(repoURL)` → `{repoURL, tag, digest}` of the freight's image from that repository;
//! - `commitFrom(repoURL)` → `{repoURL, id, branch, tag, message}`;
//! - `chartFrom(repoURL)` or `chartFrom(repoURL, name)` → `{repoURL, name, version}`;
//! - `quote(x)` → `x` as a string (so `quote(3)` stays the string `"3"` in YAML).
//!
//! Each of the three lookups fails, naming the repository, when the freight has no such artifact.

use std::sync::Arc;

use cel::objects::Value as CelValue;
use cel::{Context, ExecutionError, Program};
use serde_json::{Map, Value};

#[cfg(test)]
mod tests;

/// What expressions can see.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// `vars.<name>`.
    pub vars: Map<String, Value>,
    /// `outputs.<alias>`: earlier steps' outputs.
    pub outputs: Map<String, Value>,
    /// `freight`: the Freight object as JSON.
    pub freight: Value,
    /// `ctx`: `{stage, promotion, namespace, project}`.
    pub ctx: Value,
    /// More top-level variables (for example `response` in the http step's expressions).
    pub extra: Map<String, Value>,
}

/// Why an expression could not be evaluated. Every variant carries the expression's text and,
/// for config values, where in the config it sits.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExprError {
    /// The expression does not parse.
    #[error("{at}expression `{expr}`: syntax error: {message}")]
    Syntax {
        /// Where in the config (`config.updates[0].value: `), or empty.
        at: String,
        /// The expression text.
        expr: String,
        /// The parser's message.
        message: String,
    },
    /// The expression parses but fails when evaluated (unknown variable, missing key, type error).
    #[error("{at}expression `{expr}`: {message}")]
    Evaluation {
        /// Where in the config, or empty.
        at: String,
        /// The expression text.
        expr: String,
        /// What went wrong.
        message: String,
    },
    /// A `${{` without its closing `}}`.
    #[error("{at}unterminated `${{{{` in {text:?}")]
    Unterminated {
        /// Where in the config, or empty.
        at: String,
        /// The whole string.
        text: String,
    },
    /// A condition that is not a boolean.
    #[error("condition `{expr}` is {got}, not a boolean")]
    NotBoolean {
        /// The expression text.
        expr: String,
        /// What it evaluated to (as JSON).
        got: String,
    },
}

/// Evaluates every expression in the strings of `value` (recursively; map keys are left as
/// they are).
pub fn evaluate(value: &Value, scope: &Scope) -> Result<Value, ExprError> {
    let evaluator = Evaluator::new(scope);
    evaluator.walk(value, &mut String::from("config"))
}

/// Evaluates an `if` condition: either a bare CEL expression or one `${{ … }}`.
pub fn condition(expr: &str, scope: &Scope) -> Result<bool, ExprError> {
    let evaluator = Evaluator::new(scope);
    let inner = match whole_expression(expr) {
        Some(inner) => inner,
        None if expr.contains("${{") => {
            // Interpolated text is a string, never a boolean; say so with the full text.
            let got = evaluator.template(expr, "")?;
            return Err(ExprError::NotBoolean { expr: expr.to_owned(), got: got.to_string() });
        }
        None => expr.trim(),
    };
    match evaluator.eval(inner, "")? {
        Value::Bool(b) => Ok(b),
        other => Err(ExprError::NotBoolean { expr: inner.to_owned(), got: other.to_string() }),
    }
}

/// Evaluates the promotion's variables in order: each may use the ones before it
/// (`vars.<earlier>`), the freight and `ctx`.
pub fn evaluate_vars(vars: &[promotion::Var], scope: &Scope) -> Result<Map<String, Value>, ExprError> {
    let mut scope = scope.clone();
    for var in vars {
        let value =
            Evaluator::new(&scope).walk(&Value::String(var.value.clone()), &mut format!("vars.{}", var.name))?;
        scope.vars.insert(var.name.clone(), value);
    }
    Ok(scope.vars)
}

/// Checks that every expression in `text` parses, without evaluating anything.
pub fn syntax(text: &str) -> Result<(), ExprError> {
    let compile = |expr: &str| {
        Program::compile(expr).map(drop).map_err(|e| ExprError::Syntax {
            at: String::new(),
            expr: expr.to_owned(),
            message: one_line(&e.to_string()),
        })
    };
    if let Some(inner) = whole_expression(text) {
        return compile(inner);
    }
    if !has_expression(text) {
        // A bare condition (`if: a == b`).
        return compile(text.trim());
    }
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        let body = &rest[start + 3..];
        let Some(end) = find_close(body, 0) else {
            return Err(ExprError::Unterminated { at: String::new(), text: text.to_owned() });
        };
        compile(body[..end].trim())?;
        rest = &body[end + 2..];
    }
    Ok(())
}

/// Whether `text` holds an expression at all.
pub fn has_expression(text: &str) -> bool {
    text.contains("${{")
}

/// The inner text if `text` is exactly one `${{ … }}` (whitespace around allowed).
fn whole_expression(text: &str) -> Option<&str> {
    let trimmed = text.trim();
    let inner = trimmed.strip_prefix("${{")?.strip_suffix("}}")?;
    // `${{ a }}-${{ b }}` also starts and ends that way: it must be one expression.
    match find_close(inner, 0) {
        None => Some(inner.trim()),
        Some(_) => None,
    }
}

/// The byte index of the first `}}` in `text` at or after `from` that is outside a quoted
/// string literal. Only quotes are tracked: this finds the end of an expression, it does not
/// parse it.
fn find_close(text: &str, from: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut quote: Option<u8> = None;
    let mut i = from;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) => {
                if b == b'\\' {
                    i += 1;
                } else if b == q {
                    quote = None;
                }
            }
            None => {
                if b == b'"' || b == b'\'' {
                    quote = Some(b);
                } else if b == b'}' && bytes.get(i + 1) == Some(&b'}') {
                    return Some(i);
                }
            }
        }
        i += 1;
    }
    None
}

struct Evaluator {
    context: Context<'static, 'static>,
}

impl Evaluator {
    fn new(scope: &Scope) -> Evaluator {
        let mut context = Context::default();
        let freight = Arc::new(scope.freight.clone());
        for (name, value) in [
            ("vars", Value::Object(scope.vars.clone())),
            ("outputs", Value::Object(scope.outputs.clone())),
            ("freight", scope.freight.clone()),
            ("ctx", scope.ctx.clone()),
        ]
        .into_iter()
        .chain(scope.extra.iter().map(|(k, v)| (k.as_str(), v.clone())))
        {
            context.add_variable_from_value(name, to_cel(&value));
        }
        // The names are not CEL built-ins, so adding them cannot conflict; ignore the Result
        // rather than panic should a future CEL version claim one of them.
        let images = Arc::clone(&freight);
        let _ = context.add_function("imageFrom", move |repo: Arc<String>| -> Result<CelValue, ExecutionError> {
            artifact(&images, "images", "imageFrom", &repo, None, &["repoURL", "tag", "digest"])
        });
        let commits = Arc::clone(&freight);
        let _ = context.add_function("commitFrom", move |repo: Arc<String>| -> Result<CelValue, ExecutionError> {
            artifact(&commits, "commits", "commitFrom", &repo, None, &["repoURL", "id", "branch", "tag", "message"])
        });
        let charts = freight;
        let _ = context.add_function(
            "chartFrom",
            move |cel::extractors::Arguments(args): cel::extractors::Arguments| -> Result<CelValue, ExecutionError> {
                let text = |v: Option<&CelValue>| match v {
                    Some(CelValue::String(s)) => Some(s.as_str().to_owned()),
                    _ => None,
                };
                let Some(repo) = text(args.first()) else {
                    return Err(ExecutionError::function_error("chartFrom", "expects a repository URL string"));
                };
                if args.len() > 2 || (args.len() == 2 && text(args.get(1)).is_none()) {
                    return Err(ExecutionError::function_error("chartFrom", "expects (repoURL) or (repoURL, name)"));
                }
                let name = text(args.get(1));
                artifact(&charts, "charts", "chartFrom", &repo, name.as_deref(), &["repoURL", "name", "version"])
            },
        );
        let _ = context.add_function("quote", |value: CelValue| -> Result<CelValue, ExecutionError> {
            let json = from_cel(&value).map_err(|e| ExecutionError::function_error("quote", e))?;
            Ok(CelValue::String(Arc::new(stringify(&json))))
        });
        Evaluator { context }
    }

    fn walk(&self, value: &Value, at: &mut String) -> Result<Value, ExprError> {
        match value {
            Value::String(text) if has_expression(text) => match whole_expression(text) {
                Some(inner) => self.eval(inner, &location(at)),
                None => self.template(text, &location(at)).map(Value::String),
            },
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let len = at.len();
                    at.push_str(&format!("[{i}]"));
                    out.push(self.walk(item, at)?);
                    at.truncate(len);
                }
                Ok(Value::Array(out))
            }
            Value::Object(map) => {
                let mut out = Map::new();
                for (key, item) in map {
                    let len = at.len();
                    at.push('.');
                    at.push_str(key);
                    out.insert(key.clone(), self.walk(item, at)?);
                    at.truncate(len);
                }
                Ok(Value::Object(out))
            }
            other => Ok(other.clone()),
        }
    }

    fn template(&self, text: &str, at: &str) -> Result<String, ExprError> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${{") {
            out.push_str(&rest[..start]);
            let body = &rest[start + 3..];
            let Some(end) = find_close(body, 0) else {
                return Err(ExprError::Unterminated { at: at.to_owned(), text: text.to_owned() });
            };
            out.push_str(&stringify(&self.eval(body[..end].trim(), at)?));
            rest = &body[end + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn eval(&self, expr: &str, at: &str) -> Result<Value, ExprError> {
        let program = Program::compile(expr).map_err(|e| ExprError::Syntax {
            at: at.to_owned(),
            expr: expr.to_owned(),
            message: one_line(&e.to_string()),
        })?;
        let failed = |message: String| ExprError::Evaluation { at: at.to_owned(), expr: expr.to_owned(), message };
        let value = program.execute(&self.context).map_err(|e| failed(explain(&e)))?;
        from_cel(&value).map_err(failed)
    }
}

/// `config.x.y: ` for messages, or nothing outside a config.
fn location(at: &str) -> String {
    if at.is_empty() { String::new() } else { format!("{at}: ") }
}

fn one_line(text: &str) -> String {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("; ")
}

/// CEL's messages, reworded where a user would not recognise them.
fn explain(error: &ExecutionError) -> String {
    match error {
        ExecutionError::UndeclaredReference(name) => format!("unknown variable or function `{name}`"),
        ExecutionError::NoSuchKey(key) => format!("no such key `{key}`"),
        other => other.to_string(),
    }
}

/// The freight's artifact of `kind` from `repo` (and `name`), as a map of `fields`.
fn artifact(
    freight: &Value,
    kind: &str,
    function: &str,
    repo: &str,
    name: Option<&str>,
    fields: &[&str],
) -> Result<CelValue, ExecutionError> {
    let found = freight.get(kind).and_then(Value::as_array).and_then(|items| {
        items.iter().find(|item| {
            item.get("repoURL").and_then(Value::as_str) == Some(repo)
                && name.is_none_or(|n| item.get("name").and_then(Value::as_str) == Some(n))
        })
    });
    let Some(found) = found else {
        let what = match name {
            Some(name) => format!("{repo:?} (name {name:?})"),
            None => format!("{repo:?}"),
        };
        return Err(ExecutionError::function_error(function, format!("the freight has no {kind} from {what}")));
    };
    let mut out = Map::new();
    for field in fields {
        out.insert((*field).to_owned(), found.get(*field).cloned().unwrap_or(Value::Null));
    }
    Ok(to_cel(&Value::Object(out)))
}

/// JSON → CEL. Integers that fit stay integers; everything JSON can hold has a CEL form.
fn to_cel(value: &Value) -> CelValue {
    match value {
        Value::Null => CelValue::Null,
        Value::Bool(b) => CelValue::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => CelValue::Int(i),
            (None, Some(u), _) => CelValue::UInt(u),
            (_, _, f) => CelValue::Float(f.unwrap_or(f64::NAN)),
        },
        Value::String(s) => CelValue::String(Arc::new(s.clone())),
        Value::Array(items) => CelValue::List(Arc::new(items.iter().map(to_cel).collect())),
        Value::Object(map) => {
            let entries: std::collections::HashMap<cel::objects::Key, CelValue> =
                map.iter().map(|(k, v)| (cel::objects::Key::String(Arc::new(k.clone())), to_cel(v))).collect();
            CelValue::Map(cel::objects::Map { map: Arc::new(entries) })
        }
    }
}

/// CEL → JSON, with map keys sorted: CEL maps are hash maps, and the same expression must
/// give the same bytes every time.
fn from_cel(value: &CelValue) -> Result<Value, String> {
    Ok(match value {
        CelValue::List(items) => Value::Array(items.iter().map(from_cel).collect::<Result<_, _>>()?),
        CelValue::Map(map) => {
            let mut entries: Vec<(String, Value)> = Vec::with_capacity(map.map.len());
            for (key, item) in map.map.iter() {
                let key = match key {
                    cel::objects::Key::String(s) => s.as_str().to_owned(),
                    cel::objects::Key::Int(i) => i.to_string(),
                    cel::objects::Key::Uint(u) => u.to_string(),
                    cel::objects::Key::Bool(b) => b.to_string(),
                };
                entries.push((key, from_cel(item)?));
            }
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().collect())
        }
        CelValue::Int(i) => Value::from(*i),
        CelValue::UInt(u) => Value::from(*u),
        CelValue::Float(f) => serde_json::Number::from_f64(*f).map(Value::Number).unwrap_or(Value::Null),
        CelValue::String(s) => Value::String(s.as_str().to_owned()),
        CelValue::Bool(b) => Value::Bool(*b),
        CelValue::Null => Value::Null,
        other => other.json().map_err(|e| e.to_string())?,
    })
}

/// How a value reads when interpolated into text.
pub(crate) fn stringify(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(_) | Value::Number(_) => value.to_string(),
        Value::Array(_) | Value::Object(_) => value.to_string(),
    }
}
