//! PNG plots with plotters' bitmap backend. Text goes through ab_glyph with a
//! TrueType font found on the machine (no fontconfig, no freetype); without one
//! the plots are drawn without text and the report names the series.

use std::path::Path;
use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::FontStyle;

use anyhow::{Context, Error, Result};

/// One line: its name and (x, y) points.
pub type Series = (String, Vec<(f64, f64)>);

pub const COLORS: [RGBColor; 6] = [
    RGBColor(0xd6, 0x27, 0x28), // Parley: red
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
];

pub fn color_name(i: usize) -> &'static str {
    ["red", "blue", "green", "orange", "purple", "brown"][i % 6]
}

const FONT_CANDIDATES: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
];

/// Registers a font for plotters once; false when none was found.
pub fn fonts() -> bool {
    static READY: OnceLock<bool> = OnceLock::new();
    *READY.get_or_init(|| {
        let path = FONT_CANDIDATES
            .iter()
            .map(Path::new)
            .find(|p| p.is_file())
            .map(Path::to_path_buf)
            .or_else(|| find_ttf(Path::new("/usr/share/fonts"), 4));
        let Some(bytes) = path.and_then(|p| std::fs::read(p).ok()) else {
            return false;
        };
        // plotters keeps the font for the life of the process.
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
    })
}

fn find_ttf(dir: &Path, depth: usize) -> Option<std::path::PathBuf> {
    let entries = std::fs::read_dir(dir).ok()?;
    let mut dirs = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            dirs.push(path);
        } else if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("ttf"))
        {
            return Some(path);
        }
    }
    if depth == 0 {
        return None;
    }
    dirs.into_iter().find_map(|d| find_ttf(&d, depth - 1))
}

fn draw_err<E: std::fmt::Debug>(e: E) -> Error {
    Error::msg(format!("plot: {e:?}"))
}

fn bounds(series: &[Series], pick: impl Fn(&(f64, f64)) -> f64) -> (f64, f64) {
    let values = series.iter().flat_map(|(_, pts)| pts.iter().map(&pick));
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if lo.is_finite() && hi.is_finite() {
        (lo, hi)
    } else {
        (0.0, 1.0)
    }
}

/// Latency against offered load, both axes logarithmic, with a horizontal line
/// at `slo_ms`.
pub fn latency(path: &Path, title: &str, series: &[Series], slo_ms: f64) -> Result<()> {
    let text = fonts();
    let root = BitMapBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(draw_err)?;
    let (x0, x1) = bounds(series, |p| p.0);
    let (y0, y1) = bounds(series, |p| p.1);
    let (x0, x1) = ((x0 * 0.8).max(1.0), (x1 * 1.25).max(x0 * 2.0).max(2.0));
    let (y0, y1) = ((y0 * 0.5).clamp(0.01, 1.0), (y1 * 2.0).max(slo_ms * 2.0));
    let mut builder = ChartBuilder::on(&root);
    builder.margin(16);
    if text {
        builder
            .caption(title, ("sans-serif", 22))
            .x_label_area_size(48)
            .y_label_area_size(64);
    } else {
        builder.x_label_area_size(8).y_label_area_size(8);
    }
    let mut chart = builder
        .build_cartesian_2d((x0..x1).log_scale(), (y0..y1).log_scale())
        .map_err(draw_err)?;
    let mut mesh = chart.configure_mesh();
    if text {
        mesh.x_desc("offered deliveries per second")
            .y_desc("p99 latency (ms)")
            .x_label_formatter(&|v| human(*v))
            .y_label_formatter(&|v| format!("{v}"))
            .label_style(("sans-serif", 14));
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw().map_err(draw_err)?;
    let grey = RGBColor(0x55, 0x55, 0x55);
    chart
        .draw_series(LineSeries::new(
            [(x0, slo_ms), (x1, slo_ms)],
            grey.stroke_width(1),
        ))
        .map_err(draw_err)?;
    for (i, (name, points)) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let drawn = chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(draw_err)?;
        if text {
            drawn.label(name.as_str()).legend(move |(x, y)| {
                PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2))
            });
        }
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))
            .map_err(draw_err)?;
    }
    if text {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()
            .map_err(draw_err)?;
    }
    root.present().map_err(draw_err)?;
    Ok(())
}

/// Server memory growth against open connections, linear axes.
pub fn memory(path: &Path, series: &[Series]) -> Result<()> {
    let text = fonts();
    let root = BitMapBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(draw_err)?;
    let (_, x1) = bounds(series, |p| p.0);
    let (_, y1) = bounds(series, |p| p.1);
    let mut builder = ChartBuilder::on(&root);
    builder.margin(16);
    if text {
        builder
            .caption(
                "S1: server memory with idle connections",
                ("sans-serif", 22),
            )
            .x_label_area_size(48)
            .y_label_area_size(64);
    } else {
        builder.x_label_area_size(8).y_label_area_size(8);
    }
    let mut chart = builder
        .build_cartesian_2d(0.0..(x1 * 1.05).max(1.0), 0.0..(y1 * 1.1).max(1.0))
        .map_err(draw_err)?;
    let mut mesh = chart.configure_mesh();
    if text {
        mesh.x_desc("open connections")
            .y_desc("server RSS growth (MB)")
            .x_label_formatter(&|v| human(*v))
            .label_style(("sans-serif", 14));
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw().map_err(draw_err)?;
    for (i, (name, points)) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let mut pts = vec![(0.0, 0.0)];
        pts.extend(points.iter().copied());
        let drawn = chart
            .draw_series(LineSeries::new(pts, color.stroke_width(2)))
            .map_err(draw_err)?;
        if text {
            drawn.label(name.as_str()).legend(move |(x, y)| {
                PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2))
            });
        }
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))
            .map_err(draw_err)?;
    }
    if text {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()
            .map_err(draw_err)?;
    }
    root.present().map_err(draw_err)?;
    Ok(())
}

/// 1500 → "1.5k", 2000000 → "2M".
pub fn human(v: f64) -> String {
    let (value, suffix) = if v >= 1e6 {
        (v / 1e6, "M")
    } else if v >= 1e3 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let s = format!("{value:.1}");
    let s = s.strip_suffix(".0").unwrap_or(&s);
    format!("{s}{suffix}")
}

/// Writes a plot into `dir`, creating it; `Err` carries why it failed.
pub fn ensure_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
}
