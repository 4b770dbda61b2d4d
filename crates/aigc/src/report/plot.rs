//! Loss curves drawn with plotters into a PNG (the font is embedded: DejaVu Sans Mono).

use std::path::Path;

use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use crate::error::{AigcError, Result};
use crate::io::write_atomic;

const FONT: &[u8] = include_bytes!("../../assets/DejaVuSansMono.ttf");
pub(crate) const FONT_NAME: &str = "sans-serif";

/// Registers the embedded font with plotters (once).
pub(crate) fn ensure_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = register_font(FONT_NAME, FontStyle::Normal, FONT);
    });
}

/// Line colours, in the order of the series.
const PALETTE: [RGBColor; 6] = [RED, BLUE, GREEN, BLACK, MAGENTA, CYAN];

/// Plots named series of (x, y) points (losses against the step) into a PNG.
pub fn plot_lines(title: &str, x_label: &str, series: &[(&str, Vec<(f64, f64)>)], path: &Path) -> Result<()> {
    let coloured: Vec<(&str, &[(f64, f64)], RGBColor)> =
        series.iter().zip(PALETTE.iter().cycle()).map(|((name, points), colour)| (*name, points.as_slice(), *colour)).collect();
    draw_lines(title, x_label, &coloured, path)
}

fn draw_lines(title: &str, x_label: &str, series: &[(&str, &[(f64, f64)], RGBColor)], path: &Path) -> Result<()> {
    ensure_font();
    let (width, height) = (800u32, 480u32);
    let mut buffer = vec![0u8; (width * height * 3) as usize];
    let points = series.iter().flat_map(|(_, p, _)| p.iter());
    let (mut x_max, mut y_min, mut y_max) = (1.0f64, f64::INFINITY, f64::NEG_INFINITY);
    for &(x, y) in points {
        x_max = x_max.max(x);
        if y.is_finite() {
            y_min = y_min.min(y);
            y_max = y_max.max(y);
        }
    }
    if !y_min.is_finite() {
        (y_min, y_max) = (0.0, 1.0);
    }
    let margin = ((y_max - y_min) * 0.05).max(1e-3);
    {
        let err = |e: &dyn std::fmt::Display| AigcError::output(path, e.to_string());
        let root = BitMapBackend::with_buffer(&mut buffer, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT_NAME, 22))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..x_max, (y_min - margin)..(y_max + margin))
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.2}"))
            .label_style((FONT_NAME, 13))
            .draw().map_err(|e| err(&e))?;
        for (name, points, color) in series {
            let color = *color;
            chart
                .draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2)))
                .map_err(|e| err(&e))?
                .label(*name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font((FONT_NAME, 14))
            .draw()
            .map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
    }
    let image = image::RgbImage::from_raw(width, height, buffer).expect("buffer matches size");
    let mut bytes = Vec::new();
    image
        .write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png)
        .map_err(|e| AigcError::output(path, e))?;
    write_atomic(path, &bytes)
}
