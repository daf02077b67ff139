//! The task endpoints for a task this node does not hold (`--node-url`, see [`super::cluster`]):
//! found in Redis finished, running on another node (the request is forwarded there and its
//! answer streamed back), or lost with a node that died.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::sse::Sse;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;

use super::cluster::{Authority, Cluster, Finished, Whereabouts};
use super::tasks::{Task, TaskStatus};
use super::{event, unknown_task, ApiError, App};

/// Set on a request one node forwards to another: the receiver answers from what it holds and
/// never forwards it again.
pub const FORWARDED: &str = "x-indextts-forwarded";
/// Time to connect to another node, and for its answer's headers.
const FORWARD_CONNECT: Duration = Duration::from_secs(1);
const FORWARD_HEADERS: Duration = Duration::from_secs(10);

/// Where a task asked for by id is.
pub enum Found {
    /// In this node's store.
    Here(Arc<Task>),
    /// Finished on some node; Redis has its record.
    Finished(Box<Finished>),
    /// Running on the node at this URL.
    Elsewhere(Arc<Cluster>, String),
    /// Its node died before it finished.
    Lost(TaskStatus),
}

/// Find task `id`: here, or through the cluster's Redis (not for a request another node
/// forwarded, which only this node's store answers).
pub async fn locate(app: &App, id: &str, headers: &HeaderMap) -> Result<Found, ApiError> {
    if let Some(task) = app.tasks.get(id) {
        return Ok(Found::Here(task));
    }
    let Some(cluster) = app.cluster.clone() else {
        return Err(unknown_task(id));
    };
    // Only ids this server could have made reach Redis.
    if headers.contains_key(FORWARDED)
        || id.len() != 32
        || !id.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return Err(unknown_task(id));
    }
    let found = redis(&cluster, {
        let id = id.to_owned();
        move |c| c.whereabouts(&id)
    })
    .await?;
    match found {
        Whereabouts::Unknown => Err(unknown_task(id)),
        Whereabouts::Finished(finished) => Ok(Found::Finished(finished)),
        // This node owned it and no longer has it (it was restarted): lost with its process.
        Whereabouts::Owner(owner) if owner == cluster.node() => {
            Ok(Found::Lost(lost(&cluster, id, &owner).await?))
        }
        Whereabouts::Owner(owner) => Ok(Found::Elsewhere(cluster, owner)),
    }
}

/// Run a blocking Redis call of the cluster's off the async threads.
pub async fn redis<T: Send + 'static>(
    cluster: &Arc<Cluster>,
    f: impl FnOnce(&Cluster) -> Result<T, crate::cache::resp::RespError> + Send + 'static,
) -> Result<T, ApiError> {
    let cluster = Arc::clone(cluster);
    match tokio::task::spawn_blocking(move || f(&cluster)).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(ApiError {
            retry_after: Some(1),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "cluster_unavailable",
                format!("the cluster's task store is not answering ({e})"),
            )
        }),
        Err(e) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            e.to_string(),
        )),
    }
}

/// Record task `id` as lost with `owner`. If it was recorded finished meanwhile (its node
/// finished it just before leaving), a 503 to ask again, which finds that record.
async fn lost(cluster: &Arc<Cluster>, id: &str, owner: &str) -> Result<TaskStatus, ApiError> {
    let recorded = redis(cluster, {
        let (id, owner) = (id.to_owned(), owner.to_owned());
        move |c| c.lost(&id, &owner)
    })
    .await?;
    recorded.ok_or_else(|| ApiError {
        retry_after: Some(1),
        ..ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "task_just_finished",
            format!("task {id} has just finished on a node that left; ask again"),
        )
    })
}

/// The answer of the node that runs task `id` to `method path`, or, if it cannot be reached
/// and its heartbeat has gone, the task's lost status. Unreachable but alive (a moment's
/// trouble, or a node finishing its tasks after SIGTERM) is a 503 to retry.
pub async fn forward(
    cluster: &Arc<Cluster>,
    owner: &str,
    id: &str,
    method: Method,
    path: &str,
    headers: &HeaderMap,
) -> Result<Result<Response, TaskStatus>, ApiError> {
    let error = match send(owner, method, path, headers.get(header::HOST)).await {
        Ok(response) => return Ok(Ok(response)),
        Err(e) => e,
    };
    let alive = redis(cluster, {
        let owner = owner.to_owned();
        move |c| c.alive(&owner)
    })
    .await?;
    if alive {
        return Err(ApiError {
            retry_after: Some(1),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "node_unreachable",
                format!("the node that runs task {id} ({owner}) did not answer ({error}); retry"),
            )
        });
    }
    Ok(Err(lost(cluster, id, owner).await?))
}

/// One request to another node, its answer's status, content type and body passed on as they
/// come. It carries the client's `Host`, which this node accepted, so the owner's `Host` check
/// (the same `--allowed-host` on every node) accepts it too.
async fn send(
    owner: &str,
    method: Method,
    path: &str,
    host: Option<&axum::http::HeaderValue>,
) -> std::io::Result<Response> {
    let authority = Authority::parse(owner)
        .ok_or_else(|| std::io::Error::other(format!("{owner:?} is not a node URL")))?;
    let stream = tokio::time::timeout(
        FORWARD_CONNECT,
        tokio::net::TcpStream::connect(authority.0.as_str()),
    )
    .await
    .map_err(|_| std::io::Error::other("connect timed out"))??;
    stream.set_nodelay(true)?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(std::io::Error::other)?;
    // Ends when the answer has been read, or dropped with the client that asked.
    tokio::spawn(connection);
    let request = axum::http::Request::builder()
        .method(method)
        .uri(path)
        .header(
            header::HOST,
            host.and_then(|h| h.to_str().ok())
                .unwrap_or(authority.0.as_str()),
        )
        .header(FORWARDED, "1")
        .body(Body::empty())
        .map_err(std::io::Error::other)?;
    let answer = tokio::time::timeout(FORWARD_HEADERS, sender.send_request(request))
        .await
        .map_err(|_| std::io::Error::other("no answer in time"))?
        .map_err(std::io::Error::other)?;
    let (parts, body) = answer.into_parts();
    let mut response = Response::new(Body::new(body));
    *response.status_mut() = parts.status;
    for name in [
        header::CONTENT_TYPE,
        header::RETRY_AFTER,
        header::CACHE_CONTROL,
    ] {
        if let Some(value) = parts.headers.get(&name) {
            response.headers_mut().insert(name, value.clone());
        }
    }
    Ok(response)
}

/// `/stream` of a task finished elsewhere: its WAV from Redis; a failed task is a 500 as here.
pub async fn finished_stream(
    cluster: &Arc<Cluster>,
    finished: Finished,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let id = finished.status.task_id.clone();
    if finished.lost {
        return Err(lost_stream(&finished.status));
    }
    if let Some(error) = &finished.status.error {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "synthesis_failed",
            format!("task {id} failed: {error}"),
        ));
    }
    if !finished.audio {
        // Too long to share through Redis: its node still holds it, for the task's TTL.
        let path = format!("/stream/{id}");
        return match forward(cluster, &finished.node, &id, Method::GET, &path, headers).await? {
            Ok(response) => Ok(response),
            Err(status) => Err(lost_stream(&status)),
        };
    }
    // Each reader holds a whole WAV: bounded as a task's readers are.
    let permit = Arc::clone(&cluster.audio_readers)
        .try_acquire_owned()
        .map_err(|_| ApiError {
            retry_after: Some(1),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_readers",
                "this node is sending as many finished tasks' audio as it may; retry",
            )
        })?;
    let wav = redis(cluster, {
        let id = id.clone();
        move |c| c.audio(&id)
    })
    .await?
    .ok_or_else(|| unknown_task(&id))?;
    let wav = Bytes::from(wav);
    let slices = (0..wav.len())
        .step_by(64 << 10)
        .map(move |at| wav.slice(at..(at + (64 << 10)).min(wav.len())));
    // The place is held until the last slice has gone.
    let body = futures_util::stream::iter(slices).map(move |slice| {
        let _held = &permit;
        Ok::<_, std::convert::Infallible>(slice)
    });
    Ok((
        [(header::CONTENT_TYPE, "audio/wav")],
        Body::from_stream(body),
    )
        .into_response())
}

/// `/stream` of a task whose node died.
pub fn lost_stream(status: &TaskStatus) -> ApiError {
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        "node_lost",
        status.error.clone().unwrap_or_default(),
    )
}

/// `/events` of a task that will not change again: its words, its status, and its error if
/// it failed, as a task here sends them at its end.
pub fn final_events(status: &TaskStatus, words: &serde_json::Value) -> Response {
    let mut events = Vec::new();
    if words.as_array().is_some_and(|w| !w.is_empty()) {
        events.push(event("words", &serde_json::json!({ "words": words })));
    }
    events.push(event("status", status));
    if let Some(message) = &status.error {
        events.push(event("error", &serde_json::json!({ "message": message })));
    }
    let stream =
        futures_util::stream::iter(events.into_iter().map(Ok::<_, std::convert::Infallible>));
    Sse::new(stream).into_response()
}

/// `/events` forwarded from the node that runs the task. If that node's answer breaks off
/// between two events (it died), the client gets a failed status and an `error` event saying
/// so, not a stream that just stops.
pub fn forwarded_events(response: Response, id: &str, owner: &str) -> Response {
    if !response.status().is_success() {
        return response;
    }
    let (parts, body) = response.into_parts();
    // (upstream, whether what came so far ends between two events, whether it has ended)
    let state = (body.into_data_stream(), true, false, lost_tail(id, owner));
    let stream =
        futures_util::stream::unfold(state, |(mut body, between, ended, tail)| async move {
            if ended {
                return None;
            }
            match body.next().await? {
                Ok(bytes) => {
                    let between = bytes.ends_with(b"\n\n");
                    Some((Ok(bytes), (body, between, false, tail)))
                }
                Err(_) if between => Some((Ok(tail.clone()), (body, true, true, tail))),
                Err(e) => Some((
                    Err(std::io::Error::other(e.to_string())),
                    (body, false, true, tail),
                )),
            }
        });
    Response::from_parts(parts, Body::from_stream(stream))
}

/// A failed status and an `error` event for a task whose node went mid-stream, as SSE bytes.
fn lost_tail(id: &str, owner: &str) -> Bytes {
    let status = super::cluster::lost_status(id, owner);
    let status_json = serde_json::to_string(&status).unwrap_or_default();
    let error_json = serde_json::json!({ "message": status.error.unwrap_or_default() }).to_string();
    Bytes::from(format!(
        "event: status\ndata: {status_json}\n\nevent: error\ndata: {error_json}\n\n"
    ))
}
