//! [`SettingsFile`]: every key of the config file, its type, and the field of [`ServeArgs`] it
//! sets. One table below makes the file's struct, the layering of the file beneath flags and
//! variables, and the reverse (for `--print-config`), so a setting cannot be in one and not the
//! others. A key is its flag's field name in kebab case: the flag `--x-y`, whose clap id is
//! `x_y`, has the key `x-y`.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::ArgMatches;
use clap::parser::ValueSource;

use super::values::{bytes, duration, env_grants, human_duration, positive, size};
use crate::logging::LogFormat;
use crate::serve_args::{Scope, ServeArgs};

/// Whether the flag with clap id `id` was given on the command line or by its variable, which
/// both win over the file.
pub(super) fn is_given(matches: &ArgMatches, id: &str) -> bool {
    matches!(
        matches.value_source(id),
        Some(ValueSource::CommandLine | ValueSource::EnvVariable)
    )
}

macro_rules! settings {
    ($($(#[$meta:meta])* $key:ident: $type:ty => $($field:ident).+,)*) => {
        /// The config file of `serve`: each key optional, none unknown.
        #[derive(Debug, Default, PartialEq, serde::Deserialize, serde::Serialize)]
        #[serde(rename_all = "kebab-case", deny_unknown_fields)]
        pub(super) struct SettingsFile {
            $(
                $(#[$meta])*
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub(super) $key: Option<$type>,
            )*
        }

        /// Every key, as the clap id of its flag, in the file's order.
        pub(super) const IDS: &[&str] = &[$(stringify!($key)),*];

        impl SettingsFile {
            /// Puts each setting the file has into `args`, unless its flag or variable gave it.
            pub(super) fn apply_under(self, args: &mut ServeArgs, matches: &ArgMatches) {
                $(
                    if let Some(value) = self.$key
                        && !is_given(matches, stringify!($key))
                    {
                        args.$($field).+ = value.into();
                    }
                )*
            }

            /// The settings `args` holds: all of them, but those without a default not set.
            pub(super) fn from_args(args: &ServeArgs) -> Self {
                Self {
                    $($key: ToOwned::to_owned(&args.$($field).+).into(),)*
                }
            }
        }
    };
}

settings! {
    handler: PathBuf => handler,
    host: IpAddr => host,
    port: u16 => port,
    metrics_addr: SocketAddr => metrics_addr,
    log: String => log,
    log_format: LogFormat => log_format,
    debug: bool => debug,
    watch: bool => watch,

    #[serde(with = "duration")]
    timeout: Duration => limits.timeout,
    #[serde(with = "duration")]
    stream_timeout: Duration => stream_timeout,
    fuel: u64 => limits.fuel,
    #[serde(with = "size")]
    max_memory: u64 => limits.max_memory,
    #[serde(with = "size")]
    max_total_memory: u64 => max_total_memory,
    #[serde(with = "size")]
    max_payload: u64 => max_payload,
    #[serde(with = "size")]
    max_result_size: u64 => limits.max_result_size,
    #[serde(with = "size")]
    max_event_size: u64 => limits.max_event_size,
    #[serde(with = "positive")]
    max_async_tasks: usize => limits.max_async_tasks,

    workers: usize => workers,
    control_threads: usize => control_threads,
    max_concurrency: usize => max_concurrency,
    max_queue: usize => max_queue,
    #[serde(with = "duration")]
    shutdown_grace: Duration => shutdown_grace,
    #[serde(with = "duration")]
    cancel_grace: Duration => cancel_grace,

    instance_scope: Scope => instance_scope,
    max_sessions: u32 => max_sessions,
    #[serde(with = "duration")]
    session_idle_timeout: Duration => session_idle_timeout,
    #[serde(with = "duration")]
    session_max_lifetime: Duration => session_max_lifetime,
    session_queue: usize => session_queue,
    max_background: u32 => max_background,
    #[serde(with = "duration")]
    task_timeout: Duration => task_timeout,
    max_websockets: u32 => max_websockets,

    #[serde(with = "human_duration")]
    header_timeout: humantime::Duration => header_timeout,
    #[serde(with = "human_duration")]
    body_timeout: humantime::Duration => body_timeout,
    #[serde(with = "bytes")]
    body_min_rate: u64 => body_min_rate,
    #[serde(with = "human_duration")]
    keep_alive_timeout: humantime::Duration => keep_alive_timeout,
    max_connections: usize => max_connections,

    allow_outbound: Vec<String> => limits.outbound.allow_outbound,
    outbound_auth: Vec<String> => limits.outbound.outbound_auth,
    outbound_ca: Vec<PathBuf> => limits.outbound.outbound_ca,
    #[serde(with = "duration")]
    outbound_connect_timeout: Duration => limits.outbound.outbound_connect_timeout,
    #[serde(with = "duration")]
    outbound_first_byte_timeout: Duration => limits.outbound.outbound_first_byte_timeout,
    #[serde(with = "duration")]
    outbound_between_bytes_timeout: Duration => limits.outbound.outbound_between_bytes_timeout,
    #[serde(with = "size")]
    outbound_max_response: u64 => limits.outbound.outbound_max_response,
    outbound_max_requests: u32 => limits.outbound.outbound_max_requests,
    outbound_max_in_flight: u32 => limits.outbound.outbound_max_in_flight,
    outbound_threads: usize => limits.outbound.outbound_threads,
    #[serde(with = "env_grants")]
    env: Vec<(String, String)> => limits.outbound.env,
    env_inherit: Vec<String> => limits.outbound.env_inherit,

    cache_dir: PathBuf => limits.cache.cache_dir,
    no_cache: bool => limits.cache.no_cache,
}
