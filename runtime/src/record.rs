//! Writing results: the V trace CSV and the spike list.

use std::io::{BufWriter, Write};
use std::path::Path;

/// `t_ms,V_mV` for the first recorded cell, then one column per further recorded cell.
pub fn write_trace_csv(
    path: &Path,
    dt: f64,
    cells: &[usize],
    traces: &[Vec<f64>],
) -> std::io::Result<()> {
    let labels: Vec<String> = cells.iter().skip(1).map(|c| format!("cell{c}")).collect();
    write_traces_csv(path, dt, &labels, traces)
}

/// `t_ms,V_mV`, then `V_mV_<label>` for each further trace (recorded cells, or probes on a
/// morphology). Rows are t = 0, dt, 2·dt, …
pub fn write_traces_csv(
    path: &Path,
    dt: f64,
    labels: &[String],
    traces: &[Vec<f64>],
) -> std::io::Result<()> {
    let headers: Vec<String> = std::iter::once("V_mV".to_string())
        .chain(labels.iter().map(|l| format!("V_mV_{l}")))
        .collect();
    write_columns_csv(path, dt, &headers, traces)
}

/// `t_ms`, then one column per trace under its header. Rows are t = 0, dt, 2·dt, …
pub fn write_columns_csv(
    path: &Path,
    dt: f64,
    headers: &[String],
    traces: &[Vec<f64>],
) -> std::io::Result<()> {
    let mut w = BufWriter::new(std::fs::File::create(path)?);
    write!(w, "t_ms")?;
    for h in headers {
        write!(w, ",{h}")?;
    }
    writeln!(w)?;
    let rows = traces.first().map_or(0, Vec::len);
    for k in 0..rows {
        write!(w, "{}", fmt_time(k as f64 * dt))?;
        for t in traces {
            write!(w, ",{}", t[k])?;
        }
        writeln!(w)?;
    }
    w.flush()
}

/// `cell,t_ms` with the time at the end of the crossing step.
pub fn write_spikes_csv(path: &Path, dt: f64, spikes: &[(usize, u64)]) -> std::io::Result<()> {
    let mut w = BufWriter::new(std::fs::File::create(path)?);
    writeln!(w, "cell,t_ms")?;
    for &(c, s) in spikes {
        writeln!(w, "{c},{}", fmt_time((s + 1) as f64 * dt))?;
    }
    w.flush()
}

/// Times rounded to 1e-9 ms, so k·dt prints as 3.88 rather than 3.8800000000000003.
/// Writes `cell,t_ms` for spikes given with their times (a network's, global cell ids).
pub fn write_spike_times_csv(path: &Path, spikes: &[(u64, f64)]) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(out, "cell,t_ms")?;
    for &(cell, t) in spikes {
        writeln!(out, "{cell},{}", fmt_time(t))?;
    }
    out.flush()
}

pub fn fmt_time(t: f64) -> String {
    let r = (t * 1e9).round() / 1e9;
    format!("{r}")
}
