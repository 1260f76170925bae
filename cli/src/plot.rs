//! Plots with plotters: V(t) of the recorded cells, a spike raster, and the f–I curve.
//! Text uses DejaVu Sans embedded in the binary, since the machine may have no fonts.

use plotters::prelude::*;
use std::path::Path;

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
    });
}

pub struct PlotData<'a> {
    pub title: &'a str,
    pub dt: f64,
    /// Legend entries for the traces: `cell 3`, or `soma(0.5)` on a morphology.
    pub labels: &'a [String],
    pub traces: &'a [Vec<f64>],
    pub spikes: &'a [(usize, u64)],
    pub n: usize,
    pub tstop: f64,
    /// (stimulus, rate in Hz) per cell, when the stimulus sweeps.
    pub fi: Option<Vec<(f64, f64)>>,
    /// A network's populations: name, first global cell id, count. The raster colours each.
    pub populations: &'a [(String, u64, u64)],
    /// Traced states and currents (`--trace`): per quantity (`StdpSyn.g`), a panel with a line
    /// per place where it was traced.
    pub states: &'a [Quantity],
}

/// One traced quantity and its traces: (place, values at t = 0, dt, …).
pub struct Quantity {
    pub name: String,
    pub traces: Vec<(String, Vec<f64>)>,
}

/// At most this many quantities get panels; the CSV holds them all.
pub const MAX_STATE_PANELS: usize = 4;

pub fn plot(path: &Path, data: &PlotData<'_>) -> Result<(), String> {
    register_font();
    let svg = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("svg"));
    // No V panel when nothing has a membrane (a network of artificial cells alone).
    let v_panel = !data.traces.is_empty() || data.n <= 1;
    let panels = usize::from(v_panel)
        + usize::from(data.n > 1)
        + usize::from(data.fi.is_some())
        + data.states.len().min(MAX_STATE_PANELS);
    let size = (1000, 360 * panels as u32);
    if svg {
        let root = SVGBackend::new(path, size).into_drawing_area();
        draw(&root, data, panels).map_err(|e| e.to_string())
    } else {
        let root = BitMapBackend::new(path, size).into_drawing_area();
        draw(&root, data, panels).map_err(|e| e.to_string())
    }
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// Trace colours that stay apart on white (the "tab10" set), repeating after ten.
fn trace_color(r: usize) -> RGBAColor {
    const TAB10: [(u8, u8, u8); 10] = [
        (31, 119, 180),
        (214, 39, 40),
        (44, 160, 44),
        (255, 127, 14),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
        (188, 189, 34),
        (23, 190, 207),
    ];
    let (red, green, blue) = TAB10[r % TAB10.len()];
    RGBColor(red, green, blue).to_rgba()
}

/// A tick label without trailing zeros: `50`, not `50.0`; `0.25`, not `0.250`.
fn tidy(v: &f64) -> String {
    if (v - v.round()).abs() < 1e-9 * v.abs().max(1.0) {
        format!("{}", v.round())
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// A tick label in powers of ten: three significant digits without trailing zeros (`8e-3`,
/// `1.5e-3`, `0`).
fn tidy_scientific(v: &f64) -> String {
    if *v == 0.0 {
        return "0".into();
    }
    let s = format!("{v:.2e}");
    let (mantissa, exponent) = s.split_once('e').unwrap_or((&s, "0"));
    let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
    format!("{mantissa}e{exponent}")
}

/// The points of a trace to draw: at most about 2·`buckets` of them, keeping each bucket's
/// minimum and maximum in time order, so spike tips and troughs survive the thinning.
fn thinned(trace: &[f64], dt: f64, buckets: usize) -> Vec<(f64, f64)> {
    let size = trace.len().div_ceil(buckets.max(1)).max(1);
    if size <= 2 {
        return trace
            .iter()
            .enumerate()
            .map(|(k, &v)| (k as f64 * dt, v))
            .collect();
    }
    let mut out = Vec::with_capacity(2 * buckets + 2);
    for (b, chunk) in trace.chunks(size).enumerate() {
        let first = b * size;
        let (mut lo, mut hi) = (0, 0);
        for (k, &v) in chunk.iter().enumerate() {
            if v < chunk[lo] {
                lo = k;
            }
            if v > chunk[hi] {
                hi = k;
            }
        }
        let (a, c) = if lo <= hi { (lo, hi) } else { (hi, lo) };
        out.push(((first + a) as f64 * dt, chunk[a]));
        if c != a {
            out.push(((first + c) as f64 * dt, chunk[c]));
        }
    }
    out
}

/// The width of a legend column wide enough for `labels` (14 px sans-serif, about 7.5 px a
/// character after the 30 px of the line), between 150 and 360 px.
fn legend_width(labels: &[String]) -> i32 {
    let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    (38 + (longest as f64 * 7.5).ceil() as i32).clamp(150, 360)
}

/// The legend of a V panel, beside the plot instead of over the data: one coloured line and
/// label per trace, the first `MAX` of them.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    labels: &[String],
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    const MAX: usize = 14;
    let style = ("sans-serif", 14).into_font();
    for (r, label) in labels.iter().take(MAX).enumerate() {
        let y = 50 + 20 * r as i32;
        let color = trace_color(r);
        area.draw(&PathElement::new(
            vec![(4, y), (24, y)],
            color.stroke_width(3),
        ))?;
        area.draw(&Text::new(label.clone(), (30, y - 8), style.clone()))?;
    }
    if labels.len() > MAX {
        let y = 50 + 20 * MAX as i32;
        area.draw(&Text::new(
            format!("+{} more", labels.len() - MAX),
            (4, y - 8),
            style,
        ))?;
    }
    Ok(())
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    data: &PlotData<'_>,
    panels: usize,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let areas = root.split_evenly((panels, 1));
    // One legend column for every panel, so that their time axes line up.
    let all_labels: Vec<String> = (data.labels.iter().cloned())
        .chain(
            data.states
                .iter()
                .flat_map(|q| q.traces.iter().map(|t| t.0.clone())),
        )
        .collect();
    let column = legend_width(&all_labels);
    let mut i = 0;
    // V(t), with the legend in a column of its own on the right.
    if !data.traces.is_empty() || data.n <= 1 {
        let labels = data.labels;
        let (width, _) = areas[i].dim_in_pixel();
        let (area, legend) = areas[i].split_horizontally(width as i32 - column);
        let area = &area;
        draw_legend(&legend, labels)?;
        i += 1;
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for t in data.traces {
            for &v in t {
                if v.is_finite() {
                    lo = lo.min(v);
                    hi = hi.max(v);
                }
            }
        }
        if !lo.is_finite() {
            (lo, hi) = (-80.0, 40.0);
        }
        let pad = 0.05 * (hi - lo).max(1.0);
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!("{}: membrane potential", data.title),
                ("sans-serif", 22),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..data.tstop, (lo - pad)..(hi + pad))?;
        chart
            .configure_mesh()
            .x_desc("t (ms)")
            .y_desc("V (mV)")
            .x_label_formatter(&tidy)
            .y_label_formatter(&tidy)
            .draw()?;
        for (r, t) in data.traces.iter().enumerate() {
            let color = trace_color(r);
            // One line through each bucket's extremes: plotters leaves gaps in thick lines
            // that are nearly vertical, as every spike's upstroke is at this width.
            let points = thinned(t, data.dt, 2000);
            chart.draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(1),
            ))?;
            chart.draw_series(LineSeries::new(
                points
                    .iter()
                    .map(|&(t, v)| (t + 0.3 * data.tstop / 1000.0, v)),
                color.stroke_width(1),
            ))?;
        }
    }
    // Each traced quantity in a panel of its own: their units differ from V's and each other's.
    for q in data.states.iter().take(MAX_STATE_PANELS) {
        let (width, _) = areas[i].dim_in_pixel();
        let labels: Vec<String> = q.traces.iter().map(|t| t.0.clone()).collect();
        let (area, legend) = areas[i].split_horizontally(width as i32 - column);
        draw_legend(&legend, &labels)?;
        i += 1;
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for (_, t) in &q.traces {
            for &v in t.iter().filter(|v| v.is_finite()) {
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
        if !lo.is_finite() {
            (lo, hi) = (0.0, 1.0);
        }
        let pad = 0.05 * (hi - lo).max(hi.abs().max(lo.abs()) * 1e-6).max(1e-300);
        let mut chart = ChartBuilder::on(&area)
            .caption(&q.name, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(80)
            .build_cartesian_2d(0.0..data.tstop, (lo - pad)..(hi + pad))?;
        chart
            .configure_mesh()
            .x_desc("t (ms)")
            .y_desc(q.name.as_str())
            .x_label_formatter(&tidy)
            .y_label_formatter(&|v: &f64| {
                // One style per axis: decimals where they fit, else powers of ten.
                let size = hi.abs().max(lo.abs());
                if (0.1..1e3).contains(&size) {
                    tidy(v)
                } else {
                    tidy_scientific(v)
                }
            })
            .draw()?;
        for (r, (_, t)) in q.traces.iter().enumerate() {
            let points = thinned(t, data.dt, 2000);
            chart.draw_series(LineSeries::new(
                points.iter().copied(),
                trace_color(r).stroke_width(1),
            ))?;
        }
    }
    if data.n > 1 {
        let (width, _) = areas[i].dim_in_pixel();
        let (area, legend_area) = areas[i].split_horizontally(width as i32 - column);
        let area = &area;
        i += 1;
        let mut chart = ChartBuilder::on(area)
            .caption("spike raster", ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..data.tstop, -0.5..data.n as f64 - 0.5)?;
        // Cell indices are whole numbers: ticks at whole cells only.
        let cell_label = |v: &f64| {
            if (v - v.round()).abs() < 1e-6 && *v >= 0.0 {
                format!("{}", v.round())
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .x_desc("t (ms)")
            .y_desc("cell")
            .x_label_formatter(&tidy)
            .y_label_formatter(&cell_label)
            .y_labels(data.n.min(10) + 1)
            .draw()?;
        let stride = (data.spikes.len() / 200_000).max(1);
        // Marks as large as the rows allow: a few cells get dots that show, thousands a pixel.
        let radius = match data.n {
            0..=50 => 3,
            51..=200 => 2,
            _ => 1,
        };
        if data.populations.is_empty() {
            chart.draw_series(data.spikes.iter().step_by(stride).map(|&(c, s)| {
                Circle::new(((s + 1) as f64 * data.dt, c as f64), radius, BLACK.filled())
            }))?;
        } else {
            // One colour per population, named in the legend beside the raster.
            for (k, (name, first, count)) in data.populations.iter().enumerate() {
                let color = Palette99::pick(k).to_rgba();
                let cells = *first as usize..(*first + *count) as usize;
                chart.draw_series(
                    data.spikes
                        .iter()
                        .step_by(stride)
                        .filter(|(c, _)| cells.contains(c))
                        .map(move |&(c, s)| {
                            Circle::new(
                                ((s + 1) as f64 * data.dt, c as f64),
                                radius,
                                color.filled(),
                            )
                        }),
                )?;
                // The population's name and ids beside the raster, in its colour.
                let y = 60 + 22 * k as i32;
                legend_area.draw(&Rectangle::new([(4, y - 5), (18, y + 5)], color.filled()))?;
                legend_area.draw(&Text::new(
                    format!("{name} {first}–{}", first + count - 1),
                    (24, y - 8),
                    ("sans-serif", 14),
                ))?;
            }
        }
    }
    if let Some(fi) = &data.fi {
        let (width, _) = areas[i].dim_in_pixel();
        let (area, _) = areas[i].split_horizontally(width as i32 - 150);
        let area = &area;
        let x_hi = fi
            .iter()
            .map(|p| p.0)
            .fold(f64::NEG_INFINITY, f64::max)
            .max(1e-9);
        let x_lo = fi
            .iter()
            .map(|p| p.0)
            .fold(f64::INFINITY, f64::min)
            .min(x_hi - 1e-9);
        let y_hi = fi.iter().map(|p| p.1).fold(0.0, f64::max).max(1.0) * 1.1;
        let mut chart = ChartBuilder::on(area)
            .caption("f–I curve", ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(x_lo..x_hi, 0.0..y_hi)?;
        chart
            .configure_mesh()
            .x_desc("stimulus (µA/cm²)")
            .y_desc("rate (Hz)")
            .x_label_formatter(&tidy)
            .y_label_formatter(&tidy)
            .draw()?;
        chart.draw_series(LineSeries::new(fi.iter().copied(), BLUE.stroke_width(2)))?;
        chart.draw_series(fi.iter().map(|&p| Circle::new(p, 2, BLUE.filled())))?;
    }
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thinning_keeps_every_spike_tip_and_trough() {
        // 100 spikes of one sample each in 100,000 samples: far more than the buckets.
        let trace: Vec<f64> = (0..100_000)
            .map(|k| {
                if k % 1000 == 517 {
                    40.0
                } else {
                    -65.0 + (k % 7) as f64 * 0.1
                }
            })
            .collect();
        let points = thinned(&trace, 0.01, 2000);
        assert!(points.len() <= 4002);
        assert_eq!(points.iter().filter(|p| p.1 == 40.0).count(), 100);
        assert!(points.iter().any(|p| p.1 == -65.0));
        assert!(points.windows(2).all(|w| w[0].0 < w[1].0), "in time order");
        // Short traces are drawn whole.
        assert_eq!(thinned(&trace[..1000], 0.01, 2000).len(), 1000);
    }

    #[test]
    fn small_and_large_tick_labels_are_scientific_and_short() {
        assert_eq!(tidy_scientific(&0.008), "8e-3");
        assert_eq!(tidy_scientific(&0.0015), "1.5e-3");
        assert_eq!(tidy_scientific(&0.0), "0");
        assert_eq!(tidy_scientific(&2.5), "2.5e0");
        assert_eq!(tidy_scientific(&125000.0), "1.25e5");
    }

    #[test]
    fn tick_labels_have_no_trailing_zeros() {
        assert_eq!(tidy(&50.0), "50");
        assert_eq!(tidy(&-20.0), "-20");
        assert_eq!(tidy(&0.25), "0.25");
        assert_eq!(tidy(&2.5), "2.5");
    }
}
