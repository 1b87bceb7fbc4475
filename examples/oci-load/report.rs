//! Latency statistics, the result table, JSON lines, and the ours/theirs comparison.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::client::{fail, Error};

/// Latency percentiles in milliseconds.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Latency {
    /// Nearest-rank percentiles of per-operation durations in nanoseconds.
    pub fn of(mut nanos: Vec<u64>) -> Self {
        nanos.sort_unstable();
        let at = |p: f64| -> f64 {
            if nanos.is_empty() {
                return 0.0;
            }
            let rank = ((p * nanos.len() as f64).ceil() as usize).clamp(1, nanos.len());
            nanos.get(rank - 1).copied().unwrap_or_default() as f64 / 1e6
        };
        Latency {
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            max: at(1.0),
        }
    }
}

/// The result of one timed run. One JSON object per line with `--json`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Report {
    pub label: String,
    pub workload: String,
    pub url: String,
    pub clients: u64,
    /// Blob size in bytes (pushes and pulls); range size for pull-range.
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk_size: Option<u64>,
    pub verify: String,
    pub ops: u64,
    pub errors: u64,
    /// Connections opened after the first one per client (after errors or server closes).
    pub reconnects: u64,
    pub bytes: u64,
    pub seconds: f64,
    /// Payload megabytes (10^6 bytes) per second of wall time.
    pub mb_per_s: f64,
    pub ops_per_s: f64,
    pub latency_ms: Latency,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

impl Report {
    /// Whether the run is judged by bytes moved rather than requests answered.
    fn by_throughput(&self) -> bool {
        matches!(
            self.workload.as_str(),
            "push" | "push-single" | "push-chunked" | "pull" | "pull-range"
        ) && self.size >= 64 * 1024
    }

    /// Whether the store is hashing every byte, so one core's hash rate bounds it.
    fn hashes_payload(&self) -> bool {
        self.by_throughput() && self.workload.starts_with("push")
    }

    /// The headline figure, or why there is none.
    fn headline(&self) -> String {
        if self.ops == 0 && self.errors > 0 {
            "failed".to_owned()
        } else {
            format!("{:.1}", self.primary().0)
        }
    }

    fn primary(&self) -> (f64, &'static str) {
        if self.by_throughput() {
            (self.mb_per_s, "MB/s")
        } else {
            (self.ops_per_s, "ops/s")
        }
    }
}

/// The in-memory hash rate, `oci-load hash-rate`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HashRate {
    pub workload: String,
    pub bytes: u64,
    pub sha256_mb_per_s: f64,
    pub sha512_mb_per_s: f64,
}

/// Human-readable size: `256MiB`, `1KiB`, `1000B`.
pub fn size_text(n: u64) -> String {
    for (unit, div) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if n >= div && n.is_multiple_of(div) {
            return format!("{}{unit}", n / div);
        }
    }
    format!("{n}B")
}

/// The table printed without `--json`.
pub fn table(reports: &[Report]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<22} {:>7} {:>8} {:>6} {:>8} {:>9} {:>10} {:>9} {:>9} {:>9} {:>9}",
        "workload",
        "clients",
        "ops",
        "errors",
        "seconds",
        "MB/s",
        "ops/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms"
    );
    for r in reports {
        let name = if r.label.is_empty() {
            &r.workload
        } else {
            &r.label
        };
        let l = &r.latency_ms;
        let _ = writeln!(
            out,
            "{:<22} {:>7} {:>8} {:>6} {:>8.2} {:>9.1} {:>10.1} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
            name,
            r.clients,
            r.ops,
            r.errors,
            r.seconds,
            r.mb_per_s,
            r.ops_per_s,
            l.p50,
            l.p90,
            l.p99,
            l.max
        );
        if let Some(e) = &r.first_error {
            let _ = writeln!(out, "  first error: {e}");
        }
        if r.reconnects > 0 {
            let _ = writeln!(out, "  reconnects: {}", r.reconnects);
        }
    }
    out
}

fn read_lines(path: &str) -> Result<(Vec<Report>, Option<HashRate>), Error> {
    let text = std::fs::read_to_string(path).map_err(|e| fail(format!("{path}: {e}")))?;
    let mut reports = Vec::new();
    let mut hash = None;
    for line in text.lines().filter(|l| l.trim_start().starts_with('{')) {
        let value: serde_json::Value = serde_json::from_str(line)?;
        if value.get("workload").and_then(|w| w.as_str()) == Some("hash-rate") {
            hash = Some(serde_json::from_value(value)?);
        } else {
            reports.push(serde_json::from_value(value)?);
        }
    }
    Ok((reports, hash))
}

/// `oci-load table OURS THEIRS`: side by side, matched by label, with ours/theirs ratios.
pub fn compare(ours_path: &str, theirs_path: &str) -> Result<String, Error> {
    let (ours, ours_hash) = read_lines(ours_path)?;
    let (theirs, _) = read_lines(theirs_path)?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<26} {:>6} {:>11} {:>11} {:>7} {:>10} {:>10} {:>7} {:>8}",
        "workload",
        "unit",
        "ours",
        "theirs",
        "ratio",
        "ours p99",
        "their p99",
        "errors",
        "% sha256"
    );
    for o in &ours {
        let t = theirs.iter().find(|t| t.label == o.label);
        let (ov, unit) = o.primary();
        let ratio = match t {
            Some(t) if t.primary().0 > 0.0 && o.ops > 0 => format!("{:.2}x", ov / t.primary().0),
            _ => "-".to_owned(),
        };
        let share = match &ours_hash {
            Some(h) if o.hashes_payload() && h.sha256_mb_per_s > 0.0 && o.ops > 0 => {
                format!("{:.0}%", 100.0 * o.mb_per_s / h.sha256_mb_per_s)
            }
            _ => "-".to_owned(),
        };
        let _ = writeln!(
            out,
            "{:<26} {:>6} {:>11} {:>11} {:>7} {:>10.2} {:>10} {:>7} {:>8}",
            o.label,
            unit,
            o.headline(),
            t.map_or("-".to_owned(), Report::headline),
            ratio,
            o.latency_ms.p99,
            t.map_or("-".to_owned(), |t| format!("{:.2}", t.latency_ms.p99)),
            format!("{}/{}", o.errors, t.map_or(0, |t| t.errors)),
            share
        );
    }
    for t in theirs
        .iter()
        .filter(|t| !ours.iter().any(|o| o.label == t.label))
    {
        let _ = writeln!(
            out,
            "{:<26} {:>6} {:>11} {:>11} {:>7} {:>10} {:>10.2} {:>7} {:>8}",
            t.label,
            t.primary().1,
            "-",
            t.headline(),
            "-",
            "-",
            t.latency_ms.p99,
            t.errors,
            "-"
        );
    }
    let sides = [("ours", &ours), ("theirs", &theirs)];
    for (side, reports) in sides {
        for r in reports.iter().filter(|r| r.errors > 0) {
            let first = r.first_error.as_deref().unwrap_or_default();
            let _ = writeln!(
                out,
                "  {} ({side}): {} errors; first: {first}",
                r.label, r.errors
            );
        }
    }
    if let Some(h) = ours_hash {
        let _ = writeln!(
            out,
            "in-memory hash rate (one core): sha256 {:.0} MB/s, sha512 {:.0} MB/s",
            h.sha256_mb_per_s, h.sha512_mb_per_s
        );
        let _ = writeln!(
            out,
            "% sha256: ours' push MB/s as a share of that sha256 rate"
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let l = Latency::of((1..=100).map(|ms| ms * 1_000_000).collect());
        assert_eq!((l.p50, l.p90, l.p99, l.max), (50.0, 90.0, 99.0, 100.0));
        let one = Latency::of(vec![3_000_000]);
        assert_eq!((one.p50, one.max), (3.0, 3.0));
        assert_eq!(Latency::of(Vec::new()).max, 0.0);
    }

    #[test]
    fn sizes_print_in_binary_units() {
        assert_eq!(size_text(256 << 20), "256MiB");
        assert_eq!(size_text(1024), "1KiB");
        assert_eq!(size_text(1000), "1000B");
    }
}
