//! The echo plot: grouped bars, one group per message size and one bar per server; above,
//! msgs/s with the min–max of the runs as whiskers; below, the server's user CPU time per
//! message, which is where a loop's own cost shows when the kernel's work dominates.

use std::path::Path;

use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::runs::{Spread, Summary, size_label};

const WIDTH: u32 = 1200;
const HEIGHT: u32 = 900;
const LEGEND_WIDTH: u32 = 190;

/// Share of a group's width the bars take; the rest separates the groups.
const GROUP_FILL: f64 = 0.84;

pub fn draw(path: &Path, echo: &[&Summary], caption: &str) -> Result<()> {
    let mut sizes: Vec<u64> = echo.iter().map(|s| s.size).collect();
    sizes.sort_unstable();
    sizes.dedup();
    let mut servers: Vec<&str> = Vec::new();
    for summary in echo {
        if !servers.contains(&summary.server.as_str()) {
            servers.push(&summary.server);
        }
    }

    let root = SVGBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let title = if caption.is_empty() {
        "Echo over loopback".to_string()
    } else {
        format!("Echo over loopback — {caption}")
    };
    let root = root.titled(&title, ("sans-serif", 22))?;
    let (charts, legend) = root.split_horizontally(WIDTH - LEGEND_WIDTH);
    let panels = charts.split_evenly((2, 1));
    let plot = Plot {
        sizes: &sizes,
        servers: &servers,
        echo,
    };
    plot.panel(
        &panels[0],
        "messages per second (median of the runs; whiskers: min–max)",
        |s| s.rate,
        &|v| format!("{:.0}k", v / 1000.0),
    )?;
    plot.panel(
        &panels[1],
        "server user CPU per message, us (median; whiskers: min–max)",
        |s| s.server_user_us,
        &|v| format!("{v:.1}"),
    )?;
    draw_legend(&legend, &servers)?;
    root.present()?;
    Ok(())
}

struct Plot<'a> {
    sizes: &'a [u64],
    servers: &'a [&'a str],
    echo: &'a [&'a Summary],
}

impl Plot<'_> {
    fn panel(
        &self,
        area: &DrawingArea<SVGBackend<'_>, Shift>,
        title: &str,
        value: impl Fn(&Summary) -> Option<Spread>,
        y_label: &dyn Fn(&f64) -> String,
    ) -> Result<()> {
        let top = self
            .echo
            .iter()
            .filter_map(|s| value(s))
            .map(|v| v.max)
            .fold(0.0, f64::max);
        let top = if top > 0.0 { top * 1.08 } else { 1.0 };
        let groups = self.sizes.len() as f64;
        let mut chart = ChartBuilder::on(area)
            .caption(title, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..groups, 0.0..top)?;
        // With 2n+1 labels on 0..n the key points fall on every half: the centres of the
        // groups get the sizes, the edges nothing.
        let size_at = |x: &f64| -> String {
            let centre = x - 0.5;
            if (centre - centre.round()).abs() > 1e-6 || centre < -1e-6 {
                return String::new();
            }
            self.sizes
                .get(centre.round() as usize)
                .map_or(String::new(), |&size| size_label(size))
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(TRANSPARENT)
            .x_labels(self.sizes.len() * 2 + 1)
            .x_label_formatter(&size_at)
            .y_label_formatter(y_label)
            .label_style(("sans-serif", 14))
            .draw()?;

        let bar = GROUP_FILL / self.servers.len() as f64;
        let first = (1.0 - GROUP_FILL) / 2.0;
        for (j, server) in self.servers.iter().enumerate() {
            let colour = colour(server, j);
            let bars: Vec<(f64, Spread)> = self
                .sizes
                .iter()
                .enumerate()
                .filter_map(|(k, &size)| {
                    let summary = self
                        .echo
                        .iter()
                        .find(|s| s.server == *server && s.size == size)?;
                    Some((k as f64 + first + j as f64 * bar, value(summary)?))
                })
                .collect();
            chart.draw_series(bars.iter().map(|&(x, v)| {
                Rectangle::new([(x, 0.0), (x + bar * 0.9, v.median)], colour.filled())
            }))?;
            chart.draw_series(bars.iter().map(|&(x, v)| {
                let mid = x + bar * 0.45;
                PathElement::new(vec![(mid, v.min), (mid, v.max)], BLACK.stroke_width(1))
            }))?;
        }
        Ok(())
    }
}

fn draw_legend(area: &DrawingArea<SVGBackend<'_>, Shift>, servers: &[&str]) -> Result<()> {
    let font = ("sans-serif", 15).into_font();
    for (j, server) in servers.iter().enumerate() {
        let y = 60 + 26 * j as i32;
        area.draw(&Rectangle::new(
            [(8, y), (26, y + 16)],
            colour(server, j).filled(),
        ))?;
        area.draw(&Text::new(server.to_string(), (34, y + 1), font.clone()))?;
    }
    Ok(())
}

/// Families of colours: greys for the native peers, greens for CPython's loops, reds for
/// sandloop's variants; anything else from a palette.
fn colour(server: &str, index: usize) -> RGBColor {
    match server {
        "mio" => RGBColor(60, 60, 60),
        "tokio" => RGBColor(140, 140, 140),
        "asyncio" => RGBColor(90, 160, 90),
        "asyncio-streams" => RGBColor(160, 210, 150),
        "uvloop" => RGBColor(40, 110, 170),
        "uvloop-streams" => RGBColor(130, 180, 220),
        "sandloop" => RGBColor(200, 40, 40),
        "sandloop-readiness" => RGBColor(235, 130, 50),
        "sandloop-streams" => RGBColor(240, 170, 170),
        _ => {
            let RGBAColor(r, g, b, _) = Palette99::pick(index).to_rgba();
            RGBColor(r, g, b)
        }
    }
}
