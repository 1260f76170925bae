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
    pub cells: &'a [usize],
    /// Legend entries for the traces; `cell K` when absent.
    pub labels: Option<&'a [String]>,
    pub traces: &'a [Vec<f64>],
    pub spikes: &'a [(usize, u64)],
    pub n: usize,
    pub tstop: f64,
    /// (stimulus, rate in Hz) per cell, when the stimulus sweeps.
    pub fi: Option<Vec<(f64, f64)>>,
}

pub fn plot(path: &Path, data: &PlotData<'_>) -> Result<(), String> {
    register_font();
    let svg = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("svg"));
    let panels = 1 + usize::from(data.n > 1) + usize::from(data.fi.is_some());
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
    let mut i = 0;
    // V(t)
    {
        let area = &areas[i];
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
            .draw()?;
        for (r, t) in data.traces.iter().enumerate() {
            let color = Palette99::pick(r).to_rgba();
            let step = (t.len() / 4000).max(1);
            chart
                .draw_series(LineSeries::new(
                    t.iter()
                        .enumerate()
                        .step_by(step)
                        .map(|(k, v)| (k as f64 * data.dt, *v)),
                    color.stroke_width(2),
                ))?
                .label(match data.labels.and_then(|l| l.get(r)) {
                    Some(l) => l.clone(),
                    None => format!("cell {}", data.cells.get(r).copied().unwrap_or(r)),
                })
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
    }
    if data.n > 1 {
        let area = &areas[i];
        i += 1;
        let mut chart = ChartBuilder::on(area)
            .caption("spike raster", ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..data.tstop, 0.0..data.n as f64)?;
        chart
            .configure_mesh()
            .x_desc("t (ms)")
            .y_desc("cell")
            .draw()?;
        let stride = (data.spikes.len() / 200_000).max(1);
        chart.draw_series(
            data.spikes.iter().step_by(stride).map(|&(c, s)| {
                Circle::new(((s + 1) as f64 * data.dt, c as f64), 1, BLACK.filled())
            }),
        )?;
    }
    if let Some(fi) = &data.fi {
        let area = &areas[i];
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
            .draw()?;
        chart.draw_series(LineSeries::new(fi.iter().copied(), BLUE.stroke_width(2)))?;
        chart.draw_series(fi.iter().map(|&p| Circle::new(p, 2, BLUE.filled())))?;
    }
    root.present()?;
    Ok(())
}
