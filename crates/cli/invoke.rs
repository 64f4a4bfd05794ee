//! `wasm-agent invoke`: one invocation from the command line.

use std::io::{Read, Write};
use std::time::Instant;

use anyhow::{Context as _, anyhow, bail};
use tokio::sync::mpsc;
use wasm_agent_host::{Context, Host, Invocation, InvokeError};

use crate::args::{InvokeArgs, flag_name, process_env};
use crate::failure::Failure;

/// Lines queued for the stdout writer: a reader that stops reading stalls the guest through
/// this bound instead of growing a buffer.
const STDOUT_QUEUE: usize = 16;

/// Runs one invocation and prints its events and result; a failed invocation ends the
/// process here (see below).
pub(crate) fn run(args: InvokeArgs) -> Result<(), Failure> {
    let payload = read_payload(&args.payload).map_err(Failure::usage)?;
    let config = args
        .limits
        .host_config(&process_env, &flag_name)
        .map_err(|error| Failure::usage(anyhow!(error)))?;
    // `invoke` takes no flag that sizes the instance pool, so unlike under `serve` a pool it
    // cannot reserve is no usage error: like every load error it is the component's (65).
    let host = Host::load_file(&args.handler, config)
        .map_err(|error| Failure::component(error).context(args.handler.display().to_string()))?;
    // The context `serve` would build from the same headers, with the flags taking precedence.
    let mut context = Context::from_headers(
        args.headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_bytes())),
    );
    if let Some(request_id) = args.request_id {
        context.request_id = request_id;
    }
    if let Some(session_id) = args.session_id {
        context.session_id = Some(session_id);
    }
    let invocation = Invocation {
        payload,
        context,
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
    let Err(error) = outcome else {
        return Ok(());
    };
    let failure = match &error {
        InvokeError::Guest {
            status,
            message,
            error_type,
        } => {
            let kind = error_type
                .as_deref()
                .map(|t| format!(" ({t})"))
                .unwrap_or_default();
            anyhow!("the handler failed with status {status}{kind}: {message}")
        }
        // On the command line the person reading is the operator: the detail is theirs.
        other => anyhow!(other.diagnostic()),
    };
    // Exits here rather than returning to `main`: a stdout nobody reads may still hold the
    // writer thread, and returning would wait for it as the runtime and host drop.
    Failure::from(failure).exit()
}

/// Runs the invocation, printing each event as it arrives and then the result.
async fn invoke(host: &Host, invocation: Invocation) -> Result<(), InvokeError> {
    // A little past the host's own deadline and grace: by then the host has ended the call,
    // and a stalled stdout must not keep us waiting for ever.
    let give_up = Instant::now() + invocation.timeout + host.config().cancel_grace * 2;
    let (lines, writer) = stdout_writer();
    let mut running = host.invoke(invocation).await?;
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
