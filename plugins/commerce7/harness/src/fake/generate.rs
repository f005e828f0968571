//! Reproducible Commerce7 data: tiered clubs (Silver, Gold, Platinum, …), customers whose lifetime values come from their generated orders, and memberships (some cancelled), all drawn from one seed.

use super::data::{
    Channel, Club, ClubType, Contact, Customer, DeliveryMethod, Membership, MembershipStatus,
    Order, OrderItem, PaymentStatus,
};
use super::tenant::refresh_all;
use chrono::{DateTime, Duration, Utc};
use serde_json::Map;
use std::collections::HashMap;

/// A tenant's records, as [`generate`] makes them or a test builds them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dataset {
    /// The clubs.
    pub clubs: Vec<Club>,
    /// The customers (order information already derived from `orders`).
    pub customers: Vec<Customer>,
    /// The club memberships.
    pub memberships: Vec<Membership>,
    /// The orders, in order-number order.
    pub orders: Vec<Order>,
}

/// SplitMix64: tiny, fast, and good enough for test data.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator starting at `seed`.
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
        let span = u64::try_from(hi - lo).unwrap_or(0).max(1);
        lo + i64::try_from(self.next_u64() % span).unwrap_or(0)
    }

    /// True `percent` times in 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    /// One of `items` (which must not be empty).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        let i = usize::try_from(self.next_u64() % items.len().max(1) as u64).unwrap_or(0);
        &items[i]
    }

    /// A random version-4 UUID, lower-case.
    pub fn uuid(&mut self) -> String {
        let a = self.next_u64();
        let b = self.next_u64();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:x}{:03x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            8 + (b >> 62),
            (b >> 48) & 0xfff,
            b & 0xffff_ffff_ffff
        )
    }
}

const TIERS: &[&str] = &[
    "Silver",
    "Gold",
    "Platinum",
    "Reserve",
    "Collectors",
    "Sparkling",
    "Cellar",
    "Library",
];
const FIRST: &[&str] = &[
    "Jason", "Maria", "Olivia", "Liam", "Emma", "Noah", "Ava", "Lucas", "Mia", "Ethan", "Sofia",
    "Mason", "Chloe", "Logan", "Grace", "Henry", "Ella", "Jack", "Lily", "Owen",
];
const LAST: &[&str] = &[
    "Andres", "Smith", "Garcia", "Nguyen", "Johnson", "Brown", "Martinez", "Lee", "Walker", "Hall",
    "Young", "King", "Wright", "Lopez", "Hill", "Scott", "Green", "Adams", "Baker", "Nelson",
];
const CITIES: &[(&str, &str, &str)] = &[
    ("Napa", "CA", "94558"),
    ("Sonoma", "CA", "95476"),
    ("Healdsburg", "CA", "95448"),
    ("Portland", "OR", "97201"),
    ("Seattle", "WA", "98101"),
    ("Austin", "TX", "78701"),
    ("Denver", "CO", "80202"),
    ("Chicago", "IL", "60601"),
];
const PRODUCTS: &[(&str, &str, i64)] = &[
    ("Cabernet Sauvignon 2019", "CS19", 6_500),
    ("Chardonnay 2022", "CH22", 3_200),
    ("Pinot Noir 2021", "PN21", 4_800),
    ("Sauvignon Blanc 2023", "SB23", 2_600),
    ("Reserve Merlot 2018", "RM18", 8_900),
    ("Brut Rosé NV", "BRNV", 4_200),
];
const REASONS: &[&str] = &[
    "Too much wine",
    "Financial reasons",
    "Moving",
    "Switching to another club",
    "Other",
];

/// Midnight UTC of a date in the generated span (constants, so the data never depends on today).
fn day(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    chrono::NaiveDate::from_ymd_opt(y, m, d)
        .and_then(|n| n.and_hms_opt(0, 0, 0))
        .map_or(DateTime::UNIX_EPOCH, |n| n.and_utc())
}

fn at(rng: &mut Rng, from: DateTime<Utc>, to: DateTime<Utc>) -> DateTime<Utc> {
    let span = (to - from).num_seconds().max(1);
    from + Duration::seconds(rng.range(0, span)) + Duration::milliseconds(rng.range(0, 1000))
}

/// `clubs` clubs (tiers Silver, Gold, Platinum first), `customers` customers with 0–8 orders
/// each (most paid, some authorised or cancelled), and a membership for about 40% of them
/// (about one in six cancelled). Dates fall in 2021–2025. The same seed gives the same data.
pub fn generate(seed: u64, customers: usize, clubs: usize) -> Dataset {
    let mut rng = Rng::new(seed);
    let start = day(2021, 1, 1);
    let end = day(2025, 6, 30);
    let club_list: Vec<Club> = (0..clubs)
        .map(|i| {
            let title = match TIERS.get(i) {
                Some(t) => format!("{t} Club"),
                None => format!("Club {}", i + 1),
            };
            let created = start - Duration::days(200) + Duration::days(i as i64);
            Club {
                id: rng.uuid(),
                slug: title.to_lowercase().replace(' ', "-"),
                title,
                club_type: if i % 4 == 3 {
                    ClubType::Subscription
                } else {
                    ClubType::Traditional
                },
                created_at: created,
                updated_at: created,
            }
        })
        .collect();
    let mut data = Dataset {
        clubs: club_list,
        ..Dataset::default()
    };
    for i in 0..customers {
        let (first, last) = (*rng.pick(FIRST), *rng.pick(LAST));
        let (city, state, zip) = *rng.pick(CITIES);
        let created = at(&mut rng, start, end - Duration::days(60));
        let id = rng.uuid();
        data.customers.push(Customer {
            first_name: first.to_owned(),
            last_name: last.to_owned(),
            emails: vec![Contact {
                id: rng.uuid(),
                value: format!("{}.{}{}@example.com", first, last, i + 1).to_lowercase(),
            }],
            phones: vec![Contact {
                id: rng.uuid(),
                value: format!("+1707555{:04}", i % 10_000),
            }],
            city: city.to_owned(),
            state_code: state.to_owned(),
            zip_code: zip.to_owned(),
            email_marketing_status: if rng.chance(70) {
                "Subscribed"
            } else {
                "Unsubscribed"
            }
            .to_owned(),
            created_at: created,
            updated_at: created,
            order_count: 0,
            lifetime_value: 0,
            last_order_date: None,
            id: id.clone(),
        });
        // Skewed: most buy a little, a few buy a lot (the Platinum candidates).
        let orders = match rng.range(0, 100) {
            0..=19 => 0,
            20..=69 => rng.range(1, 3),
            70..=94 => rng.range(3, 6),
            _ => rng.range(6, 9),
        };
        for _ in 0..orders {
            data.orders.push(random_order(&mut rng, &id, created, end));
        }
        if !data.clubs.is_empty() && rng.chance(40) {
            // Lower tiers are more common.
            let tier = (rng.range(0, 100) as f64 / 100.0).powi(2) * data.clubs.len() as f64;
            let club = &data.clubs[(tier as usize).min(data.clubs.len() - 1)];
            let signup = at(&mut rng, created, end - Duration::days(30));
            let cancelled = rng.chance(16);
            let cancel_date = cancelled.then(|| at(&mut rng, signup, end));
            data.memberships.push(Membership {
                id: rng.uuid(),
                customer_id: id.clone(),
                club_id: club.id.clone(),
                status: if cancelled {
                    MembershipStatus::Cancelled
                } else {
                    MembershipStatus::Active
                },
                order_delivery_method: if rng.chance(70) {
                    DeliveryMethod::Ship
                } else {
                    DeliveryMethod::Pickup
                },
                signup_date: signup,
                cancel_date,
                cancellation_reason: cancelled.then(|| (*rng.pick(REASONS)).to_owned()),
                bill_to_customer_address_id: Some(rng.uuid()),
                ship_to_customer_address_id: None,
                pickup_inventory_location_id: None,
                customer_credit_card_id: Some(rng.uuid()),
                meta_data: Map::new(),
                created_at: signup,
                updated_at: cancel_date.unwrap_or(signup),
            });
        }
    }
    data.orders.sort_by_key(|o| o.order_submitted_date);
    for (n, o) in data.orders.iter_mut().enumerate() {
        o.order_number = 1001 + n as u64;
    }
    let mut touched: HashMap<String, DateTime<Utc>> = HashMap::new();
    for m in &data.memberships {
        let at = touched.entry(m.customer_id.clone()).or_insert(m.updated_at);
        *at = (*at).max(m.updated_at);
    }
    refresh_all(data.customers.iter_mut(), data.orders.iter());
    for c in &mut data.customers {
        // Orders and memberships touch the customer (its order information and `clubs[]`),
        // so it was last updated no earlier than its latest paid order or membership change.
        let latest = touched
            .get(&c.id)
            .copied()
            .into_iter()
            .chain(c.last_order_date)
            .max();
        c.updated_at = c.updated_at.max(latest.unwrap_or(c.created_at));
    }
    data
}

/// An order for `customer_id` submitted between `after` and `end` (numbered later, by date).
fn random_order(
    rng: &mut Rng,
    customer_id: &str,
    after: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Order {
    let submitted = at(rng, after, end);
    let lines = rng.range(1, 4);
    let items: Vec<OrderItem> = (0..lines)
        .map(|_| {
            let (title, sku, price) = *rng.pick(PRODUCTS);
            OrderItem {
                id: rng.uuid(),
                product_title: title.to_owned(),
                sku: sku.to_owned(),
                quantity: u32::try_from(rng.range(1, 13)).unwrap_or(1),
                price,
            }
        })
        .collect();
    let sub_total: i64 = items.iter().map(|i| i.price * i64::from(i.quantity)).sum();
    let tax_total = sub_total * 8 / 100;
    let payment_status = match rng.range(0, 100) {
        0..=87 => PaymentStatus::Paid,
        88..=94 => PaymentStatus::Authorized,
        _ => PaymentStatus::Cancelled,
    };
    let paid = (payment_status == PaymentStatus::Paid)
        .then(|| submitted + Duration::seconds(rng.range(0, 120)));
    let updated = paid.unwrap_or(submitted) + Duration::seconds(rng.range(0, 3 * 86_400));
    Order {
        id: rng.uuid(),
        order_number: 0,
        order_submitted_date: submitted,
        order_paid_date: paid,
        payment_status,
        channel: *rng.pick(&[Channel::Web, Channel::Pos, Channel::Inbound, Channel::Club]),
        customer_id: customer_id.to_owned(),
        sub_total,
        tax_total,
        total: sub_total + tax_total,
        items,
        created_at: submitted,
        updated_at: updated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_data_with_consistent_lifetime_values() {
        let a = generate(7, 200, 3);
        assert_eq!(a, generate(7, 200, 3));
        assert_ne!(a, generate(8, 200, 3));
        let titles: Vec<&str> = a.clubs.iter().map(|c| c.title.as_str()).collect();
        assert_eq!(titles, ["Silver Club", "Gold Club", "Platinum Club"]);
        assert_eq!(a.customers.len(), 200);
        assert!(a.memberships.len() > 40 && a.memberships.len() < 120);
        for c in &a.customers {
            let paid: i64 = a
                .orders
                .iter()
                .filter(|o| o.customer_id == c.id && o.payment_status == PaymentStatus::Paid)
                .map(|o| o.total)
                .sum();
            assert_eq!(c.lifetime_value, paid);
        }
        assert!(a.customers.iter().any(|c| c.lifetime_value > 100_000));
        assert_eq!(Rng::new(1).uuid().len(), 36);
    }
}
