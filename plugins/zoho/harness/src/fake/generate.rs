//! Reproducible CRM data: wine products and web leads created across 2024–2025, drawn from one
//! seed by a tiny PRNG (SplitMix64), so a test can ask for 2,500 leads and get the same ones
//! every run.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

/// SplitMix64: tiny, fast, and good enough for test data and token strings.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator starting from `seed` (the same seed gives the same sequence).
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// One item of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// One generated record before it gets an id.
pub(super) struct Generated {
    pub(super) created: DateTime<Utc>,
    pub(super) modified: DateTime<Utc>,
    pub(super) values: Map<String, Value>,
}

/// 2024-01-01T00:00:00Z: generated records are created from here on.
const START: i64 = 1_704_067_200;
/// Generated creation times spread over 540 days.
const SPAN_SECS: i64 = 540 * 86_400;
/// A generated record was last modified up to 30 days after it was created.
const EDIT_SECS: u64 = 30 * 86_400;

/// Creation and modification times for record `i` of `n`: creation times increase with `i`
/// (like Zoho ids, which grow with creation), modification follows creation.
fn times(rng: &mut Rng, i: usize, n: usize) -> (DateTime<Utc>, DateTime<Utc>) {
    let step = (SPAN_SECS / n.max(1) as i64).max(2);
    let created = START + step * i as i64 + rng.below(step as u64 / 2) as i64;
    let modified = created + rng.below(EDIT_SECS) as i64;
    let at = |s: i64| DateTime::from_timestamp(s, 0).unwrap_or_default();
    (at(created), at(modified))
}

const STYLES: &[(&str, &str)] = &[
    ("Cabernet Sauvignon", "Red Wine"),
    ("Merlot", "Red Wine"),
    ("Pinot Noir", "Red Wine"),
    ("Malbec", "Red Wine"),
    ("Syrah", "Red Wine"),
    ("Touriga Nacional", "Red Wine"),
    ("Chardonnay", "White Wine"),
    ("Sauvignon Blanc", "White Wine"),
    ("Riesling", "White Wine"),
    ("Alvarinho", "White Wine"),
    ("Rosé", "Rosé"),
    ("Brut Sparkling", "Sparkling"),
];
const TIERS: &[&str] = &[
    "Reserve",
    "Estate",
    "Classic",
    "Grand Cru",
    "Vineyard Select",
];
const SIZES: &[&str] = &["375ml", "750ml", "1.5L"];
const UNITS: &[&str] = &["Each", "Box", "Dozen"];

/// `n` products numbered from `first` (codes `WINE-00001`, … stay unique across calls).
pub(super) fn products(n: usize, seed: u64, first: usize) -> Vec<Generated> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|i| {
            let (created, modified) = times(&mut rng, i, n);
            let number = first + i + 1;
            let (style, category) = *rng.pick(STYLES);
            let tier = *rng.pick(TIERS);
            let size = *rng.pick(SIZES);
            let vintage = 2015 + rng.below(9);
            let cents = 1200 + rng.below(24_000);
            let values = json!({
                "Product_Name": format!("{tier} {style} {vintage} {size}"),
                "Product_Code": format!("WINE-{number:05}"),
                "Product_Active": rng.below(10) != 0,
                "Unit_Price": cents as f64 / 100.0,
                "Product_Category": category,
                "Manufacturer": "Quinta do Vale",
                "Taxable": true,
                "Qty_in_Stock": rng.below(500),
                "Usage_Unit": *rng.pick(UNITS),
                "Description": format!("{style} from the {vintage} vintage, {size}."),
            });
            Generated {
                created,
                modified,
                values: into_map(values),
            }
        })
        .collect()
}

const FIRST_NAMES: &[&str] = &[
    "Ana", "Bruno", "Carla", "Diego", "Elena", "Felipe", "Gabriela", "Hugo", "Isabel", "João",
    "Karen", "Lucas", "Marina", "Nuno", "Olivia", "Pedro", "Rita", "Sofia", "Tiago", "Vera",
];
const LAST_NAMES: &[&str] = &[
    "Almeida", "Barros", "Costa", "Dias", "Esteves", "Ferreira", "Gomes", "Lima", "Martins",
    "Nogueira", "Oliveira", "Pereira", "Queiroz", "Ribeiro", "Santos", "Teixeira",
];
const COMPANIES: &[&str] = &[
    "Adega Central",
    "Bistro Lumière",
    "Casa do Vinho",
    "Douro Imports",
    "Enoteca Roma",
    "Fine Cellars Ltd",
    "Garrafeira Nacional",
];
const SOURCES: &[&str] = &[
    "Web Download",
    "Online Store",
    "Advertisement",
    "Trade Show",
    "Partner",
];
const STATUSES: &[&str] = &[
    "Not Contacted",
    "Attempted to Contact",
    "Contacted",
    "Pre-Qualified",
];

/// `n` leads numbered from `first` (emails and `Portal_Lead_Id`s stay unique across calls).
pub(super) fn leads(n: usize, seed: u64, first: usize) -> Vec<Generated> {
    let mut rng = Rng::new(seed ^ 0x1EAD);
    (0..n)
        .map(|i| {
            let (created, modified) = times(&mut rng, i, n);
            let number = first + i + 1;
            let first_name = *rng.pick(FIRST_NAMES);
            let last_name = *rng.pick(LAST_NAMES);
            let values = json!({
                "First_Name": first_name,
                "Last_Name": last_name,
                "Email": format!("{}.{}.{number}@example.com", ascii(first_name), ascii(last_name)),
                "Phone": format!("+1-555-{:03}-{:04}", rng.below(1000), rng.below(10_000)),
                "Company": *rng.pick(COMPANIES),
                "Lead_Source": *rng.pick(SOURCES),
                "Lead_Status": *rng.pick(STATUSES),
                "Portal_Lead_Id": format!("PL-{number:06}"),
            });
            Generated {
                created,
                modified,
                values: into_map(values),
            }
        })
        .collect()
}

/// Lower-case ASCII for an email address (`João` → `joao`).
fn ascii(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            'ã' | 'á' | 'à' | 'â' => 'a',
            'é' | 'ê' => 'e',
            'í' => 'i',
            'ó' | 'ô' | 'õ' => 'o',
            'ú' => 'u',
            'ç' => 'c',
            c => c,
        })
        .collect::<String>()
        .to_ascii_lowercase()
}

fn into_map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_records_and_times_grow() {
        let a = leads(50, 3, 0);
        let b = leads(50, 3, 0);
        assert_eq!(a.len(), 50);
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.values, y.values);
            assert_eq!(x.created, y.created);
            assert!(x.modified >= x.created);
        }
        assert!(a.windows(2).all(|w| w[0].created < w[1].created));
        assert_eq!(a[0].values["Portal_Lead_Id"], "PL-000001");
        assert_eq!(products(3, 1, 10)[0].values["Product_Code"], "WINE-00011");
    }
}
