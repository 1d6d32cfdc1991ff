//! Which freight a stage may take: direct from its warehouse, or verified (and soaked) upstream.
//!
//! The rules, in order (Kargo's):
//! 1. The freight's origin must be one the stage requests (`spec.requestedFreight[].origin`).
//! 2. Freight a human approved for the stage (`status.approvedFor[stage]`) is available, and so
//!    is freight the stage already runs (`status.currentIn[stage]`, so a rollback target stays
//!    listed).
//! 3. A `direct` source makes every freight of the warehouse available.
//! 4. Upstream `stages` make freight available once it is verified there and has soaked for
//!    `requiredSoakTime` (see [`soak`]); with several upstream stages `OneOf` needs one of them,
//!    `All` needs every one.

use std::cmp::Ordering;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kube::ResourceExt;

use crate::duration::{elapsed, format_duration, parse_duration, parse_timestamp};
use crate::{AvailabilityStrategy, Freight, FreightRequest, Stage};

/// The freight available to `stage`, newest first (see [`newest_first`]).
pub fn available_freight<'a>(stage: &Stage, freight: &'a [Freight], now: DateTime<Utc>) -> Vec<&'a Freight> {
    let mut out: Vec<&Freight> = freight.iter().filter(|f| why_not(stage, f, now).is_none()).collect();
    out.sort_by(|a, b| newest_first(a, b));
    out
}

/// Why `freight` is not available to `stage` now, in words for `ferry promote` and for status
/// messages; `None` when it is available.
pub fn why_not(stage: &Stage, freight: &Freight, now: DateTime<Utc>) -> Option<String> {
    let stage_name = stage.name_any();
    let label = freight_label(freight);
    let origin = &freight.spec.origin;
    let requests: Vec<&FreightRequest> =
        stage.spec.requested_freight.iter().filter(|r| same_origin(&r.origin, origin)).collect();
    if requests.is_empty() {
        return Some(format!(
            "freight {label} comes from {} {}, which stage {stage_name} does not request",
            origin.kind.to_lowercase(),
            origin.name
        ));
    }
    if freight.status.as_ref().is_some_and(|s| s.approved_for.contains_key(&stage_name)) {
        return None;
    }
    if freight.status.as_ref().is_some_and(|s| s.current_in.contains_key(&stage_name)) {
        return None;
    }
    // Several requests for one origin: any one of them suffices; report the first's reason.
    let mut first_reason = None;
    for request in requests {
        match request_reason(&stage_name, request, freight, now) {
            None => return None,
            Some(reason) => {
                first_reason.get_or_insert(reason);
            }
        }
    }
    first_reason.map(|reason| format!("freight {label} {reason}"))
}

/// Why `freight` may not be promoted to `stage` yet although it is available: the stage
/// requires approval (`spec.approval.required`) and the freight is not approved for it.
/// `None` when no approval is needed or it was given. Kept apart from [`why_not`] because, as
/// in Kargo, unapproved freight is still listed as available.
pub fn needs_approval(stage: &Stage, freight: &Freight) -> Option<String> {
    let stage_name = stage.name_any();
    let required = stage.spec.approval.as_ref().is_some_and(|a| a.required);
    let approved = freight.status.as_ref().is_some_and(|s| s.approved_for.contains_key(&stage_name));
    (required && !approved).then(|| {
        let label = freight_label(freight);
        format!("freight {label} is not approved for stage {stage_name}, which requires approval (ferry approve {stage_name} --freight {label})")
    })
}

/// Why one request does not admit the freight (a phrase following "freight X"), or `None`.
fn request_reason(stage_name: &str, request: &FreightRequest, freight: &Freight, now: DateTime<Utc>) -> Option<String> {
    let sources = &request.sources;
    if sources.direct {
        return None;
    }
    if sources.stages.is_empty() {
        return Some(format!(
            "cannot reach stage {stage_name}: its request for warehouse {} has no source (neither direct nor upstream stages)",
            request.origin.name
        ));
    }
    let required = match sources.required_soak_time.as_deref().map(parse_duration).transpose() {
        Ok(required) => required.unwrap_or(Duration::ZERO),
        Err(err) => {
            return Some(format!("cannot be checked: stage {stage_name} has an invalid requiredSoakTime: {err}"));
        }
    };
    let shortfalls: Vec<Shortfall> =
        sources.stages.iter().filter_map(|up| upstream_shortfall(freight, up, required, now)).collect();
    match sources.availability_strategy {
        AvailabilityStrategy::All => shortfalls.first().map(Shortfall::predicate),
        AvailabilityStrategy::OneOf if shortfalls.len() < sources.stages.len() => None,
        AvailabilityStrategy::OneOf if shortfalls.len() == 1 => shortfalls.first().map(Shortfall::predicate),
        AvailabilityStrategy::OneOf => {
            let items: Vec<String> = shortfalls.iter().map(Shortfall::item).collect();
            Some(format!("is not available from any upstream stage: {}", items.join("; ")))
        }
    }
}

/// How a freight falls short in one upstream stage.
enum Shortfall {
    NotVerified { upstream: String },
    Soaking { upstream: String, soaked: Duration, required: Duration },
}

impl Shortfall {
    /// As a list item: `not verified in dev`.
    fn item(&self) -> String {
        match self {
            Shortfall::NotVerified { upstream } => format!("not verified in {upstream}"),
            Shortfall::Soaking { upstream, soaked, required } => {
                format!("soaked {} of required {} in {upstream}", format_duration(*soaked), format_duration(*required))
            }
        }
    }

    /// Following "freight X": `is not verified in dev`.
    fn predicate(&self) -> String {
        match self {
            Shortfall::NotVerified { .. } => format!("is {}", self.item()),
            Shortfall::Soaking { .. } => self.item(),
        }
    }
}

/// How the freight falls short in upstream stage `upstream`, or `None` when it passes.
fn upstream_shortfall(freight: &Freight, upstream: &str, required: Duration, now: DateTime<Utc>) -> Option<Shortfall> {
    let verified = freight.status.as_ref().and_then(|s| s.verified_in.get(upstream));
    if verified.is_none() {
        return Some(Shortfall::NotVerified { upstream: upstream.to_owned() });
    }
    let soaked = soak(freight, upstream, now);
    (soaked < required).then(|| Shortfall::Soaking { upstream: upstream.to_owned(), soaked, required })
}

/// How long `freight` has soaked in `stage`: the longest of its finished runs there
/// (`verifiedIn[stage].longestSoakSeconds`) and, while the stage still runs it
/// (`currentIn[stage]` present), the ongoing run, counted from the later of
/// `verifiedIn[stage].verifiedAt` and `currentIn[stage].since` (soak starts at verification,
/// and a freight that left and came back starts again). Zero when it was never verified there.
pub fn soak(freight: &Freight, stage: &str, now: DateTime<Utc>) -> Duration {
    let Some(status) = freight.status.as_ref() else {
        return Duration::ZERO;
    };
    let Some(verified) = status.verified_in.get(stage) else {
        return Duration::ZERO;
    };
    let completed = Duration::from_secs(verified.longest_soak_seconds.and_then(|s| u64::try_from(s).ok()).unwrap_or(0));
    let ongoing = match status.current_in.get(stage) {
        Some(current) => {
            let verified_at = verified.verified_at.as_deref().and_then(parse_timestamp);
            let since = current.since.as_deref().and_then(parse_timestamp);
            verified_at.max(since).map(|start| elapsed(start, now)).unwrap_or(Duration::ZERO)
        }
        None => Duration::ZERO,
    };
    completed.max(ongoing)
}

/// Ordering of freight, newest first: by when it was created — the
/// [`crate::CREATED_ANNOTATION`] (nanoseconds; freight made within one second must still order)
/// or else `metadata.creationTimestamp` — descending (freight with neither sorts last), then by
/// name ascending so ties are stable.
pub fn newest_first(a: &Freight, b: &Freight) -> Ordering {
    let created = |f: &Freight| {
        f.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(crate::CREATED_ANNOTATION))
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
            .or_else(|| {
                let stamp = f.metadata.creation_timestamp.as_ref()?;
                DateTime::from_timestamp(stamp.0.as_second(), 0)
            })
    };
    created(b).cmp(&created(a)).then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

/// How messages name a freight: its alias, or its name when it has none.
pub fn freight_label(freight: &Freight) -> String {
    if freight.spec.alias.is_empty() { freight.name_any() } else { freight.spec.alias.clone() }
}

/// Origins match on name, and on kind with an empty kind read as `Warehouse`.
fn same_origin(a: &crate::FreightOrigin, b: &crate::FreightOrigin) -> bool {
    let kind = |k: &str| if k.is_empty() { "Warehouse".to_owned() } else { k.to_owned() };
    a.name == b.name && kind(&a.kind) == kind(&b.kind)
}

#[cfg(test)]
pub(crate) mod tests;
