//! Reproducible portal leads (Brazilian names, e-mails, WhatsApp numbers, sources, statuses,
//! Zoho ids) drawn from one seed by a tiny PRNG (SplitMix64), plus uuid helpers.

use super::time;
use super::Lead;
use chrono::{DateTime, Duration, TimeZone, Utc};

/// SplitMix64: tiny, fast, and good enough for test data.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator starting from `seed`: the same seed gives the same sequence.
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

    /// Uniform in `[lo, hi)` (`lo` when the range is empty).
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % (hi - lo).max(1) as u64) as i64
    }

    /// True with probability `percent`/100.
    pub fn percent(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    /// One of `items`, each with its weight.
    fn weighted<'a>(&mut self, items: &[(&'a str, u64)]) -> &'a str {
        let total: u64 = items.iter().map(|(_, w)| w).sum();
        let mut pick = self.next_u64() % total.max(1);
        for (item, w) in items {
            if pick < *w {
                return item;
            }
            pick -= w;
        }
        items.last().map_or("", |(i, _)| i)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next_u64() % items.len() as u64) as usize]
    }
}

const FIRST: &[&str] = &[
    "Ana",
    "Bruno",
    "Carla",
    "Diego",
    "Eduarda",
    "Felipe",
    "Gabriela",
    "Henrique",
    "Isabela",
    "João",
    "Larissa",
    "Marcos",
    "Natália",
    "Otávio",
    "Paula",
    "Rafael",
    "Sofia",
    "Thiago",
    "Vitória",
    "Lucas",
    "Mariana",
    "Conceição",
];
const LAST: &[&str] = &[
    "Souza",
    "Lima",
    "Silva",
    "Santos",
    "Oliveira",
    "Pereira",
    "Costa",
    "Rodrigues",
    "Almeida",
    "Nascimento",
    "Ferreira",
    "Araújo",
    "Gomes",
    "Ribeiro",
    "Carvalho",
    "Magalhães",
];
const DOMAINS: &[&str] = &[
    "gmail.com",
    "hotmail.com",
    "outlook.com",
    "yahoo.com.br",
    "empresa.com.br",
];
const AREA_CODES: &[&str] = &["11", "21", "31", "41", "48", "51", "61", "71", "81", "85"];
const SOURCES: &[(&str, u64)] = &[
    ("landing-page", 35),
    ("whatsapp", 25),
    ("instagram", 15),
    ("google-ads", 12),
    ("indicacao", 8),
    ("evento", 5),
];
const STATUSES: &[(&str, u64)] = &[
    ("new", 40),
    ("contacted", 25),
    ("qualified", 15),
    ("converted", 12),
    ("lost", 8),
];

/// The instant a fifth of the generated leads share: a CSV import, so that a keyset page
/// boundary falls inside a run of equal `created_at` values.
pub(super) fn bulk_import_at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 10, 14, 30, 0)
        .single()
        .unwrap_or_default()
}

/// `n` leads in heap order: by creation, then the ones updated later moved to the end in update
/// order (as new tuple versions land at the end of the heap).
pub(super) fn generate(rng: &mut Rng, n: usize) -> Vec<Lead> {
    let start = Utc
        .with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    let span_micros = 181 * 86_400 * 1_000_000_i64;
    let bulk = if n >= 10 { n / 5 } else { 0 };
    let mut leads: Vec<Lead> = (0..n)
        .map(|i| {
            let created_at = if i < bulk {
                bulk_import_at()
            } else {
                let micros = rng.range(0, span_micros);
                // Whole seconds, milliseconds and microseconds, so renderings vary in length.
                let micros = match rng.next_u64() % 4 {
                    0 => micros - micros % 1_000_000,
                    1 => micros - micros % 1_000,
                    _ => micros,
                };
                start + Duration::microseconds(micros)
            };
            lead(rng, created_at)
        })
        .collect();
    leads.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    let (mut fresh, mut updated): (Vec<Lead>, Vec<Lead>) = leads
        .into_iter()
        .partition(|l| l.updated_at == l.created_at);
    updated.sort_by(|a, b| (a.updated_at, &a.id).cmp(&(b.updated_at, &b.id)));
    fresh.extend(updated);
    fresh
}

fn lead(rng: &mut Rng, created_at: DateTime<Utc>) -> Lead {
    let first = rng.pick(FIRST);
    let last = rng.pick(LAST);
    let email = (!rng.percent(8)).then(|| {
        format!(
            "{}.{}{}@{}",
            ascii_fold(first),
            ascii_fold(last),
            rng.range(1, 1000),
            rng.pick(DOMAINS)
        )
    });
    let phone = (!rng.percent(20)).then(|| {
        format!(
            "+55{}9{:08}",
            rng.pick(AREA_CODES),
            rng.range(0, 100_000_000)
        )
    });
    let source = rng.weighted(SOURCES).to_owned();
    let status = rng.weighted(STATUSES).to_owned();
    let zoho_lead_id = (matches!(status.as_str(), "qualified" | "converted") && rng.percent(90))
        .then(|| format!("5725767{:012}", rng.range(0, 1_000_000_000_000)));
    let updated_at = if rng.percent(30) {
        created_at + Duration::microseconds(rng.range(1, 60 * 86_400 * 1_000_000))
    } else {
        created_at
    };
    Lead {
        id: uuid_v4(rng),
        name: format!("{first} {last}"),
        email,
        phone,
        source,
        status,
        zoho_lead_id,
        created_at,
        updated_at,
    }
}

/// Lowercase ASCII of a name, for e-mail addresses.
fn ascii_fold(s: &str) -> String {
    s.chars()
        .map(|c| match c.to_lowercase().next().unwrap_or(c) {
            'á' | 'à' | 'â' | 'ã' => 'a',
            'é' | 'ê' => 'e',
            'í' => 'i',
            'ó' | 'ô' | 'õ' => 'o',
            'ú' => 'u',
            'ç' => 'c',
            other => other,
        })
        .collect()
}

/// A random (version 4) uuid, lowercase with hyphens.
pub(super) fn uuid_v4(rng: &mut Rng) -> String {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&rng.next_u64().to_be_bytes());
    b[8..].copy_from_slice(&rng.next_u64().to_be_bytes());
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// The canonical text of a uuid literal as Postgres reads it (any case, optional braces,
/// hyphens optional), or `None` where Postgres answers `invalid input syntax for type uuid`.
pub(super) fn normalize_uuid(s: &str) -> Option<String> {
    let s = s.trim();
    let s = s
        .strip_prefix('{')
        .and_then(|x| x.strip_suffix('}'))
        .unwrap_or(s);
    if s.starts_with('-') || s.ends_with('-') || s.contains("--") {
        return None;
    }
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let hex = hex.to_ascii_lowercase();
    Some(format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    ))
}

/// A lead as the table would store it: canonical uuid, microsecond timestamps.
pub(super) fn truncate_lead(mut lead: Lead) -> Lead {
    if let Some(id) = normalize_uuid(&lead.id) {
        lead.id = id;
    }
    lead.created_at = time::truncate(lead.created_at);
    lead.updated_at = time::truncate(lead.updated_at);
    lead
}
