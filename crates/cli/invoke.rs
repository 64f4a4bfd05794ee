//! `wasm-agent invoke`: one invocation from the command line.

use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context as _, bail};
use tokio::sync::mpsc;
use wasm_agent_host::{Context, Host, Invocation, InvokeError};

use crate::args::{InvokeArgs, process_env};
use crate::{EXIT_COMPONENT, EXIT_CONFIG, EXIT_FAILED};

/// Lines queued for the stdout writer: a reader that stops reading stalls the guest through
/// this bound instead of growing a buffer.
const STDOUT_QUEUE: usize = 16;

pub fn run(args: InvokeArgs) -> anyhow::Result<ExitCode> {
    let payload = match read_payload(&args.payload) {
        Ok(payload) => payload,
        Err(error) => {
            eprintln!("error: {error:#}");
            return Ok(ExitCode::from(EXIT_CONFIG));
        }
    };
    let config = match args.limits.host_config(&process_env) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error}");
            return Ok(ExitCode::from(EXIT_CONFIG));
        }
    };
    let host = match Host::load_file(&args.handler, config) {
        Ok(host) => host,
        Err(error) => {
            eprintln!("error: {}: {error}", args.handler.display());
            return Ok(ExitCode::from(EXIT_COMPONENT));
        }
    };
    // The context `serve` would build from the same headers (the SDK's rules: lowercase names,
    // the allowlist, the identity headers), with the flags taking precedence.
    let headers = wasm_agent_contract::headers::request_context(
        args.headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_bytes())),
    );
    let invocation = Invocation {
        payload,
        context: Context {
            request_id: args
                .request_id
                .or(headers.request_id)
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            session_id: args.session_id.or(headers.session_id),
            headers: headers.headers,
            workload_access_token: headers.workload_access_token,
            oauth2_callback_url: headers.oauth2_callback_url,
        },
        timeout: args.limits.timeout,
        stream_timeout: None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    let outcome = runtime.block_on(invoke(&host, invocation));
    // Work the handler scheduled runs after its reply (a failure is a reply), as under `serve`.
    runtime.block_on(host.background_finished());
    match outcome {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(error) => {
            match &error {
                InvokeError::Guest {
                    status,
                    message,
                    error_type,
                } => {
                    let kind = error_type
                        .as_deref()
                        .map(|t| format!(" ({t})"))
                        .unwrap_or_default();
                    eprintln!("error: the handler failed with status {status}{kind}: {message}");
                }
                other => eprintln!("error: {}", other.diagnostic()),
            }
            // A stdout nobody reads may still hold the writer thread; exiting ends it.
            std::process::exit(i32::from(EXIT_FAILED));
        }
    }
}

/// Runs the invocation, printing each event as it arrives and then the result.
async fn invoke(host: &Host, invocation: Invocation) -> Result<(), InvokeError> {
    // A little past the host's own deadline and grace: by then the host has ended the call,
    // and a stalled stdout must not keep us waiting for ever.
    let give_up = Instant::now() + invocation.timeout + host.config().cancel_grace * 2;
    let (lines, writer) = stdout_writer();
    let mut running = host.invoke(invocation);
    while let Some(event) = running.next_event().await {
        let sent = tokio::time::timeout_at(give_up.into(), lines.send(event.into_data())).await;
        if !matches!(sent, Ok(Ok(()))) {
            break;
        }
    }
    let completion = running.outcome().await?;
    if let Some(result) = completion.result {
        let _ = tokio::time::timeout_at(give_up.into(), lines.send(result)).await;
    }
    drop(lines);
    let _ = tokio::task::spawn_blocking(move || writer.join()).await;
    Ok(())
}

/// A thread that writes lines to stdout, flushing each, so a blocked stdout never blocks the
/// runtime that watches the invocation.
fn stdout_writer() -> (mpsc::Sender<String>, std::thread::JoinHandle<()>) {
    let (sender, mut receiver) = mpsc::channel::<String>(STDOUT_QUEUE);
    let thread = std::thread::spawn(move || {
        let stdout = std::io::stdout();
        while let Some(line) = receiver.blocking_recv() {
            let mut out = stdout.lock();
            if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
                break;
            }
        }
    });
    (sender, thread)
}

/// The payload from the argument: JSON text, `-` for stdin, or `@FILE`.
fn read_payload(argument: &str) -> anyhow::Result<String> {
    let text = if argument == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the payload from standard input")?;
        text
    } else if let Some(path) = argument.strip_prefix('@') {
        std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the payload from {path}"))?
    } else {
        argument.to_owned()
    };
    if let Err(error) = wasm_agent_contract::json::check_document(&text) {
        bail!("the payload is not valid JSON: {error}");
    }
    Ok(text)
}
