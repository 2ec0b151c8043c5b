//! Redis's geohash: a position is its longitude and latitude cut into 2^26
//! cells each and interleaved bit by bit (latitude in the even bits,
//! longitude in the odd ones) into a 52-bit integer, the member's score in
//! a sorted set. Nearby cells share a prefix, so a search looks at one box
//! of the right size around the centre and its eight neighbours, each a
//! score range, and filters what they hold by distance.
//!
//! Every step (the bounding box, the box size, the neighbour pruning, the
//! haversine distance on a sphere of radius [`EARTH_RADIUS_M`]) is done in
//! the same order of floating-point operations as Redis 7.0's
//! `geohash.c` / `geohash_helper.c`, so the same members are found at the
//! same distances, digit for digit. The latitude range is Web Mercator's
//! (±85.05112878), not ±90: GEOHASH re-encodes with the standard ranges to
//! print a standard geohash string.

pub const LONG_MIN: f64 = -180.0;
pub const LONG_MAX: f64 = 180.0;
pub const LAT_MIN: f64 = -85.051_128_78;
pub const LAT_MAX: f64 = 85.051_128_78;
/// Bits per coordinate in a stored score (26 + 26 = 52).
pub const STEP_MAX: u8 = 26;
/// The Earth's quadratic mean radius for WGS-84, as Redis uses it.
pub const EARTH_RADIUS_M: f64 = 6_372_797.560_856;
/// Half the Earth's circumference in Web Mercator metres: a radius at
/// least this wide needs the coarsest box.
const MERCATOR_MAX: f64 = 20_037_726.37;
/// Degrees to radians, as C's `M_PI / 180.0` evaluates.
const D_R: f64 = std::f64::consts::PI / 180.0;

/// A cell: its interleaved bits and how many bits per coordinate it has.
/// Bits 0 with step 0 is "no cell" (a pruned neighbour).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HashBits {
    pub bits: u64,
    pub step: u8,
}

impl HashBits {
    pub fn is_zero(&self) -> bool {
        self.bits == 0 && self.step == 0
    }

    /// The cell's bits shifted up to 52 bits: the lowest score inside it.
    pub fn align52(&self) -> u64 {
        self.bits << (52 - 2 * u32::from(self.step))
    }

    /// The scores `[min, max)` of every position inside the cell.
    pub fn score_range(&self) -> (u64, u64) {
        let next = HashBits {
            bits: self.bits.wrapping_add(1),
            step: self.step,
        };
        (self.align52(), next.align52())
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Span {
    pub min: f64,
    pub max: f64,
}

/// A cell's extent in degrees.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Area {
    pub lon: Span,
    pub lat: Span,
}

const WGS84_LON: Span = Span {
    min: LONG_MIN,
    max: LONG_MAX,
};
const WGS84_LAT: Span = Span {
    min: LAT_MIN,
    max: LAT_MAX,
};

/// The bits of `v` moved to the even positions of a u64.
fn spread(v: u32) -> u64 {
    let mut x = u64::from(v);
    x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x << 2)) & 0x3333_3333_3333_3333;
    (x | (x << 1)) & 0x5555_5555_5555_5555
}

/// The even bits of `x`, packed: the inverse of [`spread`].
fn squash(x: u64) -> u32 {
    let mut x = x & 0x5555_5555_5555_5555;
    x = (x | (x >> 1)) & 0x3333_3333_3333_3333;
    x = (x | (x >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x >> 4)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x >> 8)) & 0x0000_FFFF_0000_FFFF;
    ((x | (x >> 16)) & 0xFFFF_FFFF) as u32
}

/// C's conversion of a double in `[0, 2^32)` to `uint32_t` (truncation).
fn to_u32(x: f64) -> u32 {
    x as u32
}

/// Encodes a position in the given ranges with `step` bits per
/// coordinate; `None` outside Web Mercator's range or for a bad step.
pub fn encode(lon_r: Span, lat_r: Span, lon: f64, lat: f64, step: u8) -> Option<HashBits> {
    if step == 0 || step > 32 {
        return None;
    }
    if !(LONG_MIN..=LONG_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return None;
    }
    if lat < lat_r.min || lat > lat_r.max || lon < lon_r.min || lon > lon_r.max {
        return None;
    }
    let mut lat_off = (lat - lat_r.min) / (lat_r.max - lat_r.min);
    let mut lon_off = (lon - lon_r.min) / (lon_r.max - lon_r.min);
    let cells = (1u64 << step) as f64;
    lat_off *= cells;
    lon_off *= cells;
    Some(HashBits {
        bits: spread(to_u32(lat_off)) | (spread(to_u32(lon_off)) << 1),
        step,
    })
}

/// [`encode`] in Redis's ranges.
pub fn encode_wgs84(lon: f64, lat: f64, step: u8) -> Option<HashBits> {
    encode(WGS84_LON, WGS84_LAT, lon, lat, step)
}

/// The cell's extent in the given ranges.
pub fn decode(lon_r: Span, lat_r: Span, h: HashBits) -> Option<Area> {
    if h.is_zero() {
        return None;
    }
    let lat_cell = squash(h.bits);
    let lon_cell = squash(h.bits >> 1);
    let cells = (1u64 << h.step) as f64;
    let lat_scale = lat_r.max - lat_r.min;
    let lon_scale = lon_r.max - lon_r.min;
    // The upper edge is computed in 32-bit arithmetic, as in Redis.
    Some(Area {
        lat: Span {
            min: lat_r.min + (f64::from(lat_cell) / cells) * lat_scale,
            max: lat_r.min + (f64::from(lat_cell.wrapping_add(1)) / cells) * lat_scale,
        },
        lon: Span {
            min: lon_r.min + (f64::from(lon_cell) / cells) * lon_scale,
            max: lon_r.min + (f64::from(lon_cell.wrapping_add(1)) / cells) * lon_scale,
        },
    })
}

/// The centre of a cell in Redis's ranges, clamped to them: `[lon, lat]`.
pub fn decode_center(h: HashBits) -> Option<[f64; 2]> {
    let a = decode(WGS84_LON, WGS84_LAT, h)?;
    let lon = ((a.lon.min + a.lon.max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let lat = ((a.lat.min + a.lat.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    Some([lon, lat])
}

/// C's `(uint64_t)` of a double on x86-64: truncation for values that fit,
/// and what `cvttsd2si` makes of the rest (a score need not be a geohash).
fn c_to_u64(x: f64) -> u64 {
    const TWO63: f64 = 9_223_372_036_854_775_808.0;
    let signed = |v: f64| -> u64 {
        if (-TWO63..TWO63).contains(&v) {
            v as i64 as u64
        } else {
            1 << 63
        }
    };
    if x < TWO63 {
        signed(x)
    } else {
        signed(x - TWO63) ^ (1 << 63)
    }
}

/// The position a sorted-set score stands for: `[lon, lat]` (Redis's
/// `decodeGeohash`; any score decodes to some position).
pub fn score_to_lonlat(score: f64) -> [f64; 2] {
    let h = HashBits {
        bits: c_to_u64(score),
        step: STEP_MAX,
    };
    decode_center(h).expect("a step-26 cell is never zero")
}

/// The score GEOADD stores for a position already checked to be in range.
pub fn lonlat_to_score(lon: f64, lat: f64) -> u64 {
    encode_wgs84(lon, lat, STEP_MAX).map_or(0, |h| h.align52())
}

/// Whether a longitude and latitude are in the range GEOADD accepts.
pub fn valid_lonlat(lon: f64, lat: f64) -> bool {
    (LONG_MIN..=LONG_MAX).contains(&lon) && (LAT_MIN..=LAT_MAX).contains(&lat)
}

const GEOALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";

/// GEOHASH's string for a score: the position re-encoded in the standard
/// ranges (latitude ±90), as 11 base-32 characters of which the last is
/// always '0' (52 bits fill only ten).
pub fn geohash_string(score: f64) -> [u8; 11] {
    let [lon, lat] = score_to_lonlat(score);
    let std_lon = Span {
        min: -180.0,
        max: 180.0,
    };
    let std_lat = Span {
        min: -90.0,
        max: 90.0,
    };
    let bits = encode(std_lon, std_lat, lon, lat, STEP_MAX).map_or(0, |h| h.bits);
    let mut out = [b'0'; 11];
    for (i, c) in out.iter_mut().take(10).enumerate() {
        let idx = (bits >> (52 - (i + 1) * 5)) & 0x1f;
        *c = GEOALPHABET[idx as usize];
    }
    out
}

fn move_x(h: &mut HashBits, d: i8) {
    if d == 0 {
        return;
    }
    let mut x = h.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let y = h.bits & 0x5555_5555_5555_5555;
    let shift = 64 - 2 * u32::from(h.step);
    let zz = 0x5555_5555_5555_5555u64 >> shift;
    if d > 0 {
        x = x.wrapping_add(zz + 1);
    } else {
        x |= zz;
        x = x.wrapping_sub(zz + 1);
    }
    x &= 0xaaaa_aaaa_aaaa_aaaa >> shift;
    h.bits = x | y;
}

fn move_y(h: &mut HashBits, d: i8) {
    if d == 0 {
        return;
    }
    let x = h.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let mut y = h.bits & 0x5555_5555_5555_5555;
    let shift = 64 - 2 * u32::from(h.step);
    let zz = 0xaaaa_aaaa_aaaa_aaaau64 >> shift;
    if d > 0 {
        y = y.wrapping_add(zz + 1);
    } else {
        y |= zz;
        y = y.wrapping_sub(zz + 1);
    }
    y &= 0x5555_5555_5555_5555 >> shift;
    h.bits = x | y;
}

/// The eight cells around `h`, in Redis's search order after the centre:
/// north, south, east, west, north-east, north-west, south-east,
/// south-west.
pub fn neighbors(h: HashBits) -> [HashBits; 8] {
    let at = |dx: i8, dy: i8| {
        let mut n = h;
        move_x(&mut n, dx);
        move_y(&mut n, dy);
        n
    };
    [
        at(0, 1),
        at(0, -1),
        at(1, 0),
        at(-1, 0),
        at(1, 1),
        at(-1, 1),
        at(1, -1),
        at(-1, -1),
    ]
}

/// The cell size (bits per coordinate) for a search of this radius at
/// this latitude: cells about as wide as the radius, coarser towards the
/// poles.
pub fn estimate_steps(mut range_m: f64, lat: f64) -> u8 {
    if range_m == 0.0 {
        return 26;
    }
    let mut step: i32 = 1;
    while range_m < MERCATOR_MAX {
        range_m *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

fn deg_rad(a: f64) -> f64 {
    a * D_R
}

fn rad_deg(a: f64) -> f64 {
    a / D_R
}

/// The distance in metres between two latitudes on one meridian: the
/// haversine reduces to the angle itself.
pub fn lat_distance(lat1d: f64, lat2d: f64) -> f64 {
    EARTH_RADIUS_M * (deg_rad(lat2d) - deg_rad(lat1d)).abs()
}

/// Great-circle distance in metres by the haversine formula; on one
/// meridian (the longitude term exactly 0), [`lat_distance`], as Redis
/// computes it.
pub fn distance(lon1d: f64, lat1d: f64, lon2d: f64, lat2d: f64) -> f64 {
    let lon1r = deg_rad(lon1d);
    let lon2r = deg_rad(lon2d);
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1d, lat2d);
    }
    let lat1r = deg_rad(lat1d);
    let lat2r = deg_rad(lat2d);
    let u = ((lat2r - lat1r) / 2.0).sin();
    2.0 * EARTH_RADIUS_M * (u * u + lat1r.cos() * lat2r.cos() * v * v).sqrt().asin()
}

/// What a search covers, in the units the client gave (`conversion`
/// turns them into metres).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ShapeKind {
    Radius(f64),
    Box { width: f64, height: f64 },
}

/// A search area: centre `[lon, lat]`, shape, unit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shape {
    pub center: [f64; 2],
    pub kind: ShapeKind,
    pub conversion: f64,
}

impl Shape {
    /// `[min lon, min lat, max lon, max lat]` of the area: the longitude
    /// extent is taken at the edge nearer the pole, where a degree is
    /// shortest.
    pub fn bounding_box(&self) -> [f64; 4] {
        let [lon, lat] = self.center;
        let (h, w) = match self.kind {
            ShapeKind::Radius(r) => (r, r),
            ShapeKind::Box { width, height } => (height / 2.0, width / 2.0),
        };
        let height = self.conversion * h;
        let width = self.conversion * w;
        let lat_delta = rad_deg(height / EARTH_RADIUS_M);
        let lon_delta_top = rad_deg(width / EARTH_RADIUS_M / deg_rad(lat + lat_delta).cos());
        let lon_delta_bottom = rad_deg(width / EARTH_RADIUS_M / deg_rad(lat - lat_delta).cos());
        let d = if lat < 0.0 {
            lon_delta_bottom
        } else {
            lon_delta_top
        };
        [lon - d, lat - lat_delta, lon + d, lat + lat_delta]
    }

    /// The nine cells to read, centre first, then [`neighbors`]' order;
    /// a cell that cannot hold a match is zero.
    pub fn cells(&self) -> [HashBits; 9] {
        let [min_lon, min_lat, max_lon, max_lat] = self.bounding_box();
        let [lon, lat] = self.center;
        let radius_m = match self.kind {
            ShapeKind::Radius(r) => r,
            ShapeKind::Box { width, height } => {
                ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt()
            }
        } * self.conversion;
        let mut steps = estimate_steps(radius_m, lat);
        let around = |steps: u8| {
            let hash = encode_wgs84(lon, lat, steps).unwrap_or(HashBits {
                bits: 0,
                step: steps,
            });
            let n = neighbors(hash);
            let area = decode(WGS84_LON, WGS84_LAT, hash).unwrap_or_default();
            (hash, n, area)
        };
        let (mut hash, mut n, mut area) = around(steps);
        // A box estimated too coarse near the area's edge may still leave
        // part of the area outside the nine cells: go one size up.
        let edge = |c: HashBits| decode(WGS84_LON, WGS84_LAT, c).unwrap_or_default();
        let (north, south, east, west) = (edge(n[0]), edge(n[1]), edge(n[2]), edge(n[3]));
        let decrease = north.lat.max < max_lat
            || south.lat.min > min_lat
            || east.lon.max < max_lon
            || west.lon.min > min_lon;
        if steps > 1 && decrease {
            steps -= 1;
            (hash, n, area) = around(steps);
        }
        if steps >= 2 {
            const N: usize = 0;
            const S: usize = 1;
            const E: usize = 2;
            const W: usize = 3;
            const NE: usize = 4;
            const NW: usize = 5;
            const SE: usize = 6;
            const SW: usize = 7;
            let zero = HashBits::default();
            if area.lat.min < min_lat {
                (n[S], n[SW], n[SE]) = (zero, zero, zero);
            }
            if area.lat.max > max_lat {
                (n[N], n[NE], n[NW]) = (zero, zero, zero);
            }
            if area.lon.min < min_lon {
                (n[W], n[SW], n[NW]) = (zero, zero, zero);
            }
            if area.lon.max > max_lon {
                (n[E], n[SE], n[NE]) = (zero, zero, zero);
            }
        }
        [hash, n[0], n[1], n[2], n[3], n[4], n[5], n[6], n[7]]
    }

    /// The area ready to test points against ([`Probe::contains`]).
    pub fn probe(&self) -> Probe {
        let lat1r = deg_rad(self.center[1]);
        let cos_lat1 = lat1r.cos();
        // The reach (metres) beyond which a point is surely out, along a
        // meridian (radius, or half the height) and along a parallel
        // (radius, or half the width), with margins far above the
        // rounding of Redis's formulas.
        let widen = |m: f64| m * (1.0 + 1e-9) + 1e-6;
        let (lat_reach, lon_reach) = match self.kind {
            ShapeKind::Radius(r) => (widen(r * self.conversion), widen(r * self.conversion)),
            ShapeKind::Box { width, height } => (
                widen(height * self.conversion / 2.0),
                widen(width * self.conversion / 2.0),
            ),
        };
        // A point within `lat_reach` of the centre's latitude has a cosine
        // of latitude at least this.
        let far = lat1r.abs() + lat_reach / EARTH_RADIUS_M + 1e-9;
        let cos_min = if far < std::f64::consts::FRAC_PI_2 {
            far.cos() * (1.0 - 1e-9)
        } else {
            0.0
        };
        let lon_scale = match self.kind {
            ShapeKind::Radius(_) => (cos_lat1 * cos_min).sqrt() * (1.0 - 1e-9),
            ShapeKind::Box { .. } => cos_min,
        };
        Probe {
            shape: *self,
            lon1r: deg_rad(self.center[0]),
            lat1r,
            cos_lat1,
            lat_reach,
            lon_reach,
            lon_scale,
        }
    }

    /// The distance in metres from the centre to `[lon, lat]` when that
    /// point is inside the area. A box's edges run along a meridian and a
    /// parallel through the point.
    pub fn contains(&self, p: [f64; 2]) -> Option<f64> {
        self.probe().contains(p)
    }
}

/// A [`Shape`] with what every point's test needs of the centre computed
/// once. Its distances are [`distance`]'s, bit for bit: the same terms in
/// the same order, with a cosine taken once where [`distance`] takes the
/// same one again, and a term known to be zero (the latitude term along a
/// parallel, for a box) left out.
#[derive(Clone, Copy, Debug)]
pub struct Probe {
    shape: Shape,
    lon1r: f64,
    lat1r: f64,
    cos_lat1: f64,
    lat_reach: f64,
    lon_reach: f64,
    /// What a longitude difference's half-angle is at least multiplied by
    /// in the distance of a point within `lat_reach` (2R times it bounds
    /// the distance from below).
    lon_scale: f64,
}

impl Probe {
    /// Whether `p` is surely outside, known without trigonometry from lower
    /// bounds of Redis's distances: along a meridian the distance is at
    /// least R·Δlat; along a parallel at least 2R·k·sin(Δlon/2) with
    /// sin x ≥ x − x³/6. Only points less than 90° of longitude away are
    /// judged, so none is near the antipodes, where Redis's haversine can
    /// round to NaN (and NaN is kept).
    #[inline]
    fn surely_outside(&self, lon2r: f64, lat2r: f64, dlon_deg: f64) -> bool {
        if dlon_deg.abs() > 90.0 {
            return false;
        }
        if EARTH_RADIUS_M * (lat2r - self.lat1r).abs() > self.lat_reach {
            return true;
        }
        let h = (lon2r - self.lon1r).abs() / 2.0;
        2.0 * EARTH_RADIUS_M * self.lon_scale * (h - h * h * h / 6.0) > self.lon_reach
    }

    pub fn contains(&self, p: [f64; 2]) -> Option<f64> {
        let lon2r = deg_rad(p[0]);
        let lat2r = deg_rad(p[1]);
        if self.surely_outside(lon2r, lat2r, p[0] - self.shape.center[0]) {
            return None;
        }
        // distance(centre, p).
        let full = || {
            let v = ((lon2r - self.lon1r) / 2.0).sin();
            if v == 0.0 {
                return lat_distance(self.shape.center[1], p[1]);
            }
            let u = ((lat2r - self.lat1r) / 2.0).sin();
            2.0 * EARTH_RADIUS_M * (u * u + self.cos_lat1 * lat2r.cos() * v * v).sqrt().asin()
        };
        let conv = self.shape.conversion;
        match self.shape.kind {
            ShapeKind::Radius(r) => {
                let d = full();
                // NaN (antipodes) compares false and is kept, as in Redis.
                if d > r * conv {
                    None
                } else {
                    Some(d)
                }
            }
            ShapeKind::Box { width, height } => {
                let width_m = width * conv;
                let height_m = height * conv;
                // The cheap latitude test first, as Redis does.
                if lat_distance(p[1], self.shape.center[1]) > height_m / 2.0 {
                    return None;
                }
                // distance(p, (centre lon, p lat)): no latitude term.
                let v = ((self.lon1r - lon2r) / 2.0).sin();
                let lon_d = if v == 0.0 {
                    0.0
                } else {
                    let c = lat2r.cos();
                    2.0 * EARTH_RADIUS_M * (c * c * v * v).sqrt().asin()
                };
                if lon_d > width_m / 2.0 {
                    return None;
                }
                Some(full())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_and_squash_are_inverse() {
        for v in [0u32, 1, 2, 0x3ff_ffff, 0x400_0000, u32::MAX, 0x1234_5678] {
            assert_eq!(squash(spread(v)), v);
            assert_eq!(spread(v) & 0xaaaa_aaaa_aaaa_aaaa, 0);
        }
        assert_eq!(spread(0b1011), 0b1000101);
    }

    #[test]
    fn scores_match_redis() {
        // GEOADD Sicily 13.361389 38.115556 Palermo 15.087269 37.502669
        // Catania, as redis-server 7.0 stores them.
        assert_eq!(lonlat_to_score(13.361389, 38.115556), 3479099956230698);
        assert_eq!(lonlat_to_score(15.087269, 37.502669), 3479447370796909);
        let [lon, lat] = score_to_lonlat(3479099956230698.0);
        assert_eq!(format!("{lon:.17}"), "13.36138933897018433");
        assert_eq!(format!("{lat:.17}"), "38.11555639549629859");
        assert_eq!(&geohash_string(3479099956230698.0), b"sqc8b49rny0");
    }

    #[test]
    fn distance_matches_redis() {
        let p = score_to_lonlat(3479099956230698.0);
        let c = score_to_lonlat(3479447370796909.0);
        assert_eq!(
            format!("{:.4}", distance(p[0], p[1], c[0], c[1])),
            "166274.1516"
        );
    }

    #[test]
    fn odd_scores_decode_as_c_casts_them() {
        assert_eq!(c_to_u64(-1.0), u64::MAX);
        assert_eq!(c_to_u64(1e300), 0);
        assert_eq!(c_to_u64(f64::INFINITY), 0);
        assert_eq!(c_to_u64(f64::NEG_INFINITY), 1 << 63);
        assert_eq!(c_to_u64(9.3e18), 9_300_000_000_000_000_000);
        // Clamped into range, never a panic.
        for s in [-1.0, 1e300, f64::MAX, -f64::MAX, 4.6e15, 1e17] {
            let [lon, lat] = score_to_lonlat(s);
            assert!(valid_lonlat(lon, lat), "{s}");
            let _ = geohash_string(s);
        }
    }

    #[test]
    fn neighbours_wrap_and_step() {
        let h = encode_wgs84(0.0, 0.0, 4).unwrap();
        let n = neighbors(h);
        let a = decode(WGS84_LON, WGS84_LAT, h).unwrap();
        let north = decode(WGS84_LON, WGS84_LAT, n[0]).unwrap();
        let east = decode(WGS84_LON, WGS84_LAT, n[2]).unwrap();
        assert_eq!(north.lat.min, a.lat.max);
        assert_eq!(east.lon.min, a.lon.max);
        assert_eq!(north.lon, a.lon);
    }

    #[test]
    fn estimated_steps() {
        assert_eq!(estimate_steps(0.0, 0.0), 26);
        assert_eq!(estimate_steps(1000.0, 0.0), 14);
        assert_eq!(estimate_steps(1000.0, 70.0), 13);
        assert_eq!(estimate_steps(1000.0, -85.0), 12);
        assert_eq!(estimate_steps(1e9, 0.0), 1);
    }

    #[test]
    fn probe_distances_equal_distance_bit_for_bit() {
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        for _ in 0..20_000 {
            let c = score_to_lonlat((next() % (1 << 52)) as f64);
            let p = score_to_lonlat((next() % (1 << 52)) as f64);
            let w = (next() % 40_000_000) as f64;
            let h = (next() % 40_000_000) as f64;
            let bx = Shape {
                center: c,
                kind: ShapeKind::Box {
                    width: w,
                    height: h,
                },
                conversion: 1.0,
            };
            let want = {
                let lat_d = lat_distance(p[1], c[1]);
                let lon_d = distance(p[0], p[1], c[0], p[1]);
                (lat_d <= h / 2.0 && lon_d <= w / 2.0).then(|| distance(c[0], c[1], p[0], p[1]))
            };
            let got = bx.contains(p);
            assert_eq!(got.map(f64::to_bits), want.map(f64::to_bits), "{c:?} {p:?}");
            let r = Shape {
                kind: ShapeKind::Radius(w),
                ..bx
            };
            let d = distance(c[0], c[1], p[0], p[1]);
            let want = (d <= w || d.is_nan()).then_some(d);
            assert_eq!(r.contains(p).map(f64::to_bits), want.map(f64::to_bits));
        }
    }

    #[test]
    fn the_quick_rejection_never_drops_a_match() {
        let mut rng = 0x0123_4567_89ab_cdefu64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut unit = move || (next() >> 11) as f64 / (1u64 << 53) as f64;
        let mut rejected = 0;
        for i in 0..200_000 {
            let c = [unit() * 360.0 - 180.0, unit() * 170.0 - 85.0];
            // Points near the centre, at every scale, some far away.
            let scale = 10f64.powf(unit() * 7.0 - 6.0);
            let p = score_to_lonlat(lonlat_to_score(
                (c[0] + (unit() - 0.5) * scale * 360.0).clamp(-180.0, 180.0),
                (c[1] + (unit() - 0.5) * scale * 170.0).clamp(-85.0, 85.0),
            ) as f64);
            let size = 10f64.powf(unit() * 7.5) * if i % 2 == 0 { 1.0 } else { 0.001 };
            let conversion = [1.0, 1000.0, 0.3048, 1609.34][i % 4];
            let kind = if i % 3 == 0 {
                ShapeKind::Box {
                    width: size * unit() * 2.0,
                    height: size * unit() * 2.0,
                }
            } else {
                ShapeKind::Radius(size)
            };
            let shape = Shape {
                center: c,
                kind,
                conversion,
            };
            let want = match kind {
                ShapeKind::Radius(r) => {
                    let d = distance(c[0], c[1], p[0], p[1]);
                    (d <= r * conversion || d.is_nan()).then_some(d)
                }
                ShapeKind::Box { width, height } => {
                    let lat_d = lat_distance(p[1], c[1]);
                    let lon_d = distance(p[0], p[1], c[0], p[1]);
                    (lat_d <= height * conversion / 2.0 && lon_d <= width * conversion / 2.0)
                        .then(|| distance(c[0], c[1], p[0], p[1]))
                }
            };
            let probe = shape.probe();
            let got = probe.contains(p);
            assert_eq!(
                got.map(f64::to_bits),
                want.map(f64::to_bits),
                "{shape:?} {p:?}"
            );
            rejected +=
                usize::from(probe.surely_outside(deg_rad(p[0]), deg_rad(p[1]), p[0] - c[0]));
        }
        assert!(rejected > 10_000, "the quick test rejects ({rejected})");
    }

    #[test]
    fn search_finds_points_in_its_cells() {
        // Every point within the radius lies in one of the nine cells.
        let shape = Shape {
            center: [13.5, 38.0],
            kind: ShapeKind::Radius(200.0),
            conversion: 1000.0,
        };
        let cells = shape.cells();
        let mut rng = 0x1234_5678_9abc_def0u64;
        for _ in 0..2000 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let lon = 10.0 + (rng % 7000) as f64 / 1000.0;
            let lat = 35.0 + ((rng >> 20) % 6000) as f64 / 1000.0;
            let score = lonlat_to_score(lon, lat);
            let p = score_to_lonlat(score as f64);
            if shape.contains(p).is_some() {
                let hit = cells.iter().any(|c| {
                    let (lo, hi) = c.score_range();
                    !c.is_zero() && lo <= score && score < hi
                });
                assert!(hit, "{lon} {lat}");
            }
        }
    }
}
