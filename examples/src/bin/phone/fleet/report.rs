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
/// retransmission (for [`write()`]'s window rate).
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
        "summary": summary,
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
    // The page is drawn from the JSON just written, the same way `phone timeline` draws it
    // from the file later: one renderer, so both give the same page.
    std::fs::write(&html_path, html(&Drawn::from_json(&report)?))
        .with_context(|| format!("writing {}", html_path.display()))?;
    Ok(format!("{summary} report={}", dir.display()))
}

/// The most phones and timeline rows a report may hold when read back (a 10,000-phone run
/// writes 10,000 phones and a few thousand rows): a damaged or hostile file costs bounded work.
const MAX_ENTRIES: usize = 1_000_000;

/// What the pictures are drawn from: the report's JSON, read back. `fleet` draws `fleet.html`
/// from the JSON it has just written and `phone timeline REPORT.json` from the file, so both
/// give the same page.
#[derive(Debug)]
pub struct Drawn {
    summary: String,
    count: u32,
    until: String,
    until_index: usize,
    /// Seconds since the run began, and phones per place ([`Where::ALL`]).
    timeline: Vec<(f64, [u32; 7])>,
    /// Per stage of [`STAGES`]: seconds from each phone's start to it, sorted.
    latencies: Vec<Vec<f64>>,
}

fn field<'v>(v: &'v Value, name: &str) -> Result<&'v Value> {
    v.get(name)
        .with_context(|| format!("not a fleet report: no \"{name}\""))
}

fn number(v: &Value, name: &str) -> Result<f64> {
    field(v, name)?
        .as_f64()
        .filter(|x| x.is_finite())
        .with_context(|| format!("\"{name}\" is not a finite number"))
}

fn count(v: &Value, name: &str) -> Result<u32> {
    field(v, name)?
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .with_context(|| format!("\"{name}\" is not a count"))
}

fn list<'v>(v: &'v Value, name: &str) -> Result<&'v Vec<Value>> {
    let l = field(v, name)?
        .as_array()
        .with_context(|| format!("\"{name}\" is not a list"))?;
    anyhow::ensure!(
        l.len() <= MAX_ENTRIES,
        "\"{name}\" holds {} entries (at most {MAX_ENTRIES})",
        l.len()
    );
    Ok(l)
}

impl Drawn {
    /// Reads what the pictures need from a report's JSON (`fleet-report.json`).
    ///
    /// # Errors
    /// A field is missing, of the wrong type, or out of bounds.
    pub fn from_json(report: &Value) -> Result<Self> {
        let until = field(report, "until")?
            .as_str()
            .context("\"until\" is not a stage name")?
            .to_owned();
        let until_index = STAGES
            .iter()
            .position(|s| *s == until)
            .with_context(|| format!("\"until\" names no stage: {until:?}"))?;
        let mut timeline = Vec::new();
        for row in list(report, "timeline")? {
            let mut c = [0u32; 7];
            for (n, w) in c.iter_mut().zip(Where::ALL) {
                *n = count(row, w.name())?;
            }
            timeline.push((number(row, "t_s")?, c));
        }
        let mut latencies = vec![Vec::new(); STAGES.len()];
        for phone in list(report, "phones")? {
            let times = field(phone, "times")?;
            let at = |s: &str| times.get(format!("{s}_s")).and_then(Value::as_f64);
            let Some(start) = at(STAGES[0]) else { continue };
            for (l, s) in latencies.iter_mut().zip(STAGES).skip(1) {
                if let Some(d) = at(s)
                    .map(|t| t - start)
                    .filter(|d| d.is_finite() && *d >= 0.0)
                {
                    l.push(d);
                }
            }
        }
        for l in &mut latencies {
            l.sort_by(f64::total_cmp);
        }
        Ok(Self {
            // Reports written before the summary line was kept in them draw without it.
            summary: match report.get("summary") {
                None => String::new(),
                Some(v) => v.as_str().context("\"summary\" is not text")?.to_owned(),
            },
            count: count(report, "count")?,
            until,
            until_index,
            timeline,
            latencies,
        })
    }
}

const COLOURS: [&str; 7] = [
    "#bbbbbb", "#1f77b4", "#ff7f0e", "#9467bd", "#17becf", "#2ca02c", "#d62728",
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&#39;")
}

/// Phones per place over time (one polyline per place).
fn timeline_svg(d: &Drawn) -> String {
    let (w, h, left, bottom) = (900.0, 320.0, 60.0, 30.0);
    let tmax = d.timeline.last().map_or(1.0, |(t, _)| *t).max(0.001);
    let ymax = f64::from(d.count.max(1));
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
        let pts: Vec<String> = d
            .timeline
            .iter()
            .map(|(t, c)| format!("{:.1},{:.1}", x(*t), y(f64::from(c[i]))))
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
fn histogram_svg(d: &Drawn, stage: usize) -> String {
    let l = &d.latencies[stage];
    let (w, h, left, bottom) = (440.0, 200.0, 40.0, 30.0);
    let mut s = format!(
        "<svg xmlns='http://www.w3.org/2000/svg' width='{w}' height='{h}' font-family='sans-serif' font-size='11'>"
    );
    // A stage no phone went through (e.g. files in `--mode register`) has no percentiles.
    let q = |x: f64| {
        if x.is_finite() {
            format!("{x:.3}s")
        } else {
            "-".to_string()
        }
    };
    let _ = write!(
        s,
        "<text x='{left}' y='12'>{} (n={}, p50 {}, p99 {})</text>",
        STAGES[stage],
        l.len(),
        q(quantile(l, 0.5)),
        q(quantile(l, 0.99))
    );
    let (Some(&lo), Some(&last)) = (l.first(), l.last()) else {
        s.push_str("</svg>");
        return s;
    };
    let bins = 30usize;
    let hi = last.max(lo + 0.001);
    let mut counts = vec![0u32; bins];
    for x in l {
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

/// The page: one self-contained HTML file with the two pictures.
#[must_use]
pub fn html(d: &Drawn) -> String {
    let mut s = String::from(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>phone fleet</title></head><body style='font-family:sans-serif'>",
    );
    let _ = write!(
        s,
        "<h2>phone fleet: {} phones, until {}</h2><p><code>{}</code></p><h3>Phones per stage over time</h3>{}<h3>Time from power-on to each stage</h3><div>",
        d.count,
        esc(&d.until),
        esc(&d.summary),
        timeline_svg(d)
    );
    for stage in 1..=d.until_index {
        s.push_str(&histogram_svg(d, stage));
    }
    s.push_str("</div></body></html>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Value {
        json!({
            "summary": "RESULT <mode>",
            "until": "registered",
            "count": 2,
            "timeline": [
                {"t_s": 0.0, "waiting": 2, "dhcp": 0, "files": 0, "scep": 0, "sip": 0, "done": 0, "failed": 0},
                {"t_s": 1.5, "waiting": 0, "dhcp": 0, "files": 0, "scep": 0, "sip": 0, "done": 2, "failed": 0},
            ],
            "phones": [
                {"times": {"start_s": 0.0, "network_s": 0.2, "files_s": 0.5, "certificate_s": 0.9, "registered_s": 1.2}},
                {"times": {"start_s": 0.1, "network_s": 0.4, "files_s": 0.6, "certificate_s": 1.0, "registered_s": 1.4}},
            ],
        })
    }

    #[test]
    fn a_report_reads_back_into_every_stage_and_the_page_escapes_its_text() {
        let r = report();
        let names: Vec<&str> = Where::ALL.iter().map(|w| w.name()).collect();
        assert_eq!(
            names,
            ["waiting", "dhcp", "files", "scep", "sip", "done", "failed"]
        );
        let d = Drawn::from_json(&r).expect("a well-formed report");
        assert_eq!(d.until_index, 4);
        assert_eq!(d.timeline.len(), 2);
        assert_eq!(d.latencies[4].len(), 2);
        assert!(
            (d.latencies[4][1] - 1.3).abs() < 1e-9,
            "{:?}",
            d.latencies[4]
        );
        let page = html(&d);
        for stage in &STAGES[1..] {
            assert!(
                page.contains(&format!(">{stage} (n=2,")),
                "histogram of {stage} missing"
            );
        }
        assert!(page.contains("RESULT &lt;mode&gt;"));
        assert!(!page.contains("<mode>"));
    }

    #[test]
    fn a_damaged_report_is_an_error_not_a_picture() {
        let mut r = report();
        r["until"] = json!("nowhere");
        assert!(Drawn::from_json(&r).is_err());
        let mut r = report();
        r["timeline"][0]["t_s"] = json!("soon");
        assert!(Drawn::from_json(&r).is_err());
        assert!(Drawn::from_json(&json!([1, 2])).is_err());
        let mut r = report();
        r["summary"] = json!(3);
        assert!(Drawn::from_json(&r).is_err());
        // An older report without its summary line still draws.
        let mut r = report();
        r.as_object_mut().map(|o| o.remove("summary"));
        assert!(Drawn::from_json(&r).is_ok());
        let mut r = report();
        r["count"] = json!(-1);
        assert!(Drawn::from_json(&r).is_err());
    }
}
