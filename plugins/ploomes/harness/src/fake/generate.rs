//! Reproducible Ploomes data: customers (companies with CNPJs, most carrying the client tag),
//! other contacts, and deals created across 2023–2025 with realistic statuses, amounts and dates,
//! all drawn from one seed by a tiny PRNG (SplitMix64).

use super::dates;
use super::{Contact, Deal};

/// What to generate.
#[derive(Debug, Clone)]
pub struct Generate {
    /// The PRNG seed: the same seed gives the same data.
    pub seed: u64,
    /// Contacts that have deals (each gets at least one).
    pub customers: usize,
    /// Contacts without deals.
    pub other_contacts: usize,
    /// Deals in all.
    pub deals: usize,
    /// The "Cliente" tag most customers carry.
    pub client_tag_id: i64,
    /// Percent of customers without the client tag.
    pub untagged_percent: u64,
    /// Deals sharing one `LastUpdateDate` (a bulk edit): pages must tie-break on `Id`.
    pub bulk_update: usize,
}

impl Generate {
    /// The benchmark and demo data set: 2,000 customers, 200 other contacts, 30,000 deals.
    pub fn benchmark() -> Self {
        Generate {
            seed: 2025,
            customers: 2000,
            other_contacts: 200,
            deals: 30_000,
            client_tag_id: 40_006_184,
            untagged_percent: 10,
            bulk_update: 600,
        }
    }

    /// A small data set for tests: 150 customers, 1,200 deals, a bulk edit of 320 deals (more
    /// than one page of 300).
    pub fn small() -> Self {
        Generate {
            seed: 7,
            customers: 150,
            other_contacts: 20,
            deals: 1200,
            client_tag_id: 40_006_184,
            untagged_percent: 10,
            bulk_update: 320,
        }
    }
}

/// SplitMix64: tiny, fast, and good enough for test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % (hi - lo).max(1) as u64) as i64
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.range(0, items.len() as i64) as usize]
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }
}

const PREFIXES: &[&str] = &[
    "Vinícola",
    "Distribuidora",
    "Comercial",
    "Mercado",
    "Adega",
    "Empório",
    "Restaurante",
    "Hotel",
    "Supermercado",
    "Atacado",
    "Bistrô",
    "Cantina",
];
const WORDS: &[&str] = &[
    "Serra",
    "Vale",
    "Sol",
    "Horizonte",
    "Aurora",
    "Bela Vista",
    "Primavera",
    "Campos",
    "Litoral",
    "Pampa",
    "Araucária",
    "Cerrado",
    "Gaúcha",
    "Paulista",
    "Mineira",
    "Atlântico",
    "Jardim",
    "Ipê",
    "Pinheiro",
    "Porto",
];
const SUFFIXES: &[&str] = &["Ltda", "S.A.", "ME", "EIRELI"];
const PRODUCTS: &[&str] = &[
    "Lote Cabernet",
    "Caixa Malbec",
    "Espumante Brut",
    "Kit Degustação",
    "Reserva Merlot",
    "Contrato Anual",
    "Pedido Chardonnay",
    "Tannat Safra",
];

/// A valid CNPJ (`12.345.678/0001-95`) from 8 random digits.
fn cnpj(rng: &mut Rng) -> String {
    let mut d: Vec<u32> = (0..8).map(|_| rng.range(0, 10) as u32).collect();
    d.extend([0, 0, 0, 1]);
    for weights in [
        &[5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2][..],
        &[6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2][..],
    ] {
        let sum: u32 = d.iter().zip(weights).map(|(a, b)| a * b).sum();
        let r = sum % 11;
        d.push(if r < 2 { 0 } else { 11 - r });
    }
    let s: String = d.iter().map(|x| char::from(b'0' + *x as u8)).collect();
    format!(
        "{}.{}.{}/{}-{}",
        &s[0..2],
        &s[2..5],
        &s[5..8],
        &s[8..12],
        &s[12..14]
    )
}

/// Contacts (customers first) and deals, deals in `Id` order.
pub fn generate(g: &Generate) -> (Vec<Contact>, Vec<Deal>) {
    let mut rng = Rng::new(g.seed);
    let start = dates::ymd(2023, 1, 1) + 3 * 3600;
    let end = dates::ymd(2026, 1, 1) + 3 * 3600 - 1; // 2025-12-31T23:59:59-03:00
    let mut names = std::collections::HashSet::new();
    let mut contacts = Vec::with_capacity(g.customers + g.other_contacts);
    let mut id = 401_000_000;
    for i in 0..g.customers + g.other_contacts {
        id += rng.range(1, 40);
        let mut name = format!(
            "{} {} {}",
            rng.pick(PREFIXES),
            rng.pick(WORDS),
            rng.pick(SUFFIXES)
        );
        if !names.insert(name.clone()) {
            name = format!("{name} {}", i + 1);
            names.insert(name.clone());
        }
        let customer = i < g.customers;
        let mut tag_ids = Vec::new();
        if customer && !rng.chance(g.untagged_percent) {
            tag_ids.push(g.client_tag_id);
        }
        if rng.chance(20) {
            tag_ids.push(g.client_tag_id + 1);
        }
        contacts.push(Contact {
            id,
            name,
            cnpj: (!rng.chance(5)).then(|| cnpj(&mut rng)),
            tag_ids,
            last_update_date: rng.range(start, end),
        });
    }

    // Every customer gets one deal; the rest go mostly to a few big customers.
    let mut owners: Vec<Option<i64>> = contacts[..g.customers].iter().map(|c| Some(c.id)).collect();
    while owners.len() < g.deals {
        if rng.chance(1) {
            owners.push(None); // a deal without a contact
        } else {
            let skew = rng.f64().powf(1.8);
            owners.push(Some(contacts[(skew * g.customers as f64) as usize].id));
        }
    }
    owners.truncate(g.deals);
    let mut deals: Vec<Deal> = owners
        .into_iter()
        .map(|contact_id| {
            let create = rng.range(start, end);
            let mut status_id = match rng.range(0, 100) {
                0..=24 => 1,
                25..=74 => 2,
                _ => 3,
            };
            let mut finish = (status_id != 1).then(|| create + rng.range(86_400, 120 * 86_400));
            if finish.is_some_and(|f| f > end) {
                // Not decided yet at the end of the data's time span.
                status_id = 1;
                finish = None;
            }
            let touched = finish.unwrap_or(create);
            let mut last_update = touched + rng.range(0, 72 * 3600);
            if last_update > end {
                last_update = touched + (end - touched) / 2;
            }
            let pipeline = rng.range(0, 2);
            let amount = match rng.range(0, 100) {
                0 => None, // no amount filled in
                1..=2 => Some(0.0),
                _ => {
                    let log = rng.f64() * (80_000f64 / 500.0).ln();
                    Some(((500.0 * log.exp()) * 100.0).round() / 100.0)
                }
            };
            Deal {
                id: 0,
                title: format!(
                    "{} {}",
                    rng.pick(PRODUCTS),
                    2023 + (create - start) / (365 * 86_400)
                ),
                contact_id,
                amount,
                status_id,
                pipeline_id: 110_000_123 + pipeline,
                stage_id: 110_000_456 + pipeline * 10 + rng.range(0, 5),
                owner_id: 40_012 + rng.range(0, 8),
                create_date: create,
                finish_date: finish,
                last_update_date: last_update,
            }
        })
        .collect();
    deals.sort_by_key(|d| d.create_date);
    let mut next = 400_000_000;
    for d in &mut deals {
        next += rng.range(1, 4);
        d.id = next;
    }
    // A bulk edit: many deals last touched before it, stamped in the same second.
    let bulk_at = dates::ymd(2024, 3, 15) + 13 * 3600;
    let mut eligible: Vec<usize> = (0..deals.len())
        .filter(|&i| deals[i].last_update_date <= bulk_at)
        .collect();
    for k in 0..g.bulk_update.min(eligible.len()) {
        let j = rng.range(k as i64, eligible.len() as i64) as usize;
        eligible.swap(k, j);
        deals[eligible[k]].last_update_date = bulk_at;
    }
    (contacts, deals)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_data_and_valid_cnpjs() {
        let (c1, d1) = generate(&Generate::small());
        let (c2, d2) = generate(&Generate::small());
        assert_eq!(c1, c2);
        assert_eq!(d1, d2);
        assert_eq!(d1.len(), 1200);
        assert_eq!(c1.len(), 170);
        let customers: std::collections::HashSet<_> =
            d1.iter().filter_map(|d| d.contact_id).collect();
        assert_eq!(customers.len(), 150, "every customer has a deal");
        let bulk = dates::ymd(2024, 3, 15) + 13 * 3600;
        assert_eq!(
            d1.iter().filter(|d| d.last_update_date == bulk).count(),
            320
        );
        assert_eq!(cnpj(&mut Rng::new(1)).len(), 18);
    }
}
