//! Running one step: its condition, its config's expressions, its typed config, and the step.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::expr::{self, ExprError};
use crate::{ServiceError, StepContext, steps};

/// The built-in step kinds (`uses`).
pub const BUILTIN_STEPS: &[&str] = &[
    "git-clone",
    "kustomize-set-image",
    "yaml-update",
    "helm-update-chart",
    "copy",
    "hydrate",
    "git-commit",
    "git-push",
    "git-open-pr",
    "git-wait-for-pr",
    "app-sync",
    "app-wait",
    "http",
    "exec",
];

/// The most state an exec plugin may keep between runs, in bytes of JSON.
pub const MAX_STATE_BYTES: usize = 64 * 1024;

/// How a step run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutcomePhase {
    /// Done.
    Succeeded,
    /// Not done yet: call again later (waiting for a PR, an app, a plugin).
    Running,
    /// Its `if` was false; nothing ran.
    Skipped,
    /// Failed for good: something the user must fix.
    Failed,
    /// Failed in a way that may pass on retry (network, a service, a plugin error).
    Errored,
}

/// A step run's result.
#[derive(Debug, Clone, PartialEq)]
pub struct StepOutcome {
    /// How it ended.
    pub phase: OutcomePhase,
    /// Why, for humans.
    pub message: Option<String>,
    /// Outputs, read by later steps as `outputs.<alias>`.
    pub outputs: Map<String, Value>,
    /// State to hand back on the next run (exec plugins that are `running`), at most
    /// [`MAX_STATE_BYTES`] of JSON.
    pub state: Option<Value>,
}

impl StepOutcome {
    /// Succeeded with these outputs.
    pub(crate) fn succeeded(outputs: Map<String, Value>) -> StepOutcome {
        StepOutcome { phase: OutcomePhase::Succeeded, message: None, outputs, state: None }
    }

    /// Still running, because of `message`.
    pub(crate) fn running(message: String) -> StepOutcome {
        StepOutcome { phase: OutcomePhase::Running, message: Some(message), outputs: Map::new(), state: None }
    }

    /// Failed for good, because of `message`.
    pub(crate) fn failed(message: String) -> StepOutcome {
        StepOutcome { phase: OutcomePhase::Failed, message: Some(message), outputs: Map::new(), state: None }
    }
}

/// Why a step could not run or did not finish. Turned into a [`StepOutcome`] by [`run_step`].
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// `uses` names no built-in step.
    #[error("step {step}: unknown step kind {uses:?} (known: {})", BUILTIN_STEPS.join(", "))]
    UnknownStep {
        /// The step's alias or `step-<index>`.
        step: String,
        /// What it asked for.
        uses: String,
    },
    /// The config does not fit the step.
    #[error("step {step} ({uses}): invalid config: {message}")]
    InvalidConfig {
        /// The step's alias or `step-<index>`.
        step: String,
        /// The step kind.
        uses: String,
        /// What is wrong, with the field's path.
        message: String,
    },
    /// Two steps share an alias.
    #[error("step alias {alias:?} is used twice")]
    DuplicateAlias {
        /// The alias.
        alias: String,
    },
    /// An expression failed.
    #[error(transparent)]
    Expression(#[from] ExprError),
    /// A config path leaves the scratch directory.
    #[error("path {path:?} escapes the promotion's working directory")]
    PathEscapes {
        /// The path as configured.
        path: String,
    },
    /// A filesystem operation failed.
    #[error("cannot {what}")]
    Io {
        /// What was being done, naming the path.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// git failed.
    #[error(transparent)]
    Git(#[from] source::worktree::WorktreeError),
    /// Rendering failed.
    #[error("render: {0}")]
    Render(#[from] render::RenderError),
    /// A controller service failed.
    #[error("{0}")]
    Service(#[from] ServiceError),
    /// The step cannot succeed as configured (a conflict, a missing file, a bad response).
    #[error("{message}")]
    Failed {
        /// Why, for humans.
        message: String,
    },
    /// A transient failure (a plugin crashed, a request timed out).
    #[error("{message}")]
    Transient {
        /// Why, for humans.
        message: String,
    },
}

impl StepError {
    /// Whether retrying can help (`Errored`) or the user must fix something (`Failed`).
    fn phase(&self) -> OutcomePhase {
        use source::worktree::WorktreeError;
        match self {
            StepError::Io { .. } | StepError::Service(_) | StepError::Transient { .. } => OutcomePhase::Errored,
            StepError::Git(WorktreeError::Source(
                source::SourceError::UnsupportedUrl { .. } | source::SourceError::InvalidCredentials { .. },
            )) => OutcomePhase::Failed,
            StepError::Git(_) => OutcomePhase::Errored,
            _ => OutcomePhase::Failed,
        }
    }

    pub(crate) fn failed(message: impl Into<String>) -> StepError {
        StepError::Failed { message: message.into() }
    }

    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> StepError {
        StepError::Io { what: what.into(), source }
    }
}

/// The name a step goes by in messages and status: its alias, or `step-<index>`.
fn step_name(step: &promotion::PromotionStep, index: usize) -> String {
    step.alias.clone().unwrap_or_else(|| format!("step-{index}"))
}

/// Checks steps before any runs: every `uses` is known, aliases are unique, every expression
/// parses, and every config fits its step's typed config as far as can be known before the
/// expressions are evaluated (unknown fields, missing required fields, wrong types of values
/// that are not expressions).
pub fn validate(steps: &[promotion::PromotionStep]) -> Result<(), StepError> {
    let mut aliases = std::collections::BTreeSet::new();
    for (index, step) in steps.iter().enumerate() {
        let name = step_name(step, index);
        if let Some(alias) = &step.alias
            && !aliases.insert(alias.as_str())
        {
            return Err(StepError::DuplicateAlias { alias: alias.clone() });
        }
        if !BUILTIN_STEPS.contains(&step.uses.as_str()) {
            return Err(StepError::UnknownStep { step: name, uses: step.uses.clone() });
        }
        if let Some(condition) = &step.if_ {
            expr::syntax(condition).map_err(|e| relocate(e, &format!("step {name} if")))?;
        }
        let config = step.config.clone().unwrap_or_else(|| Value::Object(Map::new()));
        syntax_check(&config, &format!("step {name} config"))?;
        static_check(&step.uses, &config).map_err(|message| StepError::InvalidConfig {
            step: name.clone(),
            uses: step.uses.clone(),
            message,
        })?;
    }
    Ok(())
}

/// Runs one step: its `if`, then its config's expressions, then the step itself. Never fails:
/// every problem is an outcome (`Failed` or `Errored`) with a message.
pub async fn run_step(step: &promotion::PromotionStep, ctx: &StepContext<'_>) -> StepOutcome {
    match try_run(step, ctx).await {
        Ok(outcome) => bounded(outcome),
        Err(error) => {
            StepOutcome { phase: error.phase(), message: Some(error.to_string()), outputs: Map::new(), state: None }
        }
    }
}

/// Cleans up after an aborted step: exec plugins get their `abort` call; built-in steps need
/// nothing (their scratch work is in the promotion's directory).
pub async fn abort_step(step: &promotion::PromotionStep, ctx: &StepContext<'_>) -> Result<(), StepError> {
    if step.uses != "exec" {
        return Ok(());
    }
    let config = evaluated_config(step, ctx)?;
    let config: steps::exec::ExecConfig = parse(&step.uses, config)?;
    steps::exec::abort(&config, ctx).await
}

async fn try_run(step: &promotion::PromotionStep, ctx: &StepContext<'_>) -> Result<StepOutcome, StepError> {
    if let Some(condition) = &step.if_
        && !expr::condition(condition, &ctx.scope())?
    {
        return Ok(StepOutcome {
            phase: OutcomePhase::Skipped,
            message: Some(format!("condition {condition:?} is false")),
            outputs: Map::new(),
            state: None,
        });
    }
    let config = evaluated_config(step, ctx)?;
    let uses = step.uses.as_str();
    match uses {
        "git-clone" => steps::git::clone(parse(uses, config)?, ctx).await,
        "git-commit" => steps::git::commit(parse(uses, config)?, ctx).await,
        "git-push" => steps::git::push(parse(uses, config)?, ctx).await,
        "kustomize-set-image" => steps::yaml::kustomize_set_image(parse(uses, config)?, ctx).await,
        "yaml-update" => steps::yaml::yaml_update(parse(uses, config)?, ctx).await,
        "helm-update-chart" => steps::yaml::helm_update_chart(parse(uses, config)?, ctx).await,
        "copy" => steps::copy::copy(parse(uses, config)?, ctx).await,
        "hydrate" => steps::hydrate::hydrate(parse(uses, config)?, ctx).await,
        "git-open-pr" => steps::pr::open(parse(uses, config)?, ctx).await,
        "git-wait-for-pr" => steps::pr::wait(parse(uses, config)?, ctx).await,
        "app-sync" => steps::app::sync(parse(uses, config)?, ctx).await,
        "app-wait" => steps::app::wait(parse(uses, config)?, ctx).await,
        "http" => steps::http::http(parse(uses, config)?, ctx).await,
        "exec" => steps::exec::run(parse(uses, config)?, ctx).await,
        other => Err(StepError::UnknownStep { step: step.alias.clone().unwrap_or_default(), uses: other.to_owned() }),
    }
}

fn evaluated_config(step: &promotion::PromotionStep, ctx: &StepContext<'_>) -> Result<Value, StepError> {
    let config = step.config.clone().unwrap_or_else(|| Value::Object(Map::new()));
    Ok(expr::evaluate(&config, &ctx.scope())?)
}

/// Refuses state over the bound: a plugin that keeps growing it is broken.
fn bounded(mut outcome: StepOutcome) -> StepOutcome {
    if let Some(state) = &outcome.state {
        let size = serde_json::to_vec(state).map(|v| v.len()).unwrap_or(usize::MAX);
        if size > MAX_STATE_BYTES {
            outcome.phase = OutcomePhase::Failed;
            outcome.message = Some(format!("step state is {size} bytes, more than the {MAX_STATE_BYTES}-byte limit"));
            outcome.state = None;
        }
    }
    outcome
}

/// Deserializes an evaluated config into the step's typed config.
pub(crate) fn parse<T: DeserializeOwned>(uses: &str, config: Value) -> Result<T, StepError> {
    serde_path_to_error::deserialize(config).map_err(|e| StepError::InvalidConfig {
        step: String::new(),
        uses: uses.to_owned(),
        message: describe(&e),
    })
}

fn describe(error: &serde_path_to_error::Error<serde_json::Error>) -> String {
    let path = error.path().to_string();
    if path == "." { error.inner().to_string() } else { format!("{path}: {}", error.inner()) }
}

/// Every expression in `value` compiles.
fn syntax_check(value: &Value, at: &str) -> Result<(), StepError> {
    match value {
        Value::String(text) if expr::has_expression(text) => {
            // Evaluating against an empty scope would fail on every variable; compile only.
            expr::syntax(text).map_err(|e| relocate(e, at))
        }
        Value::Array(items) => items.iter().try_for_each(|v| syntax_check(v, at)),
        Value::Object(map) => map.iter().try_for_each(|(k, v)| syntax_check(v, &format!("{at}.{k}"))),
        _ => Ok(()),
    }
}

/// The error, saying where it is.
fn relocate(error: ExprError, at: &str) -> StepError {
    StepError::Expression(match error {
        ExprError::Syntax { expr, message, .. } => ExprError::Syntax { at: format!("{at}: "), expr, message },
        ExprError::Unterminated { text, .. } => ExprError::Unterminated { at: format!("{at}: "), text },
        other => other,
    })
}

fn static_check(uses: &str, config: &Value) -> Result<(), String> {
    match uses {
        "git-clone" => probe::<steps::git::CloneConfig>(config),
        "git-commit" => probe::<steps::git::CommitConfig>(config),
        "git-push" => probe::<steps::git::PushConfig>(config),
        "kustomize-set-image" => probe::<steps::yaml::SetImageConfig>(config),
        "yaml-update" => probe::<steps::yaml::YamlUpdateConfig>(config),
        "helm-update-chart" => probe::<steps::yaml::HelmChartConfig>(config),
        "copy" => probe::<steps::copy::CopyConfig>(config),
        "hydrate" => probe::<steps::hydrate::HydrateConfig>(config),
        "git-open-pr" => probe::<steps::pr::OpenConfig>(config),
        "git-wait-for-pr" => probe::<steps::pr::WaitConfig>(config),
        "app-sync" => probe::<steps::app::SyncConfig>(config),
        "app-wait" => probe::<steps::app::WaitConfig>(config),
        "http" => probe::<steps::http::HttpConfig>(config),
        "exec" => probe::<steps::exec::ExecConfig>(config),
        _ => Ok(()),
    }
}

/// Placeholders tried, in turn, for a value that is an expression: its type is only known once
/// it is evaluated, so any one that fits is taken as "could be valid".
fn samples() -> [Value; 6] {
    [
        Value::String(String::new()),
        Value::Bool(true),
        Value::from(0),
        Value::Array(Vec::new()),
        Value::Object(Map::new()),
        Value::Null,
    ]
}

/// Deserializes `config` as `T`, standing in a placeholder of each JSON type for every value
/// that holds an expression until one fits. An error that points at a plain value (or at an
/// object missing a field, or carrying an unknown one) is real.
fn probe<T: DeserializeOwned>(config: &Value) -> Result<(), String> {
    let mut candidate = config.clone();
    let mut tried: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    // Each round fixes one expression's placeholder; bounded so a config can't loop forever.
    for _ in 0..256 {
        let error = match serde_path_to_error::deserialize::<_, T>(candidate.clone()) {
            Ok(_) => return Ok(()),
            Err(error) => error,
        };
        let segments: Vec<String> = error
            .path()
            .iter()
            .filter_map(|segment| match segment {
                serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
                serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                _ => None,
            })
            .collect();
        let Some(pointer) = expression_on_path(config, &segments) else {
            return Err(describe(&error));
        };
        let attempt = tried.entry(pointer.clone()).or_insert(0);
        let samples = samples();
        let Some(sample) = samples.get(*attempt) else {
            // No placeholder fits, yet the expression might produce something else valid
            // (a string that is a number, say): leave it to run time.
            return Ok(());
        };
        *attempt += 1;
        if let Some(slot) = candidate.pointer_mut(&pointer) {
            *slot = sample.clone();
        }
    }
    Ok(())
}

/// The JSON pointer of the first value on `segments` (root first) that is an expression string.
fn expression_on_path(config: &Value, segments: &[String]) -> Option<String> {
    let mut current = config;
    let mut pointer = String::new();
    for segment in segments {
        if is_expression(current) {
            return Some(pointer);
        }
        current = match current {
            Value::Object(map) => map.get(segment)?,
            Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
        pointer.push('/');
        pointer.push_str(&segment.replace('~', "~0").replace('/', "~1"));
    }
    is_expression(current).then_some(pointer)
}

fn is_expression(value: &Value) -> bool {
    matches!(value, Value::String(s) if expr::has_expression(s))
}
