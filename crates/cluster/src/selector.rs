//! Label and field selectors.
//!
//! [`LabelSelector`] understands the string syntax of the `labelSelector`
//! query parameter (`a=b,c!=d,e in (x,y),f notin (z),g,!h`, plus the `<`/`>`
//! integer comparisons) and the `metav1.LabelSelector` objects of specs
//! (`matchLabels` and `matchExpressions`).
//!
//! [`FieldSelector`] understands `fieldSelector` (`a=b`, `a==b`, `a!=b`,
//! comma-separated). Deliberate difference from Kubernetes: Kubernetes
//! accepts a fixed set of field paths per kind (`metadata.name`,
//! `metadata.namespace`, and a few more such as `status.phase` for Pods or
//! `involvedObject.name` for Events) and rejects the others; the local
//! cluster accepts any dotted path on any kind. A missing field compares as
//! the empty string, and numbers and booleans as their JSON text.

use std::fmt;

use serde_json::{Map, Value};

/// A malformed selector.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// The selector string does not follow the grammar.
    #[error("unable to parse requirement: {0}")]
    Syntax(String),
    /// A label key is not a valid qualified name.
    #[error("invalid label key {key:?}: {reason}")]
    InvalidKey {
        /// The offending key.
        key: String,
        /// Why it is invalid.
        reason: String,
    },
    /// A label value is not valid.
    #[error("invalid label value {value:?}: {reason}")]
    InvalidValue {
        /// The offending value.
        value: String,
        /// Why it is invalid.
        reason: String,
    },
}

/// The operator of one label requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelOperator {
    /// The label has one of the values (`=`, `==`, `in`).
    In(Vec<String>),
    /// The label is absent or has none of the values (`!=`, `notin`).
    NotIn(Vec<String>),
    /// The label is present.
    Exists,
    /// The label is absent.
    DoesNotExist,
    /// The label's value is an integer greater than this.
    GreaterThan(i64),
    /// The label's value is an integer less than this.
    LessThan(i64),
}

/// One requirement of a label selector: a key and an operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelRequirement {
    /// The label key.
    pub key: String,
    /// What the label must satisfy.
    pub operator: LabelOperator,
}

impl LabelRequirement {
    fn matches(&self, labels: &Map<String, Value>) -> bool {
        let value = labels.get(&self.key).map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        match (&self.operator, value) {
            (LabelOperator::In(values), Some(v)) => values.contains(&v),
            (LabelOperator::In(_), None) => false,
            (LabelOperator::NotIn(values), Some(v)) => !values.contains(&v),
            (LabelOperator::NotIn(_), None) => true,
            (LabelOperator::Exists, v) => v.is_some(),
            (LabelOperator::DoesNotExist, v) => v.is_none(),
            (LabelOperator::GreaterThan(n), Some(v)) => v.parse::<i64>().is_ok_and(|x| x > *n),
            (LabelOperator::LessThan(n), Some(v)) => v.parse::<i64>().is_ok_and(|x| x < *n),
            (LabelOperator::GreaterThan(_) | LabelOperator::LessThan(_), None) => false,
        }
    }
}

impl fmt::Display for LabelRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.operator {
            LabelOperator::In(values) if values.len() == 1 => write!(f, "{}={}", self.key, values[0]),
            LabelOperator::In(values) => write!(f, "{} in ({})", self.key, values.join(",")),
            LabelOperator::NotIn(values) if values.len() == 1 => write!(f, "{}!={}", self.key, values[0]),
            LabelOperator::NotIn(values) => write!(f, "{} notin ({})", self.key, values.join(",")),
            LabelOperator::Exists => write!(f, "{}", self.key),
            LabelOperator::DoesNotExist => write!(f, "!{}", self.key),
            LabelOperator::GreaterThan(n) => write!(f, "{}>{}", self.key, n),
            LabelOperator::LessThan(n) => write!(f, "{}<{}", self.key, n),
        }
    }
}

/// A label selector: all requirements must hold (logical AND).
///
/// The empty selector matches every object. A selector built from a JSON
/// `null` (an absent `metav1.LabelSelector`) matches nothing, as in
/// Kubernetes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSelector {
    requirements: Vec<LabelRequirement>,
    mode: Matches,
}

/// Whether a selector can match at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Matches {
    #[default]
    ByRequirements,
    Nothing,
}

impl LabelSelector {
    /// The selector that matches everything.
    pub fn everything() -> LabelSelector {
        LabelSelector::default()
    }

    /// The selector that matches nothing.
    pub fn nothing() -> LabelSelector {
        LabelSelector { requirements: Vec::new(), mode: Matches::Nothing }
    }

    /// Parses the string syntax of the `labelSelector` query parameter.
    pub fn parse(input: &str) -> Result<LabelSelector, SelectorError> {
        let tokens = lex(input)?;
        let mut parser = Parser { tokens, pos: 0 };
        let mut requirements = Vec::new();
        if parser.peek().is_none() {
            return Ok(LabelSelector::everything());
        }
        loop {
            requirements.push(parser.requirement()?);
            match parser.next() {
                None => break,
                Some(Token::Comma) => continue,
                Some(t) => return Err(SelectorError::Syntax(format!("found '{t}', expected: ',' or end of string"))),
            }
        }
        Ok(LabelSelector { requirements, mode: Matches::ByRequirements })
    }

    /// Builds a selector from a `metav1.LabelSelector` object
    /// (`matchLabels` and `matchExpressions` with the operators `In`,
    /// `NotIn`, `Exists` and `DoesNotExist`). `null` matches nothing; `{}`
    /// matches everything.
    pub fn from_json(selector: &Value) -> Result<LabelSelector, SelectorError> {
        let object = match selector {
            Value::Null => return Ok(LabelSelector::nothing()),
            Value::Object(o) => o,
            other => return Err(SelectorError::Syntax(format!("expected a label selector object, found {other}"))),
        };
        let mut requirements = Vec::new();
        if let Some(labels) = object.get("matchLabels") {
            let Value::Object(labels) = labels else {
                return Err(SelectorError::Syntax("matchLabels must be an object".into()));
            };
            for (key, value) in labels {
                let Value::String(value) = value else {
                    return Err(SelectorError::InvalidValue {
                        value: value.to_string(),
                        reason: "must be a string".into(),
                    });
                };
                validate_key(key)?;
                validate_value(value)?;
                requirements
                    .push(LabelRequirement { key: key.clone(), operator: LabelOperator::In(vec![value.clone()]) });
            }
        }
        if let Some(expressions) = object.get("matchExpressions") {
            let Value::Array(expressions) = expressions else {
                return Err(SelectorError::Syntax("matchExpressions must be a list".into()));
            };
            for expression in expressions {
                requirements.push(expression_requirement(expression)?);
            }
        }
        Ok(LabelSelector { requirements, mode: Matches::ByRequirements })
    }

    /// The requirements, in the order given.
    pub fn requirements(&self) -> &[LabelRequirement] {
        &self.requirements
    }

    /// True when the selector matches every object.
    pub fn is_everything(&self) -> bool {
        self.mode == Matches::ByRequirements && self.requirements.is_empty()
    }

    /// Whether a set of labels (`metadata.labels`) satisfies the selector.
    pub fn matches(&self, labels: &Map<String, Value>) -> bool {
        self.mode == Matches::ByRequirements && self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Whether an object's `metadata.labels` satisfy the selector.
    pub fn matches_object(&self, object: &Value) -> bool {
        let empty = Map::new();
        let labels = object.pointer("/metadata/labels").and_then(Value::as_object).unwrap_or(&empty);
        self.matches(labels)
    }
}

impl fmt::Display for LabelSelector {
    /// The canonical string form (as in a Scale's `status.selector`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.requirements.iter().map(ToString::to_string).collect();
        write!(f, "{}", parts.join(","))
    }
}

fn expression_requirement(expression: &Value) -> Result<LabelRequirement, SelectorError> {
    let key = expression.get("key").and_then(Value::as_str).unwrap_or_default();
    validate_key(key)?;
    let operator = expression.get("operator").and_then(Value::as_str).unwrap_or_default();
    let values: Vec<String> = match expression.get("values") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(values)) => values
            .iter()
            .map(|v| {
                v.as_str().map(str::to_owned).ok_or_else(|| SelectorError::InvalidValue {
                    value: v.to_string(),
                    reason: "must be a string".into(),
                })
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(SelectorError::Syntax(format!("values of {key:?} must be a list, found {other}")));
        }
    };
    for value in &values {
        validate_value(value)?;
    }
    let operator = match operator {
        "In" | "NotIn" if values.is_empty() => {
            return Err(SelectorError::Syntax(format!("values of {key:?} must be non-empty for operator {operator}")));
        }
        "In" => LabelOperator::In(values),
        "NotIn" => LabelOperator::NotIn(values),
        "Exists" | "DoesNotExist" if !values.is_empty() => {
            return Err(SelectorError::Syntax(format!("values of {key:?} must be empty for operator {operator}")));
        }
        "Exists" => LabelOperator::Exists,
        "DoesNotExist" => LabelOperator::DoesNotExist,
        other => return Err(SelectorError::Syntax(format!("{other:?} is not a valid label selector operator"))),
    };
    Ok(LabelRequirement { key: key.to_owned(), operator })
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Comma,
    Eq,
    DoubleEq,
    NotEq,
    Not,
    Open,
    Close,
    Gt,
    Lt,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Token::Word(w) => w.as_str(),
            Token::Comma => ",",
            Token::Eq => "=",
            Token::DoubleEq => "==",
            Token::NotEq => "!=",
            Token::Not => "!",
            Token::Open => "(",
            Token::Close => ")",
            Token::Gt => ">",
            Token::Lt => "<",
        };
        f.write_str(s)
    }
}

fn lex(input: &str) -> Result<Vec<Token>, SelectorError> {
    let mut tokens = Vec::new();
    let mut chars = input.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            ',' => {
                chars.next();
                tokens.push(Token::Comma);
            }
            '(' => {
                chars.next();
                tokens.push(Token::Open);
            }
            ')' => {
                chars.next();
                tokens.push(Token::Close);
            }
            '>' => {
                chars.next();
                tokens.push(Token::Gt);
            }
            '<' => {
                chars.next();
                tokens.push(Token::Lt);
            }
            '=' => {
                chars.next();
                if chars.peek() == Some(&'=') {
                    chars.next();
                    tokens.push(Token::DoubleEq);
                } else {
                    tokens.push(Token::Eq);
                }
            }
            '!' => {
                chars.next();
                if chars.peek() == Some(&'=') {
                    chars.next();
                    tokens.push(Token::NotEq);
                } else {
                    tokens.push(Token::Not);
                }
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || ",()<>=!".contains(c) {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                tokens.push(Token::Word(word));
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn requirement(&mut self) -> Result<LabelRequirement, SelectorError> {
        if self.peek() == Some(&Token::Not) {
            self.next();
            let key = self.key()?;
            return Ok(LabelRequirement { key, operator: LabelOperator::DoesNotExist });
        }
        let key = self.key()?;
        let operator = match self.peek().cloned() {
            None | Some(Token::Comma) => LabelOperator::Exists,
            Some(Token::Eq | Token::DoubleEq) => {
                self.next();
                LabelOperator::In(vec![self.single_value()?])
            }
            Some(Token::NotEq) => {
                self.next();
                LabelOperator::NotIn(vec![self.single_value()?])
            }
            Some(Token::Gt | Token::Lt) => {
                let op = self.next();
                let value = self.single_value()?;
                let n = value.parse::<i64>().map_err(|_| SelectorError::InvalidValue {
                    value: value.clone(),
                    reason: "for 'Gt', 'Lt' operators, the value must be an integer".into(),
                })?;
                if op == Some(Token::Gt) { LabelOperator::GreaterThan(n) } else { LabelOperator::LessThan(n) }
            }
            Some(Token::Word(w)) if w == "in" || w == "notin" => {
                self.next();
                let values = self.value_set()?;
                if w == "in" { LabelOperator::In(values) } else { LabelOperator::NotIn(values) }
            }
            Some(t) => {
                return Err(SelectorError::Syntax(format!("found '{t}', expected: in, notin, =, ==, !=, gt, lt")));
            }
        };
        Ok(LabelRequirement { key, operator })
    }

    fn key(&mut self) -> Result<String, SelectorError> {
        match self.next() {
            Some(Token::Word(key)) => {
                validate_key(&key)?;
                Ok(key)
            }
            Some(t) => Err(SelectorError::Syntax(format!("found '{t}', expected: identifier"))),
            None => Err(SelectorError::Syntax("found end of string, expected: identifier".into())),
        }
    }

    fn single_value(&mut self) -> Result<String, SelectorError> {
        // `key=` with nothing after it selects the empty value.
        let value = match self.peek() {
            Some(Token::Word(_)) => match self.next() {
                Some(Token::Word(w)) => w,
                _ => String::new(),
            },
            None | Some(Token::Comma) => String::new(),
            Some(t) => return Err(SelectorError::Syntax(format!("found '{t}', expected: identifier"))),
        };
        validate_value(&value)?;
        Ok(value)
    }

    fn value_set(&mut self) -> Result<Vec<String>, SelectorError> {
        match self.next() {
            Some(Token::Open) => {}
            Some(t) => return Err(SelectorError::Syntax(format!("found '{t}', expected: '('"))),
            None => return Err(SelectorError::Syntax("found end of string, expected: '('".into())),
        }
        let mut values = Vec::new();
        loop {
            match self.next() {
                Some(Token::Word(w)) => {
                    validate_value(&w)?;
                    values.push(w);
                    match self.next() {
                        Some(Token::Comma) => continue,
                        Some(Token::Close) => break,
                        Some(t) => return Err(SelectorError::Syntax(format!("found '{t}', expected: ',' or ')'"))),
                        None => return Err(SelectorError::Syntax("found end of string, expected: ')'".into())),
                    }
                }
                // An empty element, as in `(a,,b)` or `(a,)`, is the empty value.
                Some(Token::Comma) => values.push(String::new()),
                Some(Token::Close) if !values.is_empty() => {
                    values.push(String::new());
                    break;
                }
                Some(Token::Close) => {
                    return Err(SelectorError::Syntax("for 'in', 'notin' operators, values set can't be empty".into()));
                }
                Some(t) => return Err(SelectorError::Syntax(format!("found '{t}', expected: identifier"))),
                None => return Err(SelectorError::Syntax("found end of string, expected: ')'".into())),
            }
        }
        values.sort();
        values.dedup();
        Ok(values)
    }
}

/// A name segment: at most 63 characters, alphanumerics with `-`, `_` and
/// `.` inside.
fn is_name_segment(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A DNS-1123 subdomain: at most 253 characters of lowercase
/// alphanumerics, `-` and `.`, starting and ending alphanumeric.
pub fn is_dns_subdomain(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 253
        && s.split('.').all(|label| {
            let l = label.as_bytes();
            !l.is_empty()
                && l[0] != b'-'
                && l[l.len() - 1] != b'-'
                && l.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        })
}

/// Checks a label key: an optional DNS-subdomain prefix and `/`, then a name
/// segment.
pub fn validate_key(key: &str) -> Result<(), SelectorError> {
    let invalid = |reason: &str| SelectorError::InvalidKey { key: key.to_owned(), reason: reason.to_owned() };
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if prefix.is_some_and(|p| !is_dns_subdomain(p)) {
        return Err(invalid("prefix part must be a lowercase DNS subdomain of at most 253 characters"));
    }
    if !is_name_segment(name) {
        return Err(invalid(
            "name part must be at most 63 characters of alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric",
        ));
    }
    Ok(())
}

/// Checks a label value: empty, or a name segment.
pub fn validate_value(value: &str) -> Result<(), SelectorError> {
    if value.is_empty() || is_name_segment(value) {
        Ok(())
    } else {
        Err(SelectorError::InvalidValue {
            value: value.to_owned(),
            reason: "must be at most 63 characters of alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric".into(),
        })
    }
}

/// The operator of one field requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldOperator {
    /// `=` or `==`.
    Equals,
    /// `!=`.
    NotEquals,
}

/// One requirement of a field selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    /// The dotted field path, for example `metadata.name`.
    pub path: String,
    /// Equality or inequality.
    pub operator: FieldOperator,
    /// The value compared with (unescaped).
    pub value: String,
}

impl FieldRequirement {
    fn matches(&self, object: &Value) -> bool {
        let actual = field_text(object, &self.path);
        match self.operator {
            FieldOperator::Equals => actual == self.value,
            FieldOperator::NotEquals => actual != self.value,
        }
    }
}

/// A field selector: all requirements must hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// Parses the `fieldSelector` query parameter. `\` escapes the next
    /// character, so values may contain `,`, `=` and `!`.
    pub fn parse(input: &str) -> Result<FieldSelector, SelectorError> {
        let mut requirements = Vec::new();
        for term in split_unescaped(input) {
            if term.trim().is_empty() {
                continue;
            }
            requirements.push(parse_field_term(&term)?);
        }
        Ok(FieldSelector { requirements })
    }

    /// The requirements, in the order given.
    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.requirements
    }

    /// True when the selector matches every object.
    pub fn is_everything(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The value required by an `=` requirement on `path`, if any (for
    /// example to narrow a list by `metadata.namespace`).
    pub fn required_value(&self, path: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| r.path == path && r.operator == FieldOperator::Equals)
            .map(|r| r.value.as_str())
    }

    /// Whether an object satisfies the selector.
    pub fn matches(&self, object: &Value) -> bool {
        self.requirements.iter().all(|r| r.matches(object))
    }
}

/// Splits on commas that are not escaped by `\`, keeping escapes in place.
fn split_unescaped(input: &str) -> Vec<String> {
    let mut terms = Vec::new();
    let mut current = String::new();
    let mut chars = input.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                current.push(c);
                if let Some(next) = chars.next() {
                    current.push(next);
                }
            }
            ',' => terms.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    terms.push(current);
    terms
}

fn parse_field_term(term: &str) -> Result<FieldRequirement, SelectorError> {
    // Find the first unescaped operator.
    let chars: Vec<char> = term.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            '!' if chars.get(i + 1) == Some(&'=') => {
                return field_requirement(&chars[..i], FieldOperator::NotEquals, &chars[i + 2..], term);
            }
            '=' if chars.get(i + 1) == Some(&'=') => {
                return field_requirement(&chars[..i], FieldOperator::Equals, &chars[i + 2..], term);
            }
            '=' => return field_requirement(&chars[..i], FieldOperator::Equals, &chars[i + 1..], term),
            _ => i += 1,
        }
    }
    Err(SelectorError::Syntax(format!("invalid field selector: {term:?}: expected '=', '==' or '!='")))
}

fn field_requirement(
    path: &[char],
    operator: FieldOperator,
    value: &[char],
    term: &str,
) -> Result<FieldRequirement, SelectorError> {
    let path: String = path.iter().collect::<String>().trim().to_owned();
    if path.is_empty() {
        return Err(SelectorError::Syntax(format!("invalid field selector: {term:?}: empty field path")));
    }
    let mut unescaped = String::new();
    let mut chars = value.iter();
    while let Some(&c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(&next) if matches!(next, '\\' | ',' | '=' | '!') => unescaped.push(next),
                Some(&next) => {
                    return Err(SelectorError::Syntax(format!(
                        "invalid field selector: {term:?}: bad escape '\\{next}'"
                    )));
                }
                None => return Err(SelectorError::Syntax(format!("invalid field selector: {term:?}: trailing '\\'"))),
            }
        } else {
            unescaped.push(c);
        }
    }
    Ok(FieldRequirement { path, operator, value: unescaped })
}

/// The text of the field at a dotted path; missing and null are empty.
fn field_text(object: &Value, path: &str) -> String {
    let mut node = object;
    for segment in path.split('.') {
        match node.get(segment) {
            Some(next) => node = next,
            None => return String::new(),
        }
    }
    match node {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;
