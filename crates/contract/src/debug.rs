//! The SDK's debug actions (`BedrockAgentCoreApp(debug=True)`): a payload object holding
//! `_agent_core_app_action` is answered by the runtime itself, with these compact bodies.

use serde_json::Value;

use crate::ping::PingStatus;

/// The payload key that names a debug action.
pub const ACTION_KEY: &str = "_agent_core_app_action";

/// A debug action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DebugAction {
    /// Reply with the `/ping` body (and count as a `/ping` for the status clock).
    PingStatus,
    /// Reply with the open async tasks.
    JobStatus,
    /// Force `/ping` to `Healthy`.
    ForceHealthy,
    /// Force `/ping` to `HealthyBusy`.
    ForceBusy,
    /// Stop forcing the status.
    ClearForcedStatus,
}

/// The debug action a payload asks for: `None` when it is not a debug request (not an object,
/// or no action key), `Some(Err(name))` for an action the SDK does not know.
pub fn action(payload: &Value) -> Option<Result<DebugAction, String>> {
    let requested = payload.as_object()?.get(ACTION_KEY)?;
    let known = match requested.as_str() {
        Some("ping_status") => DebugAction::PingStatus,
        Some("job_status") => DebugAction::JobStatus,
        Some("force_healthy") => DebugAction::ForceHealthy,
        Some("force_busy") => DebugAction::ForceBusy,
        Some("clear_forced_status") => DebugAction::ClearForcedStatus,
        Some(other) => return Some(Err(other.to_owned())),
        None => return Some(Err(requested.to_string())),
    };
    Some(Ok(known))
}

/// `{"error":"Unknown action: NAME"}`, sent with 400.
pub fn unknown_action_body(name: &str) -> String {
    crate::body::error(&format!("Unknown action: {name}"))
}

/// `{"forced_status":"Healthy"}`, `{"forced_status":"HealthyBusy"}` or, when cleared,
/// `{"forced_status":"Cleared"}`.
pub fn forced_status_body(status: Option<PingStatus>) -> String {
    let value = status.map_or("Cleared", PingStatus::as_str);
    format!(r#"{{"forced_status":"{value}"}}"#)
}

/// `{"active_count":N,"running_jobs":[{"name":"...","duration":1.5}]}`: the SDK's
/// `get_async_task_info`, with each job's name and how long it has run, in seconds.
pub fn job_status_body<'a>(jobs: impl ExactSizeIterator<Item = (&'a str, f64)>) -> String {
    let count = jobs.len();
    // Written by hand to keep the SDK's key order (name, then duration).
    let running: Vec<String> = jobs
        .map(|(name, seconds)| {
            let name = Value::from(name);
            let duration = Value::from(seconds);
            format!(r#"{{"name":{name},"duration":{duration}}}"#)
        })
        .collect();
    let running = running.join(",");
    format!(r#"{{"active_count":{count},"running_jobs":[{running}]}}"#)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Only an object with the key is a debug request; the action names are the SDK's.
    #[test]
    fn recognises_the_sdks_actions() {
        assert_eq!(action(&json!({"x": 1})), None);
        assert_eq!(action(&json!([ACTION_KEY])), None);
        assert_eq!(action(&json!(ACTION_KEY)), None);
        assert_eq!(
            action(&json!({ACTION_KEY: "force_busy"})),
            Some(Ok(DebugAction::ForceBusy))
        );
        assert_eq!(
            action(&json!({ACTION_KEY: "reboot"})),
            Some(Err("reboot".into()))
        );
        assert_eq!(action(&json!({ACTION_KEY: 7})), Some(Err("7".into())));
    }

    /// The replies are the SDK's bytes.
    #[test]
    fn replies_are_the_sdks_bytes() {
        assert_eq!(
            forced_status_body(Some(PingStatus::Healthy)),
            r#"{"forced_status":"Healthy"}"#
        );
        assert_eq!(
            forced_status_body(Some(PingStatus::HealthyBusy)),
            r#"{"forced_status":"HealthyBusy"}"#
        );
        assert_eq!(forced_status_body(None), r#"{"forced_status":"Cleared"}"#);
        assert_eq!(
            job_status_body(std::iter::empty()),
            r#"{"active_count":0,"running_jobs":[]}"#
        );
        assert_eq!(
            job_status_body([("background:job", 1.5)].into_iter()),
            r#"{"active_count":1,"running_jobs":[{"name":"background:job","duration":1.5}]}"#
        );
        assert_eq!(
            unknown_action_body("reboot"),
            r#"{"error":"Unknown action: reboot"}"#
        );
    }
}
