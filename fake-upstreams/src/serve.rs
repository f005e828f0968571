//! The connection loop: accepts on loopback, serves HTTP/1 with hyper, and wraps every route with logging, quota and faults.

use super::body::Trickle;
use super::canned;
use super::fault::{Fault, FaultQueue};
use super::log::{Answer, Recorded};
use super::quota::{self, QuotaAnswer, QuotaState, ResolvedRetry};
use axum::body::Body;
use axum::http::{header, request, HeaderValue, Request, Response, StatusCode};
use axum::Router;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::{service_fn, Service};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinSet;

/// Everything the requests of one server share, behind one mutex.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// Requests in arrival order.
    pub(crate) log: Vec<Recorded>,
    /// The next request's sequence number.
    pub(crate) next_seq: u64,
    /// Scripted faults not yet consumed.
    pub(crate) faults: FaultQueue,
    /// The quota and its window, if any.
    pub(crate) quota: Option<QuotaState>,
}

/// The shared state of one server.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    state: Mutex<State>,
}

impl Shared {
    /// Locks the state (a panic in another test thread does not poison it for us).
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records an arrival and decides, under one lock, how it will be answered.
    fn arrive(&self, parts: &request::Parts) -> (u64, Base, Option<Fault>) {
        let path = parts.uri.path();
        let mut st = self.lock();
        let now = Instant::now();
        let seq = st.next_seq;
        st.next_seq += 1;
        st.log.push(Recorded {
            seq,
            method: parts.method.clone(),
            path: path.to_owned(),
            query: parts.uri.query().map(str::to_owned),
            headers: parts.headers.clone(),
            body: Bytes::new(),
            received_at: now,
            answer: Answer::Pending,
        });
        let fault = st.faults.take(path);
        let base = match &fault {
            Some(Fault::Status(code)) => Base::Status(*code, None),
            Some(Fault::RetryAfterStatus {
                status,
                retry_after,
            }) => Base::Status(
                *status,
                Some(quota::resolve(*retry_after, st.quota.as_ref(), now)),
            ),
            Some(Fault::Reset) => Base::Reset,
            Some(Fault::Hang) => Base::Hang,
            Some(Fault::MalformedJson) => Base::Malformed,
            _ => match st.quota.as_mut().map(|q| q.admit(now)) {
                Some(Err((answer, retry))) => Base::OverQuota(answer, retry),
                _ => Base::Route,
            },
        };
        let modifier = fault.filter(|f| !f.replaces_answer());
        (seq, base, modifier)
    }

    /// Updates the record of request `seq` (if it has not been cleared).
    fn update(&self, seq: u64, f: impl FnOnce(&mut Recorded)) {
        let mut st = self.lock();
        if let Ok(i) = st.log.binary_search_by_key(&seq, |r| r.seq) {
            f(&mut st.log[i]);
        }
    }
}

/// How a request is answered before modifiers apply.
enum Base {
    /// Through the router.
    Route,
    /// Through the router, then its body cut into truncated JSON.
    Malformed,
    /// A scripted status.
    Status(u16, Option<ResolvedRetry>),
    /// The quota's answer.
    OverQuota(QuotaAnswer, Option<ResolvedRetry>),
    /// Close the connection with a reset.
    Reset,
    /// Never answer.
    Hang,
}

/// Asks a connection to be reset.
#[derive(Default)]
struct ResetSignal {
    armed: AtomicBool,
    fire: Notify,
}

/// A TCP stream that closes with a reset (`SO_LINGER` 0) when its connection was asked to.
struct ResetIo {
    stream: TcpStream,
    signal: Arc<ResetSignal>,
}

impl Drop for ResetIo {
    fn drop(&mut self) {
        if self.signal.armed.load(Ordering::SeqCst) {
            let _ = self.stream.set_zero_linger();
        }
    }
}

impl AsyncRead for ResetIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResetIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Accepts connections until `stop` is notified (then closes them all and returns) or the
/// task is aborted (dropping the task drops every connection).
pub(crate) async fn accept_loop(
    listener: TcpListener,
    router: Router,
    shared: Arc<Shared>,
    stop: Arc<Notify>,
) {
    let mut conns = JoinSet::new();
    loop {
        while conns.try_join_next().is_some() {}
        tokio::select! {
            () = stop.notified() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    conns.spawn(serve_conn(stream, router.clone(), shared.clone()));
                }
                // Out of descriptors or similar: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
        }
    }
    drop(listener);
    conns.shutdown().await;
}

/// Serves one connection until it closes or a request asks for a reset.
async fn serve_conn(stream: TcpStream, router: Router, shared: Arc<Shared>) {
    let signal = Arc::new(ResetSignal::default());
    let io = TokioIo::new(ResetIo {
        stream,
        signal: signal.clone(),
    });
    let routes = TowerToHyperService::new(router);
    let svc_signal = signal.clone();
    let svc =
        service_fn(move |req| handle(req, routes.clone(), shared.clone(), svc_signal.clone()));
    let conn = http1::Builder::new().serve_connection(io, svc);
    tokio::select! {
        _ = conn => {}
        () = signal.fire.notified() => {}
    }
}

/// Answers one request: log, quota and faults around the router.
async fn handle(
    req: Request<Incoming>,
    routes: TowerToHyperService<Router>,
    shared: Arc<Shared>,
    signal: Arc<ResetSignal>,
) -> Result<Response<Body>, Infallible> {
    let (parts, body) = req.into_parts();
    let (seq, base, modifier) = shared.arrive(&parts);
    let bytes = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            shared.update(seq, |r| r.answer = Answer::Incomplete);
            return Ok(canned::status_json(StatusCode::BAD_REQUEST));
        }
    };
    shared.update(seq, |r| r.body = bytes.clone());
    if let Some(Fault::Delay(d)) = &modifier {
        tokio::time::sleep(*d).await;
    }
    let mut res = match base {
        Base::Reset => {
            shared.update(seq, |r| r.answer = Answer::Reset);
            signal.armed.store(true, Ordering::SeqCst);
            signal.fire.notify_one();
            return std::future::pending().await;
        }
        Base::Hang => {
            shared.update(seq, |r| r.answer = Answer::Hung);
            return std::future::pending().await;
        }
        Base::Status(code, retry) => canned::scripted_status(code, retry),
        Base::OverQuota(answer, retry) => canned::over_quota(&answer, retry),
        Base::Route | Base::Malformed => {
            let req = Request::from_parts(parts, Body::from(bytes));
            let Ok(res) = routes.call(req).await;
            if matches!(base, Base::Malformed) {
                malformed(res).await
            } else {
                res
            }
        }
    };
    match modifier {
        Some(Fault::Header(name, value)) => {
            res.headers_mut().insert(name, value);
        }
        Some(Fault::SlowBody { chunk, interval }) => {
            let (head, body) = res.into_parts();
            let bytes = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            res = Response::from_parts(head, Body::new(Trickle::slow(bytes, chunk, interval)));
        }
        _ => {}
    }
    let status = res.status().as_u16();
    shared.update(seq, |r| r.answer = Answer::Status(status));
    Ok(res)
}

/// The route's answer turned into `200` with a truncated JSON body.
async fn malformed(res: Response<Body>) -> Response<Body> {
    let (mut head, body) = res.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let cut = canned::truncate_json(&bytes);
    head.status = StatusCode::OK;
    head.headers.remove(header::CONTENT_LENGTH);
    head.headers.remove(header::TRANSFER_ENCODING);
    head.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(head, Body::from(cut))
}
