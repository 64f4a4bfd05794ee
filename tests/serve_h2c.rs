//! `wasm-agent serve` speaks HTTP/2 without TLS (h2c, prior knowledge) as well as HTTP/1.1.

use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::body::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::server::Server;
use crate::support::TestResult;

/// A JSON and a streaming invocation over h2c get the same replies as over HTTP/1.1.
#[test]
fn invocations_over_h2c() -> TestResult {
    let server = Server::start("agent", &[])?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let tcp = tokio::net::TcpStream::connect(server.address).await?;
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp)).await?;
        tokio::spawn(connection);
        let mut bodies = Vec::new();
        for payload in [r#"{"prompt": "hi"}"#, r#"{"prompt": "hi", "stream": true}"#] {
            let request = Request::post(format!("http://{}/invocations", server.address))
                .body(Full::new(Bytes::from(payload)))?;
            let response = sender.send_request(request).await?;
            assert_eq!(response.version(), hyper::Version::HTTP_2);
            assert_eq!(response.status(), 200);
            let content_type = response.headers()["content-type"].to_str()?.to_owned();
            let body = response.into_body().collect().await?.to_bytes();
            bodies.push((content_type, String::from_utf8(body.to_vec())?));
        }
        assert_eq!(bodies[0].0, "application/json");
        assert!(bodies[0].1.contains(r#""reply":"You said: hi""#), "{}", bodies[0].1);
        assert_eq!(bodies[1].0, "text/event-stream; charset=utf-8");
        assert_eq!(bodies[1].1, "data: {\"token\":\"You\"}\n\ndata: {\"token\":\"said:\"}\n\ndata: {\"token\":\"hi\"}\n\n");
        Ok(())
    })
}
