//! A web server whose handler opens a Send scope (`duet::send`): hyper on tokio's
//! multi-thread runtime; each `GET /page/N` fans out to three backend endpoints on
//! loopback (borrowing the handler's client and request, no `Arc`s), under a deadline,
//! fail-fast, with a shielded audit write that finishes even when the page fails.
//! `GET /hang/N` waits on a backend that never answers: a client that gives up cancels
//! the handler's children (hyper drops the handler's future when the connection closes).
//!
//! `cargo run --example send_server` starts it, sends a few requests and stops;
//! `tests/send_server.rs` puts it under load.

#![allow(dead_code, reason = "tests/send_server.rs uses this file as a module")]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// Children of handlers alive now (each backend call is one).
pub static LIVE_CHILDREN: AtomicUsize = AtomicUsize::new(0);
/// Children dropped before they finished (fail-fast, deadline, client gone).
pub static CANCELLED_CHILDREN: AtomicUsize = AtomicUsize::new(0);
/// Audit records written (one per page request, shielded).
pub static AUDITS: AtomicUsize = AtomicUsize::new(0);

/// Counts a child from its first poll to its drop.
struct Child {
    finished: bool,
}

impl Child {
    fn enter() -> Child {
        LIVE_CHILDREN.fetch_add(1, Ordering::SeqCst);
        Child { finished: false }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if !self.finished {
            CANCELLED_CHILDREN.fetch_add(1, Ordering::SeqCst);
        }
        LIVE_CHILDREN.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Why a page could not be made.
#[derive(Debug)]
pub enum PageError {
    /// A backend answered with an error status.
    Backend(StatusCode),
    /// A backend could not be reached.
    Unreachable(String),
    /// A child was cancelled or failed (fail-fast: the first error is the page's).
    Join(duet::JoinError),
}

impl From<duet::JoinError> for PageError {
    fn from(error: duet::JoinError) -> Self {
        PageError::Join(error)
    }
}

/// What a handler shares with its children: borrowed, not cloned.
pub struct App {
    client: reqwest::Client,
    backends: SocketAddr,
    deadline: Duration,
}

impl App {
    async fn fetch(&self, part: &str, user: u64) -> Result<String, PageError> {
        let mut child = Child::enter();
        let url = format!("http://{}/{part}/{user}", self.backends);
        let response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| PageError::Unreachable(e.to_string()))?;
        if !response.status().is_success() {
            child.finished = true;
            return Err(PageError::Backend(response.status()));
        }
        let body = response
            .text()
            .await
            .map_err(|e| PageError::Unreachable(e.to_string()))?;
        child.finished = true;
        Ok(body)
    }

    /// The handler's fan-out: three backends at once under the deadline; the first
    /// failure cancels the others; the audit write is shielded, so it finishes even
    /// when the page fails or times out.
    pub async fn page(&self, user: u64) -> Result<String, duet::ScopeError<PageError>> {
        duet::send::timeout_scope(self.deadline, async |s| {
            s.spawn(duet::shield(async move {
                tokio::time::sleep(Duration::from_millis(1)).await;
                AUDITS.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }));
            let profile = s.spawn(self.fetch("profile", user));
            let feed = s.spawn(self.fetch("feed", user));
            let ads = s.spawn(self.fetch("ads", user));
            Ok(format!(
                "{} | {} | {}",
                profile.await?,
                feed.await?,
                ads.await?
            ))
        })
        .await
    }

    /// Waits on a backend that never answers (no deadline): only the client's going
    /// away ends it.
    pub async fn hang(&self, user: u64) -> Result<String, duet::ScopeError<PageError>> {
        duet::send::scope(async |s| {
            let stuck = s.spawn(self.fetch("never", user));
            Ok(stuck.await?)
        })
        .await
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
}

fn user_of(path: &str) -> u64 {
    path.rsplit('/')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The backends: `/profile/N`, `/feed/N`, `/ads/N` answer after up to 3 ms; every
/// 50th user's feed fails (500), every 97th user's ads take 2 s (past the deadline);
/// `/never/N` never answers.
async fn backend(
    request: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_owned();
    let user = user_of(&path);
    let part = path.split('/').nth(1).unwrap_or("");
    match part {
        "never" => std::future::pending::<()>().await,
        "feed" if user % 50 == 7 => {
            return Ok(text(StatusCode::INTERNAL_SERVER_ERROR, "feed down".into()));
        }
        "ads" if user % 97 == 5 => tokio::time::sleep(Duration::from_secs(2)).await,
        _ => tokio::time::sleep(Duration::from_millis(user % 4)).await,
    }
    Ok(text(StatusCode::OK, format!("{part} of {user}")))
}

async fn front(
    app: &App,
    request: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_owned();
    let user = user_of(&path);
    let result = if path.starts_with("/hang/") {
        app.hang(user).await
    } else {
        app.page(user).await
    };
    Ok(match result {
        Ok(page) => text(StatusCode::OK, page),
        Err(error) if error.is_timeout() => text(StatusCode::GATEWAY_TIMEOUT, "timed out".into()),
        Err(error) => text(StatusCode::BAD_GATEWAY, format!("{error:?}")),
    })
}

async fn serve<S, F>(listener: TcpListener, service: S)
where
    S: Fn(Request<hyper::body::Incoming>) -> F + Clone + Send + 'static,
    F: Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send + 'static,
{
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let service = service.clone();
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(service))
                .await;
        });
    }
}

/// The backends and the front server, on the caller's tokio runtime. Returns the front
/// server's address.
pub async fn start(deadline: Duration) -> SocketAddr {
    let backends = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let backend_addr = backends.local_addr().expect("bound");
    tokio::spawn(serve(backends, backend));
    let app: &'static App = Box::leak(Box::new(App {
        client: reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("a client"),
        backends: backend_addr,
        deadline,
    }));
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("bound");
    tokio::spawn(serve(listener, move |request| front(app, request)));
    addr
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        let addr = start(Duration::from_millis(300)).await;
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("a client");
        for user in [1, 7, 5] {
            let response = client
                .get(format!("http://{addr}/page/{user}"))
                .send()
                .await
                .expect("the server answers");
            let status = response.status();
            println!(
                "page {user}: {status} {}",
                response.text().await.unwrap_or_default()
            );
        }
    });
    println!(
        "children alive: {}, cancelled: {}, audits: {}",
        LIVE_CHILDREN.load(Ordering::SeqCst),
        CANCELLED_CHILDREN.load(Ordering::SeqCst),
        AUDITS.load(Ordering::SeqCst)
    );
}
