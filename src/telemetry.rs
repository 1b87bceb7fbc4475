//! What the registry reports to operators: Prometheus-style metrics through the [`metrics`]
//! facade (feature `metrics`), recorded only when the host installs a recorder (without one,
//! each call is an atomic load), and the names of the tracing spans.
//!
//! The metrics and spans are listed in the crate docs ("Metrics and tracing").
//!
//! Spans: `oci_request` (info) per registry request, with `method`, `endpoint`, `repository`,
//! `reference` (tag or digest), `principal` and `status`; `storage` (debug) per storage
//! operation, with `operation`, as its child.
//!
//! [`metrics`]: https://docs.rs/metrics

use http::{Method, StatusCode};

use crate::storage::Error;

/// Registers the descriptions of every metric with the installed recorder (if any).
#[cfg(feature = "metrics")]
pub(crate) fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!("oci_http_requests_total", "Registry requests answered.");
    describe_histogram!(
        "oci_http_request_duration_seconds",
        Unit::Seconds,
        "Time from a registry request to its response head."
    );
    describe_counter!(
        "oci_blob_bytes_received_total",
        Unit::Bytes,
        "Blob bytes received in upload bodies."
    );
    describe_counter!(
        "oci_blob_bytes_sent_total",
        Unit::Bytes,
        "Blob bytes in GET responses."
    );
    describe_gauge!(
        "oci_upload_sessions_open",
        "Upload sessions holding stored bytes, as this process counts them."
    );
    describe_counter!(
        "oci_upload_sessions_expired_total",
        "Idle upload sessions removed by the expiry sweep."
    );
    describe_histogram!(
        "oci_storage_operation_duration_seconds",
        Unit::Seconds,
        "Storage operations by name."
    );
    describe_counter!(
        "oci_storage_errors_total",
        "Storage operations that failed, by operation and kind."
    );
    describe_counter!(
        "oci_auth_failures_total",
        "Requests refused by the authorizer, by reason."
    );
    describe_counter!("oci_gc_runs_total", "Garbage collection runs.");
    describe_histogram!(
        "oci_gc_duration_seconds",
        Unit::Seconds,
        "How long garbage collection runs took."
    );
    describe_counter!(
        "oci_gc_freed_items_total",
        "Items garbage collection deleted, by kind."
    );
    describe_counter!(
        "oci_gc_freed_bytes_total",
        Unit::Bytes,
        "Bytes garbage collection freed."
    );
}

/// Without feature `metrics`: nothing to describe.
#[cfg(not(feature = "metrics"))]
pub(crate) fn describe() {}

/// A label value for `status` (the codes the registry answers with; the rest as `other`).
fn status_label(status: StatusCode) -> &'static str {
    match status.as_u16() {
        200 => "200",
        201 => "201",
        202 => "202",
        204 => "204",
        206 => "206",
        307 => "307",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        408 => "408",
        413 => "413",
        414 => "414",
        415 => "415",
        416 => "416",
        429 => "429",
        431 => "431",
        500 => "500",
        503 => "503",
        507 => "507",
        _ => "other",
    }
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The `kind` label of a storage error.
#[cfg(feature = "metrics")]
fn error_kind(error: &Error) -> &'static str {
    match error {
        Error::NotFound { .. } => "not_found",
        Error::AlreadyExists { .. } => "already_exists",
        Error::Conflict { .. } => "conflict",
        Error::Busy { .. } => "busy",
        Error::Full { .. } => "full",
        Error::Unavailable { .. } => "unavailable",
        Error::Corrupt { .. } => "corrupt",
        Error::InvalidInput { .. } => "invalid_input",
        _ => "other",
    }
}

/// When something measured started (nothing, and no clock read, without feature `metrics`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timer {
    #[cfg(feature = "metrics")]
    started: std::time::Instant,
}

impl Timer {
    pub(crate) fn start() -> Self {
        Timer {
            #[cfg(feature = "metrics")]
            started: std::time::Instant::now(),
        }
    }

    #[cfg(feature = "metrics")]
    fn elapsed(self) -> std::time::Duration {
        self.started.elapsed()
    }
}

/// A registry request answered with `status`, timed from `started`.
pub(crate) fn request(method: &Method, endpoint: &'static str, status: StatusCode, started: Timer) {
    let method = method_label(method);
    let status = status_label(status);
    #[cfg(feature = "metrics")]
    {
        metrics::counter!("oci_http_requests_total", "method" => method, "endpoint" => endpoint, "status" => status)
            .increment(1);
        metrics::histogram!("oci_http_request_duration_seconds", "method" => method, "endpoint" => endpoint)
            .record(started.elapsed().as_secs_f64());
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (method, endpoint, status, started);
}

/// `bytes` of upload bodies stored.
pub(crate) fn blob_bytes_received(bytes: u64) {
    #[cfg(feature = "metrics")]
    metrics::counter!("oci_blob_bytes_received_total").increment(bytes);
    #[cfg(not(feature = "metrics"))]
    let _ = bytes;
}

/// `bytes` of a blob response body.
pub(crate) fn blob_bytes_sent(bytes: u64) {
    #[cfg(feature = "metrics")]
    metrics::counter!("oci_blob_bytes_sent_total").increment(bytes);
    #[cfg(not(feature = "metrics"))]
    let _ = bytes;
}

/// The number of sessions holding bytes that this process counts.
pub(crate) fn upload_sessions_open(open: usize) {
    #[cfg(feature = "metrics")]
    metrics::gauge!("oci_upload_sessions_open").set(open as f64);
    #[cfg(not(feature = "metrics"))]
    let _ = open;
}

/// `expired` idle sessions removed by a sweep.
pub(crate) fn upload_sessions_expired(expired: usize) {
    #[cfg(feature = "metrics")]
    metrics::counter!("oci_upload_sessions_expired_total").increment(expired as u64);
    #[cfg(not(feature = "metrics"))]
    let _ = expired;
}

/// Storage operation `operation`, timed from `started`, failed with `error` if any.
pub(crate) fn storage_operation(operation: &'static str, started: Timer, error: Option<&Error>) {
    #[cfg(feature = "metrics")]
    {
        metrics::histogram!("oci_storage_operation_duration_seconds", "operation" => operation)
            .record(started.elapsed().as_secs_f64());
        if let Some(error) = error {
            metrics::counter!("oci_storage_errors_total", "operation" => operation, "kind" => error_kind(error))
                .increment(1);
        }
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (operation, started, error);
}

/// A request the authorizer refused, for `reason`.
pub(crate) fn auth_failure(reason: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!("oci_auth_failures_total", "reason" => reason).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = reason;
}

/// A garbage collection run timed from `started`: its report, or `None` when it failed.
pub(crate) fn gc_run(report: Option<&crate::gc::GcReport>, started: Timer) {
    #[cfg(feature = "metrics")]
    {
        let outcome = if report.is_some() { "ok" } else { "failed" };
        let dry_run = if report.is_some_and(|r| r.dry_run) {
            "true"
        } else {
            "false"
        };
        metrics::counter!("oci_gc_runs_total", "outcome" => outcome, "dry_run" => dry_run)
            .increment(1);
        metrics::histogram!("oci_gc_duration_seconds").record(started.elapsed().as_secs_f64());
        if let Some(report) = report.filter(|r| !r.dry_run) {
            for (kind, items) in [
                ("blobs", report.blobs_deleted),
                ("links", report.links_deleted),
                ("manifests", report.manifests_deleted),
                ("tags", report.tags_deleted),
                ("uploads", report.uploads_expired),
                ("leftovers", report.leftovers.items),
            ] {
                metrics::counter!("oci_gc_freed_items_total", "kind" => kind).increment(items);
            }
            metrics::counter!("oci_gc_freed_bytes_total")
                .increment(report.bytes_freed + report.leftovers.bytes);
        }
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (report, started);
}
