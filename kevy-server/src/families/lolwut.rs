//! LOLWUT [VERSION v] [args…]: Redis's computer art. Version 5 draws Georg
//! Nees's Schotter in braille characters, version 6 an 8-bit skyline in
//! four terminal grays; any other version (the default, 7) prints the
//! version line. The pictures are random, as Redis's are.

use super::common::{conn_spec, REDIS_VERSION};
use crate::ctx::ConnCtx;
use crate::table::{flag, Table};
use kevy_rt::ConnAction;
use kevy_store::num::parse_i64;

pub fn register(t: &mut Table) {
    t.add(conn_spec(
        "lolwut",
        -1,
        flag::READONLY | flag::FAST,
        &["@read", "@fast"],
        cmd_lolwut,
    ));
}

fn cmd_lolwut(ctx: &mut ConnCtx<'_>) -> ConnAction {
    let args: Vec<&[u8]> = ctx.args.iter().collect();
    let mut rest = &args[1..];
    let mut major = 7;
    if rest.len() >= 2 && rest[0].eq_ignore_ascii_case(b"version") {
        match parse_i64(rest[1]) {
            // Redis formats the version as an unsigned int.
            Some(v) => major = v as u32 as u64,
            None => {
                ctx.out.error("ERR value is not an integer or out of range");
                return ConnAction::Continue;
            }
        }
        rest = &rest[2..];
    }
    let text = match major {
        5 => schotter(rest),
        6 => skyline(rest),
        _ => Ok(format!("Redis ver. {REDIS_VERSION}\n")),
    };
    match text {
        Ok(t) => ctx.out.verbatim(b"txt", t.as_bytes()),
        Err(e) => ctx.out.error(e),
    }
    ConnAction::Continue
}

/// The optional numeric arguments, clamped to `1..=max`.
fn numbers(args: &[&[u8]], defaults: &[(i64, i64)]) -> Result<Vec<i64>, &'static str> {
    defaults
        .iter()
        .enumerate()
        .map(|(i, &(default, max))| match args.get(i) {
            None => Ok(default),
            Some(a) => parse_i64(a)
                .map(|n| n.clamp(1, max))
                .ok_or("ERR value is not an integer or out of range"),
        })
        .collect()
}

/// A small xorshift generator: the art only needs to look random.
struct Rng(u64);

impl Rng {
    fn new() -> Self {
        Rng(kevy_sys::clock::unix_us() | 1)
    }

    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 33) as u32
    }

    /// Uniform in `[0, 1]`.
    fn unit(&mut self) -> f32 {
        self.next() as f32 / (u32::MAX >> 1) as f32
    }
}

struct Canvas {
    width: i64,
    height: i64,
    pixels: Vec<u8>,
}

impl Canvas {
    fn new(width: i64, height: i64, color: u8) -> Self {
        Canvas {
            width,
            height,
            pixels: vec![color; (width * height).max(0) as usize],
        }
    }

    fn set(&mut self, x: i64, y: i64, color: u8) {
        if (0..self.width).contains(&x) && (0..self.height).contains(&y) {
            self.pixels[(y * self.width + x) as usize] = color;
        }
    }

    fn get(&self, x: i64, y: i64) -> u8 {
        if (0..self.width).contains(&x) && (0..self.height).contains(&y) {
            self.pixels[(y * self.width + x) as usize]
        } else {
            0
        }
    }

    /// Bresenham's line from (x1, y1) to (x2, y2).
    fn line(&mut self, mut x1: i64, mut y1: i64, x2: i64, y2: i64, color: u8) {
        let (dx, dy) = ((x2 - x1).abs(), (y2 - y1).abs());
        let sx = if x1 < x2 { 1 } else { -1 };
        let sy = if y1 < y2 { 1 } else { -1 };
        let mut err = dx - dy;
        loop {
            self.set(x1, y1, color);
            if x1 == x2 && y1 == y2 {
                return;
            }
            let e2 = err * 2;
            if e2 > -dy {
                err -= dy;
                x1 += sx;
            }
            if e2 < dx {
                err += dx;
                y1 += sy;
            }
        }
    }

    /// The outline of a square of side `size` centred on (x, y), turned
    /// by `angle` radians.
    fn square(&mut self, x: i64, y: i64, size: f32, angle: f32, color: u8) {
        let half_diag = (size / std::f32::consts::SQRT_2).round();
        let mut k = std::f32::consts::FRAC_PI_4 + angle;
        let mut corners = [(0i64, 0i64); 4];
        for c in &mut corners {
            *c = (
                (k.sin() * half_diag + x as f32).round() as i64,
                (k.cos() * half_diag + y as f32).round() as i64,
            );
            k += std::f32::consts::FRAC_PI_2;
        }
        for j in 0..4 {
            let (a, b) = (corners[j], corners[(j + 1) % 4]);
            self.line(a.0, a.1, b.0, b.1, color);
        }
    }
}

/// LOLWUT VERSION 5 [columns [squares-per-row [squares-per-col]]].
fn schotter(args: &[&[u8]]) -> Result<String, &'static str> {
    let n = numbers(args, &[(66, 1000), (8, 200), (12, 200)])?;
    let (cols, per_row, per_col) = (n[0], n[1], n[2]);
    let width = cols * 2;
    let padding = if width > 4 { 2 } else { 0 };
    let side = (width - padding * 2) as f32 / per_row as f32;
    let height = (side * per_col as f32) as i64 + padding * 2;
    let mut canvas = Canvas::new(width, height, 0);
    let mut rng = Rng::new();
    for y in 0..per_col {
        for x in 0..per_row {
            let mut sx = (x as f32 * side + side / 2.0 + padding as f32) as i64;
            let mut sy = (y as f32 * side + side / 2.0 + padding as f32) as i64;
            let mut angle = 0.0;
            // Order gives way to chaos further down the page.
            if y > 1 {
                let mut r = [0f32; 3];
                for v in &mut r {
                    *v = rng.unit() / per_col as f32 * y as f32;
                }
                for v in &mut r {
                    if rng.next() % 2 == 1 {
                        *v = -*v;
                    }
                }
                angle = r[0];
                sx += (r[1] * side / 3.0) as i64;
                sy += (r[2] * side / 3.0) as i64;
            }
            canvas.square(sx, sy, side, angle, 1);
        }
    }
    let mut text = String::new();
    let mut y = 0;
    while y < canvas.height {
        let mut x = 0;
        while x < canvas.width {
            // A braille cell is 2×4 dots, numbered down the left column
            // then the right, with the bottom row last.
            let dots = [
                (0, 0),
                (0, 1),
                (0, 2),
                (1, 0),
                (1, 1),
                (1, 2),
                (0, 3),
                (1, 3),
            ];
            let mut byte = 0u32;
            for (bit, (dx, dy)) in dots.iter().enumerate() {
                if canvas.get(x + dx, y + dy) != 0 {
                    byte |= 1 << bit;
                }
            }
            text.push(char::from_u32(0x2800 + byte).unwrap_or(' '));
            x += 2;
        }
        if y != canvas.height - 1 {
            text.push('\n');
        }
        y += 4;
    }
    text.push_str("\nGeorg Nees - schotter, plotter on paper, 1968. Redis ver. ");
    text.push_str(REDIS_VERSION);
    text.push('\n');
    Ok(text)
}

/// LOLWUT VERSION 6 [columns [rows]].
fn skyline(args: &[&[u8]]) -> Result<String, &'static str> {
    let n = numbers(args, &[(80, 1000), (20, 1000)])?;
    let mut canvas = Canvas::new(n[0], n[1], 3);
    let mut rng = Rng::new();
    let h = canvas.height;
    // Background towers without windows, the lighter gray furthest back.
    for color in [2u8, 1] {
        let mut offset = -10i64;
        while offset < canvas.width {
            offset += (rng.next() % 8) as i64;
            let width = 10 + (rng.next() % 9) as i64;
            let height = if color == 2 {
                h / 2 + (rng.next() as i64 % h) / 2
            } else {
                h / 2 + (rng.next() as i64 % h) / 3
            };
            tower(&mut canvas, &mut rng, offset, width, height, false, color);
            offset += if color == 2 { width / 2 } else { width + 1 };
        }
    }
    // Black towers with lit windows in front.
    let mut offset = -10i64;
    while offset < canvas.width {
        offset += (rng.next() % 8) as i64;
        let mut width = 5 + (rng.next() % 14) as i64;
        if width % 4 != 0 {
            width += width % 3;
        }
        let height = h / 3 + (rng.next() as i64 % h) / 2;
        tower(&mut canvas, &mut rng, offset, width, height, true, 0);
        offset += width + 5;
    }
    let mut text = String::new();
    for y in 0..canvas.height {
        for x in 0..canvas.width {
            let code = match canvas.get(x, y) {
                1 => "0;90;100m",
                2 => "0;37;47m",
                3 => "0;97;107m",
                _ => "0;30;40m",
            };
            text.push_str("\x1b[");
            text.push_str(code);
            text.push_str(" \x1b[0m");
        }
        if y != canvas.height - 1 {
            text.push('\n');
        }
    }
    text.push_str(
        "\nDedicated to the 8 bit game developers of past and present.\n\
         Original 8 bit image from Plaguemon by hikikomori. Redis ver. ",
    );
    text.push_str(REDIS_VERSION);
    text.push('\n');
    Ok(text)
}

/// One tower standing on the bottom row; its roof is two pixels narrower
/// on each side, and windows (two pixels wide, one tall) take one of the
/// grays the tower is not.
fn tower(
    c: &mut Canvas,
    rng: &mut Rng,
    xoff: i64,
    width: i64,
    height: i64,
    windows: bool,
    color: u8,
) {
    let start = c.height - 1;
    let end = start - height + 1;
    let mut y = start;
    while y >= end {
        for x in xoff..xoff + width {
            if y == end && (x <= xoff + 1 || x >= xoff + width - 2) {
                continue;
            }
            let mut px = color;
            if windows && x > xoff + 1 && x < xoff + width - 2 && y > end + 1 && y < start - 1 {
                let relx = x - (xoff + 1);
                let rely = y - (end + 1);
                if (relx / 2) % 2 == 1 && rely % 2 == 1 {
                    px = loop {
                        let g = 1 + (rng.next() % 2) as u8;
                        if g != color {
                            break g;
                        }
                    };
                    if relx % 2 == 1 {
                        px = c.get(x - 1, y);
                    }
                }
            }
            c.set(x, y, px);
        }
        y -= 1;
    }
}

#[cfg(test)]
mod tests {
    use crate::families::testkit::harness::harness;

    #[test]
    fn versions_and_errors_as_redis() {
        let mut h = harness();
        assert_eq!(h.run("LOLWUT"), "$18\r\nRedis ver. 7.0.15\n\r\n");
        assert_eq!(h.run("LOLWUT VERSION 7"), "$18\r\nRedis ver. 7.0.15\n\r\n");
        assert_eq!(h.run("LOLWUT foo bar"), "$18\r\nRedis ver. 7.0.15\n\r\n");
        assert_eq!(
            h.run("LOLWUT VERSION x"),
            "-ERR value is not an integer or out of range\r\n"
        );
        assert_eq!(
            h.run("LOLWUT VERSION 5 x"),
            "-ERR value is not an integer or out of range\r\n"
        );
        let art = h.run("LOLWUT VERSION 5");
        assert!(
            art.contains("\nGeorg Nees - schotter, plotter on paper, 1968. Redis ver. 7.0.15\n")
        );
        // 66 columns of braille, (66*2-4)/8*12+4 = 196 pixel rows: 49 lines.
        let body = art.split("\r\n").nth(1).unwrap();
        let lines: Vec<&str> = body.lines().collect();
        assert_eq!(lines.len(), 49 + 2);
        assert!(lines[..49].iter().all(|l| l.chars().count() == 66));
        let sky = h.run("LOLWUT VERSION 6 10 3");
        assert_eq!(sky.matches(" \x1b[0m").count(), 30);
        assert!(sky.contains("Plaguemon by hikikomori. Redis ver. 7.0.15\n"));
    }
}
