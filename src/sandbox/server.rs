//! The accept loop. axum handlers cannot close a socket, and a faithful "connection dropped"
//! fault needs exactly that: each connection gets a kill switch in its requests' extensions,
//! and firing it drops the connection future, so the client sees the socket close with no
//! answer.

use std::convert::Infallible;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// Fired by a handler to drop its connection without answering.
#[derive(Clone)]
pub struct ConnectionKill(pub CancellationToken);

impl ConnectionKill {
    /// Closes the connection and never returns, so no answer can be written first.
    pub async fn drop_connection(&self) -> ! {
        self.0.cancel();
        std::future::pending().await
    }
}

pub async fn serve(listener: TcpListener, router: Router, shutdown: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.cancelled() => return,
        };
        let Ok((stream, _)) = accepted else {
            continue; // a failed accept (e.g. too many files) must not end the server
        };
        let router = router.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let kill = CancellationToken::new();
            let kill_for_requests = kill.clone();
            let service =
                hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
                    request
                        .extensions_mut()
                        .insert(ConnectionKill(kill_for_requests.clone()));
                    let router = router.clone();
                    async move {
                        let response = router.oneshot(request.map(axum::body::Body::new)).await;
                        Ok::<_, Infallible>(response.unwrap_or_else(|never| match never {}))
                    }
                });
            // Title-case header names: the Python SDK looks up `X-Tt-Logid` case-sensitively.
            let connection = hyper::server::conn::http1::Builder::new()
                .title_case_headers(true)
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                biased;
                () = kill.cancelled() => {}
                () = shutdown.cancelled() => {}
                _ = connection => {}
            }
        });
    }
}
