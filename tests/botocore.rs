//! An independent check of the host's SigV4 signatures: botocore, not the aws-sigv4 crate the host
//! signs with, signs the request the mock model received again and compares the Authorization
//! headers (tests/sigv4/verify.py, in the venv that `make sigv4-venv` builds).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::json;

use crate::mock_model::Recorded;
use crate::support::{COMMAND_LIMIT, TestResult, wait_with_limit};

/// The venv's Python, where tests/sigv4/venv.sh puts it.
fn python() -> Result<PathBuf, Box<dyn std::error::Error>> {
    let cache = match std::env::var_os("WASM_AGENT_CACHE") {
        Some(cache) => PathBuf::from(cache),
        None => PathBuf::from(std::env::var_os("HOME").ok_or("HOME is not set")?)
            .join(".cache/wasm-agent"),
    };
    let python = cache.join("sigv4-venv/bin/python");
    if python.exists() {
        Ok(python)
    } else {
        Err(format!(
            "{} is missing: run `make sigv4-venv` first",
            python.display()
        )
        .into())
    }
}

/// The script that checks signatures with botocore.
fn verify_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sigv4/verify.py")
}

/// Checks that `request`, as the mock at `base_url` received it, carries the SigV4 signature
/// botocore computes for it with these credentials, at the request's own `x-amz-date`. Fails with
/// the script's verdict (both Authorization headers) when they differ.
pub(crate) fn verify_sigv4(
    request: &Recorded,
    base_url: &str,
    access_key: &str,
    secret_key: &str,
    token: Option<&str>,
    region: &str,
    service: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let input = json!({
        "method": request.method,
        "url": format!("{}{}", base_url.trim_end_matches('/'), request.path),
        "headers": request.headers,
        "body": request.body,
        "access_key": access_key,
        "secret_key": secret_key,
        "token": token,
        "region": region,
        "service": service,
    });
    let mut child = Command::new(python()?)
        .arg(verify_script())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    // Written aside, so a script that stops reading cannot hold the test past the limit.
    std::thread::spawn(move || stdin.write_all(input.to_string().as_bytes()));
    let output = wait_with_limit(child, COMMAND_LIMIT)?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "botocore disagrees with the signature ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
        .into())
    }
}

/// The signature of [`signed_sample`], from botocore 1.44.8, and the same by hand from the SigV4
/// spec (with the path's `%3A` encoded again, as for every service but S3).
const AUTHORIZATION: &str = "AWS4-HMAC-SHA256 \
    Credential=AKIDEXAMPLE/20250102/us-east-1/bedrock/aws4_request, \
    SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token, \
    Signature=9a04534ca537f9c9f7b5238ca018a1d5ebfe43d55313be0c60598c8b4bc05e0d";

/// A Bedrock Converse request signed at 2025-01-02T00:00:00Z with a session token, as a server
/// receives it (content-length added after signing).
fn signed_sample() -> Recorded {
    let headers = [
        ("host", "127.0.0.1:9"),
        ("content-type", "application/json"),
        (
            "x-amz-content-sha256",
            "c3335e07d6e89650bf94cb98664be69f8774dbc3198df221f113db0a59ea14f0",
        ),
        ("x-amz-date", "20250102T000000Z"),
        ("x-amz-security-token", "tok"),
        ("authorization", AUTHORIZATION),
        ("content-length", "56"),
    ];
    Recorded {
        method: "POST".to_owned(),
        version: "HTTP/1.1".to_owned(),
        path: "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse".to_owned(),
        headers: headers
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect(),
        body: r#"{"messages":[{"role":"user","content":[{"text":"hi"}]}]}"#.to_owned(),
    }
}

/// The check accepts botocore's own signature (session token, `%3A` in the path,
/// x-amz-content-sha256) and catches every kind of tampering (verify.py --self-test).
#[test]
fn botocore_rejects_tampered_requests() -> TestResult {
    let output = wait_with_limit(
        Command::new(python()?)
            .arg(verify_script())
            .arg("--self-test")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?,
        COMMAND_LIMIT,
    )?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains(r#""self_test": "passed""#),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

/// `verify_sigv4` passes a request, its URL and the credentials to the script as it expects: a
/// correctly signed request passes, and one with a changed header or body fails.
#[test]
fn verify_sigv4_accepts_only_the_signed_request() -> TestResult {
    let check = |request: &Recorded| {
        let base = "http://127.0.0.1:9/";
        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        verify_sigv4(
            request,
            base,
            "AKIDEXAMPLE",
            secret,
            Some("tok"),
            "us-east-1",
            "bedrock",
        )
    };
    let good = signed_sample();
    check(&good)?;

    let mut retyped = good.clone();
    retyped.headers[1].1 = "text/plain".to_owned();
    let error = check(&retyped).err().ok_or("a changed header passed")?;
    assert!(error.to_string().contains(r#""match": false"#), "{error}");

    let mut rewritten = good.clone();
    rewritten.body.push(' ');
    assert!(check(&rewritten).is_err(), "a changed body passed");

    let mut unsigned = good;
    unsigned.headers.retain(|(name, _)| name != "authorization");
    let error = check(&unsigned).err().ok_or("an unsigned request passed")?;
    assert!(error.to_string().contains("Authorization"), "{error}");
    Ok(())
}
