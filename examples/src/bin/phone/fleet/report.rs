//! The fleet's report: `fleet-report.json` (each phone's stage times and failure causes, the
//! percentiles of each stage, CPU and memory) and `fleet.html`, one self-contained page with
//! two SVG pictures: phones per stage over time, and the latency distribution of each stage.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context as _, Result};
use phone_sansio::Instant;
use serde_json::{Value, json};

use super::{Counters, STAGES, Where};

/// One phone, as the report sees it.
#[derive(Debug)]
pub struct PhoneView<'a> {
    /// Its index k.
    pub index: usize,
    /// Its MAC.
    pub mac: [u8; 6],
    /// Its serial number.
    pub serial: String,
    /// Its SIP user.
    pub user: String,
    /// Its leased (or given) address.
    pub address: Option<std::net::Ipv4Addr>,
    /// The controller it registered with (HOST:PORT).
    pub controller: Option<&'a str>,
    /// When it reached each of [`STAGES`].
    pub times: [Option<Instant>; 5],
    /// It reached `--until`.
    pub done: bool,
    /// Why it did not.
    pub failure: Option<&'a str>,
    /// The warnings kept.
    pub warnings: &'a [String],
    /// Every warning, counted.
    pub warnings_total: u32,
    /// Power-ons after the first.
    pub restarts: u8,
}

/// The fleet, as the report sees it.
#[derive(Debug)]
pub struct View<'a> {
    /// `boot` or `register`.
    pub mode: &'static str,
    /// The stage every phone had to reach.
    pub until: &'static str,
    /// Its index in [`STAGES`].
    pub until_index: usize,
    /// Phones.
    pub count: u32,
    /// Start rate (0: all at once).
    pub rate: f64,
    /// When the run began.
    pub t0: Instant,
    /// Every phone.
    pub phones: Vec<PhoneView<'a>>,
    /// Phones per place, sampled.
    pub timeline: &'a [(Instant, [u32; 7])],
    /// Packet counters.
    pub counters: Counters,
}

/// A phone that reached `--until` within this long of its start did it without a
/// retransmission (for [`write`]'s window rate).
const FIRST_TRY: std::time::Duration = std::time::Duration::from_secs(1);

fn secs(t0: Instant, t: Instant) -> f64 {
    t.saturating_duration_since(t0).as_secs_f64()
}

/// The `q` quantile (0..=1) of sorted values (nearest rank).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Seconds from each phone's start to `stage`, sorted.
fn latencies(v: &View<'_>, stage: usize) -> Vec<f64> {
    let mut l: Vec<f64> = v
        .phones
        .iter()
        .filter_map(|p| Some(secs(p.times[0]?, p.times[stage]?)))
        .collect();
    l.sort_by(f64::total_cmp);
    l
}

fn round3(x: f64) -> Value {
    if x.is_finite() {
        json!((x * 1000.0).round() / 1000.0)
    } else {
        Value::Null
    }
}

fn mac_text(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Writes the report into `dir` (when given) and returns the one-line summary.
///
/// # Errors
/// The directory or a file cannot be written.
pub fn write(
    v: &View<'_>,
    now: Instant,
    usage: (u64, u64, f64),
    dir: Option<&Path>,
) -> Result<String> {
    let (peak_kb, rss_kb, cpu) = usage;
    let wall = secs(v.t0, now);
    let reached = v.phones.iter().filter(|p| p.done).count();
    let failed = v.phones.len() - reached;
    let last = v
        .phones
        .iter()
        .filter_map(|p| p.times[v.until_index])
        .max()
        .map_or(0.0, |t| secs(v.t0, t));
    #[allow(clippy::cast_precision_loss)]
    let rate = if last > 0.0 {
        reached as f64 / last
    } else {
        0.0
    };
    // Like perfdhcp's rate: exchanges that succeeded without a retransmission (within
    // FIRST_TRY of the phone's start), per second of the window the load was offered in.
    let first_try = v
        .phones
        .iter()
        .filter(|p| match (p.times[0], p.times[v.until_index]) {
            (Some(s), Some(u)) => u.saturating_duration_since(s) <= FIRST_TRY,
            _ => false,
        })
        .count();
    let starts = v.phones.iter().filter_map(|p| p.times[0]);
    let window = match (starts.clone().min(), starts.max()) {
        (Some(a), Some(b)) if v.rate > 0.0 => {
            b.saturating_duration_since(a).as_secs_f64() + 1.0 / v.rate
        }
        _ => last,
    };
    #[allow(clippy::cast_precision_loss)]
    let window_rate = if window > 0.0 {
        first_try as f64 / window
    } else {
        0.0
    };
    let mut stages = serde_json::Map::new();
    for (s, name) in STAGES.iter().enumerate().skip(1) {
        let l = latencies(v, s);
        stages.insert(
            (*name).to_string(),
            json!({
                "reached": l.len(),
                "p50_s": round3(quantile(&l, 0.5)),
                "p90_s": round3(quantile(&l, 0.9)),
                "p99_s": round3(quantile(&l, 0.99)),
                "max_s": round3(l.last().copied().unwrap_or(f64::NAN)),
            }),
        );
    }
    let until_l = latencies(v, v.until_index);
    let (p50, p99) = (quantile(&until_l, 0.5), quantile(&until_l, 0.99));
    let mut causes: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for p in v.phones.iter().filter(|p| !p.done) {
        *causes
            .entry(p.failure.unwrap_or("unknown").chars().take(120).collect())
            .or_default() += 1;
    }
    #[allow(clippy::cast_precision_loss)]
    let per_phone_kb = peak_kb as f64 / f64::from(v.count.max(1));
    let summary = format!(
        "RESULT mode={} until={} count={} reached={reached} failed={failed} wall={wall:.2}s \
         rate={rate:.1}/s window_rate={window_rate:.1}/s first_try={first_try} p50={p50:.3}s p99={p99:.3}s cpu={cpu:.2}s peak_rss={:.1}MiB \
         rss_per_phone={per_phone_kb:.1}KiB",
        v.mode,
        v.until,
        v.count,
        peak_kb as f64 / 1024.0,
    );
    let Some(dir) = dir else {
        return Ok(summary);
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let phones: Vec<Value> = v
        .phones
        .iter()
        .map(|p| {
            let mut times = serde_json::Map::new();
            for (s, name) in STAGES.iter().enumerate() {
                if let Some(t) = p.times[s] {
                    times.insert(format!("{name}_s"), round3(secs(v.t0, t)));
                }
            }
            json!({
                "index": p.index,
                "mac": mac_text(p.mac),
                "serial": p.serial,
                "user": p.user,
                "address": p.address.map(|a| a.to_string()),
                "controller": p.controller,
                "times": times,
                "reached": p.done,
                "failure": p.failure,
                "warnings": p.warnings,
                "warnings_total": p.warnings_total,
                "restarts": p.restarts,
            })
        })
        .collect();
    let timeline: Vec<Value> = v
        .timeline
        .iter()
        .map(|(t, c)| {
            let mut m = serde_json::Map::new();
            m.insert("t_s".into(), round3(secs(v.t0, *t)));
            for (w, n) in Where::ALL.iter().zip(c) {
                m.insert(w.name().into(), json!(n));
            }
            Value::Object(m)
        })
        .collect();
    let mut controllers: std::collections::BTreeMap<&str, usize> =
        std::collections::BTreeMap::new();
    for p in &v.phones {
        if let Some(c) = p.controller {
            *controllers.entry(c).or_default() += 1;
        }
    }
    let c = v.counters;
    let report = json!({
        "registered_per_controller": controllers,
        "mode": v.mode,
        "until": v.until,
        "count": v.count,
        "start_rate_per_s": v.rate,
        "reached": reached,
        "failed": failed,
        "wall_s": round3(wall),
        "rate_to_until_per_s": round3(rate),
        "first_try": first_try,
        "window_rate_per_s": round3(window_rate),
        "stages": stages,
        "failure_causes": causes,
        "cpu_s": round3(cpu),
        "peak_rss_kib": peak_kb,
        "rss_at_end_kib": rss_kb,
        "peak_rss_per_phone_kib": round3(per_phone_kb),
        "counters": {
            "dhcp_out": c.dhcp_out, "dhcp_in": c.dhcp_in, "dhcp_foreign": c.dhcp_foreign,
            "arp_out": c.arp_out, "connects": c.connects, "sip_out": c.sip_out,
            "sip_in": c.sip_in, "send_errors": c.send_errors,
        },
        "timeline": timeline,
        "phones": phones,
    });
    let json_path = dir.join("fleet-report.json");
    std::fs::write(&json_path, serde_json::to_vec_pretty(&report)?)
        .with_context(|| format!("writing {}", json_path.display()))?;
    let html_path = dir.join("fleet.html");
    std::fs::write(&html_path, html(v, &summary))
        .with_context(|| format!("writing {}", html_path.display()))?;
    Ok(format!("{summary} report={}", dir.display()))
}

const COLOURS: [&str; 7] = [
    "#bbbbbb", "#1f77b4", "#ff7f0e", "#9467bd", "#17becf", "#2ca02c", "#d62728",
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Phones per place over time (one polyline per place).
fn timeline_svg(v: &View<'_>) -> String {
    let (w, h, left, bottom) = (900.0, 320.0, 60.0, 30.0);
    let tmax = v
        .timeline
        .last()
        .map_or(1.0, |(t, _)| secs(v.t0, *t))
        .max(0.001);
    let ymax = f64::from(v.count.max(1));
    let x = |t: f64| left + (w - left - 10.0) * t / tmax;
    let y = |n: f64| (h - bottom) - (h - bottom - 10.0) * n / ymax;
    let mut s = format!(
        "<svg xmlns='http://www.w3.org/2000/svg' width='{w}' height='{}' font-family='sans-serif' font-size='11'>",
        h + 20.0
    );
    let _ = write!(
        s,
        "<line x1='{left}' y1='{}' x2='{}' y2='{}' stroke='#000'/><line x1='{left}' y1='10' x2='{left}' y2='{}' stroke='#000'/>",
        h - bottom,
        w - 10.0,
        h - bottom,
        h - bottom
    );
    for i in 0..=4 {
        let t = tmax * f64::from(i) / 4.0;
        let n = ymax * f64::from(i) / 4.0;
        let _ = write!(
            s,
            "<text x='{:.1}' y='{}' text-anchor='middle'>{t:.1}s</text><text x='{}' y='{:.1}' text-anchor='end'>{n:.0}</text>",
            x(t),
            h - bottom + 14.0,
            left - 4.0,
            y(n) + 4.0
        );
    }
    for (i, (wh, colour)) in Where::ALL.iter().zip(COLOURS).enumerate() {
        let pts: Vec<String> = v
            .timeline
            .iter()
            .map(|(t, c)| format!("{:.1},{:.1}", x(secs(v.t0, *t)), y(f64::from(c[i]))))
            .collect();
        let _ = write!(
            s,
            "<polyline fill='none' stroke='{colour}' stroke-width='2' points='{}'/>",
            pts.join(" ")
        );
        #[allow(clippy::cast_precision_loss)]
        let lx = left + 10.0 + 110.0 * i as f64;
        let _ = write!(
            s,
            "<rect x='{lx}' y='{}' width='10' height='10' fill='{colour}'/><text x='{}' y='{}'>{}</text>",
            h + 4.0,
            lx + 14.0,
            h + 13.0,
            wh.name()
        );
    }
    s.push_str("</svg>");
    s
}

/// A histogram of the time from start to `stage`.
fn histogram_svg(v: &View<'_>, stage: usize) -> String {
    let l = latencies(v, stage);
    let (w, h, left, bottom) = (440.0, 200.0, 40.0, 30.0);
    let mut s = format!(
        "<svg xmlns='http://www.w3.org/2000/svg' width='{w}' height='{h}' font-family='sans-serif' font-size='11'>"
    );
    let _ = write!(
        s,
        "<text x='{left}' y='12'>{} (n={}, p50 {:.3}s, p99 {:.3}s)</text>",
        STAGES[stage],
        l.len(),
        quantile(&l, 0.5),
        quantile(&l, 0.99)
    );
    if l.is_empty() {
        s.push_str("</svg>");
        return s;
    }
    let bins = 30usize;
    let lo = l[0];
    let hi = l[l.len() - 1].max(lo + 0.001);
    let mut counts = vec![0u32; bins];
    for x in &l {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let b = (((x - lo) / (hi - lo)) * bins as f64) as usize;
        counts[b.min(bins - 1)] += 1;
    }
    let cmax = f64::from(counts.iter().copied().max().unwrap_or(1).max(1));
    #[allow(clippy::cast_precision_loss)]
    let bw = (w - left - 10.0) / bins as f64;
    for (i, c) in counts.iter().enumerate() {
        let bh = (h - bottom - 20.0) * f64::from(*c) / cmax;
        #[allow(clippy::cast_precision_loss)]
        let _ = write!(
            s,
            "<rect x='{:.1}' y='{:.1}' width='{:.1}' height='{bh:.1}' fill='{}'><title>{c}</title></rect>",
            left + bw * i as f64,
            h - bottom - bh,
            (bw - 1.0).max(0.5),
            COLOURS[stage.min(6)]
        );
    }
    let _ = write!(
        s,
        "<line x1='{left}' y1='{}' x2='{}' y2='{}' stroke='#000'/><text x='{left}' y='{}'>{lo:.2}s</text><text x='{}' y='{}' text-anchor='end'>{hi:.2}s</text><text x='{}' y='26' text-anchor='end'>max bin {cmax}</text>",
        h - bottom,
        w - 10.0,
        h - bottom,
        h - bottom + 14.0,
        w - 10.0,
        h - bottom + 14.0,
        w - 10.0
    );
    s.push_str("</svg>");
    s
}

fn html(v: &View<'_>, summary: &str) -> String {
    let mut s = String::from(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>phone fleet</title></head><body style='font-family:sans-serif'>",
    );
    let _ = write!(
        s,
        "<h2>phone fleet: {} phones, until {}</h2><p><code>{}</code></p><h3>Phones per stage over time</h3>{}<h3>Time from power-on to each stage</h3><div>",
        v.count,
        v.until,
        esc(summary),
        timeline_svg(v)
    );
    for stage in 1..=v.until_index {
        s.push_str(&histogram_svg(v, stage));
    }
    s.push_str("</div></body></html>\n");
    s
}
