//! The Commerce7 records the fake keeps (clubs, customers, club memberships, orders), their enums, date handling, and their JSON as the real API writes it.

use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use serde_json::{json, Map, Value};

/// Commerce7 dates as the API writes them: UTC with milliseconds, `2020-01-22T19:50:37.096Z`.
pub fn format_date(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// A date from a request: RFC 3339 with any offset, or a bare `YYYY-MM-DD` (midnight UTC, as
/// list filters such as `createdAt=gte:2024-01-01` use). Truncated to milliseconds, the
/// precision the API keeps.
pub fn parse_date(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(s) {
        return Some(at.with_timezone(&Utc).trunc_subsecs(3));
    }
    let day = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    Some(day.and_hms_opt(0, 0, 0)?.and_utc())
}

fn date_json(at: Option<DateTime<Utc>>) -> Value {
    at.map_or(Value::Null, |t| Value::String(format_date(t)))
}

fn text_json(s: &Option<String>) -> Value {
    s.as_ref().map_or(Value::Null, |v| Value::String(v.clone()))
}

/// A club's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClubType {
    /// Shipments the winery picks (the classic wine club).
    Traditional,
    /// A recurring subscription the member configures.
    Subscription,
}

impl ClubType {
    /// The API's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ClubType::Traditional => "Traditional",
            ClubType::Subscription => "Subscription",
        }
    }
}

/// A wine club (the fake's generator makes tiers such as Silver, Gold, Platinum).
#[derive(Debug, Clone, PartialEq)]
pub struct Club {
    /// UUID.
    pub id: String,
    /// Display name.
    pub title: String,
    /// URL slug, unique per tenant.
    pub slug: String,
    /// Traditional or Subscription.
    pub club_type: ClubType,
    /// When the club was created.
    pub created_at: DateTime<Utc>,
    /// When the club last changed.
    pub updated_at: DateTime<Utc>,
}

impl Club {
    /// The club as `GET /v1/club/{id}` answers it.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "title": self.title,
            "slug": self.slug,
            "type": self.club_type.as_str(),
            "content": null,
            "publishDate": format_date(self.created_at),
            "webStatus": "Available",
            "adminStatus": "Available",
            "seo": { "title": self.title, "description": null },
            "createdAt": format_date(self.created_at),
            "updatedAt": format_date(self.updated_at),
        })
    }

    /// The `{id, title, slug}` summary a membership embeds.
    pub fn summary_json(&self) -> Value {
        json!({ "id": self.id, "title": self.title, "slug": self.slug })
    }
}

/// An email address or phone number of a customer, each with its own id as in the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// UUID.
    pub id: String,
    /// The address or number (`+17783477874`).
    pub value: String,
}

/// A customer. `order_count`, `lifetime_value` and `last_order_date` are derived from the
/// tenant's orders (see [`Commerce7Data::add_paid_order`](super::Commerce7Data::add_paid_order));
/// `clubs[]` in its JSON comes from its active memberships.
#[derive(Debug, Clone, PartialEq)]
pub struct Customer {
    /// UUID.
    pub id: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// Email addresses, first is primary.
    pub emails: Vec<Contact>,
    /// Phone numbers.
    pub phones: Vec<Contact>,
    /// City of the default address.
    pub city: String,
    /// Two-letter state code.
    pub state_code: String,
    /// Postal code.
    pub zip_code: String,
    /// Subscribed or Unsubscribed.
    pub email_marketing_status: String,
    /// When the customer was created.
    pub created_at: DateTime<Utc>,
    /// When the customer last changed (orders and memberships touch it too).
    pub updated_at: DateTime<Utc>,
    /// Paid orders.
    pub order_count: u32,
    /// Sum of paid order totals, in cents.
    pub lifetime_value: i64,
    /// The latest paid order's paid date.
    pub last_order_date: Option<DateTime<Utc>>,
}

/// A club membership's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MembershipStatus {
    /// A current member.
    Active,
    /// Ended (`cancelDate` set).
    Cancelled,
    /// Paused.
    OnHold,
}

impl MembershipStatus {
    /// The API's spelling (`On Hold` has a space).
    pub fn as_str(self) -> &'static str {
        match self {
            MembershipStatus::Active => "Active",
            MembershipStatus::Cancelled => "Cancelled",
            MembershipStatus::OnHold => "On Hold",
        }
    }

    /// From the API's spelling (exact, case-sensitive).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Active" => Some(MembershipStatus::Active),
            "Cancelled" => Some(MembershipStatus::Cancelled),
            "On Hold" => Some(MembershipStatus::OnHold),
            _ => None,
        }
    }
}

/// How a member receives club shipments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryMethod {
    /// Picked up at the winery.
    Pickup,
    /// Shipped to the member.
    Ship,
}

impl DeliveryMethod {
    /// The API's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryMethod::Pickup => "Pickup",
            DeliveryMethod::Ship => "Ship",
        }
    }

    /// From the API's spelling (exact).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Pickup" => Some(DeliveryMethod::Pickup),
            "Ship" => Some(DeliveryMethod::Ship),
            _ => None,
        }
    }
}

/// A customer's membership of a club.
#[derive(Debug, Clone, PartialEq)]
pub struct Membership {
    /// UUID.
    pub id: String,
    /// The member.
    pub customer_id: String,
    /// The club.
    pub club_id: String,
    /// Active, Cancelled or On Hold.
    pub status: MembershipStatus,
    /// Pickup or Ship.
    pub order_delivery_method: DeliveryMethod,
    /// When the membership started.
    pub signup_date: DateTime<Utc>,
    /// When it ended (set by a cancel).
    pub cancel_date: Option<DateTime<Utc>>,
    /// Why it ended ("Switching to another club").
    pub cancellation_reason: Option<String>,
    /// Passed through from the create call.
    pub bill_to_customer_address_id: Option<String>,
    /// Passed through from the create call.
    pub ship_to_customer_address_id: Option<String>,
    /// Passed through from the create call.
    pub pickup_inventory_location_id: Option<String>,
    /// Passed through from the create call.
    pub customer_credit_card_id: Option<String>,
    /// Free-form `metaData` object, replaced whole by a PUT that carries it.
    pub meta_data: Map<String, Value>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl Membership {
    /// The membership as the API answers it, embedding `club` `{id, title, slug}` when known.
    pub fn to_json(&self, club: Option<&Club>) -> Value {
        json!({
            "status": self.status.as_str(),
            "id": self.id,
            "customerId": self.customer_id,
            "clubId": self.club_id,
            "orderDeliveryMethod": self.order_delivery_method.as_str(),
            "billToCustomerAddressId": text_json(&self.bill_to_customer_address_id),
            "shipToCustomerAddressId": text_json(&self.ship_to_customer_address_id),
            "pickupInventoryLocationId": text_json(&self.pickup_inventory_location_id),
            "customerCreditCardId": text_json(&self.customer_credit_card_id),
            "signupDate": format_date(self.signup_date),
            "cancelDate": date_json(self.cancel_date),
            "cancellationReason": text_json(&self.cancellation_reason),
            "lastProcessedDate": null,
            "currentNumberOfShipments": 0,
            "metaData": self.meta_data,
            "createdAt": format_date(self.created_at),
            "updatedAt": format_date(self.updated_at),
            "club": club.map_or(Value::Null, Club::summary_json),
            "onHolds": [],
        })
    }
}

/// An order's payment state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentStatus {
    /// Charged (`orderPaidDate` set).
    Paid,
    /// Card authorised, not captured (no paid date).
    Authorized,
    /// Voided.
    Cancelled,
}

impl PaymentStatus {
    /// The API's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Paid => "Paid",
            PaymentStatus::Authorized => "Authorized",
            PaymentStatus::Cancelled => "Cancelled",
        }
    }
}

/// Where an order was placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// Phone or email order keyed in by staff.
    Inbound,
    /// The web store.
    Web,
    /// The tasting-room point of sale.
    Pos,
    /// A club shipment.
    Club,
}

impl Channel {
    /// The API's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Inbound => "Inbound",
            Channel::Web => "Web",
            Channel::Pos => "POS",
            Channel::Club => "Club",
        }
    }
}

/// One line of an order. Money in cents.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderItem {
    /// UUID.
    pub id: String,
    /// The product's title.
    pub product_title: String,
    /// The SKU.
    pub sku: String,
    /// Units.
    pub quantity: u32,
    /// Unit price in cents.
    pub price: i64,
}

/// An order. Money in integer cents.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    /// UUID.
    pub id: String,
    /// The tenant's sequential order number.
    pub order_number: u64,
    /// When it was submitted.
    pub order_submitted_date: DateTime<Utc>,
    /// When it was paid (none unless Paid).
    pub order_paid_date: Option<DateTime<Utc>>,
    /// Paid, Authorized or Cancelled.
    pub payment_status: PaymentStatus,
    /// Inbound, Web, POS or Club.
    pub channel: Channel,
    /// The buyer.
    pub customer_id: String,
    /// Before tax, in cents.
    pub sub_total: i64,
    /// Tax, in cents.
    pub tax_total: i64,
    /// `sub_total + tax_total`, in cents.
    pub total: i64,
    /// The lines.
    pub items: Vec<OrderItem>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed: the key of `GET /v1/order` paging.
    pub updated_at: DateTime<Utc>,
}

impl Order {
    /// The order as `GET /v1/order/{id}` answers it.
    pub fn to_json(&self) -> Value {
        let items: Vec<Value> = self
            .items
            .iter()
            .map(|i| {
                json!({
                    "id": i.id,
                    "productTitle": i.product_title,
                    "sku": i.sku,
                    "quantity": i.quantity,
                    "price": i.price,
                    "originalPrice": i.price,
                })
            })
            .collect();
        json!({
            "id": self.id,
            "orderNumber": self.order_number,
            "orderSubmittedDate": format_date(self.order_submitted_date),
            "orderPaidDate": date_json(self.order_paid_date),
            "paymentStatus": self.payment_status.as_str(),
            "channel": self.channel.as_str(),
            "customerId": self.customer_id,
            "subTotal": self.sub_total,
            "taxTotal": self.tax_total,
            "total": self.total,
            "items": items,
            "createdAt": format_date(self.created_at),
            "updatedAt": format_date(self.updated_at),
        })
    }
}

/// The customer JSON, with `clubs[]` built from `active` (its Active memberships, with their
/// clubs) and `currentClubTitle` from the most recent of them.
pub(super) fn customer_json(c: &Customer, active: &[(&Membership, Option<&Club>)]) -> Value {
    let clubs: Vec<Value> = active
        .iter()
        .map(|(m, club)| {
            json!({
                "clubId": m.club_id,
                "clubTitle": club.map(|c| c.title.clone()),
                "cancelDate": date_json(m.cancel_date),
                "signupDate": format_date(m.signup_date),
                "clubMembershipId": m.id,
            })
        })
        .collect();
    let current = active
        .iter()
        .max_by_key(|(m, _)| (m.signup_date, m.id.as_str()))
        .and_then(|(_, club)| club.map(|c| c.title.clone()));
    let contacts = |list: &[Contact], key: &str| -> Vec<Value> {
        list.iter()
            .map(|x| json!({ "id": x.id, key: x.value }))
            .collect()
    };
    json!({
        "id": c.id,
        "honorific": null,
        "firstName": c.first_name,
        "lastName": c.last_name,
        "birthDate": null,
        "city": c.city,
        "stateCode": c.state_code,
        "zipCode": c.zip_code,
        "countryCode": "US",
        "emailMarketingStatus": c.email_marketing_status,
        "createdAt": format_date(c.created_at),
        "updatedAt": format_date(c.updated_at),
        "orderInformation": {
            "lastOrderDate": date_json(c.last_order_date),
            "orderCount": c.order_count,
            "lifetimeValue": c.lifetime_value,
            "currentClubTitle": current,
        },
        "emails": contacts(&c.emails, "email"),
        "phones": contacts(&c.phones, "phone"),
        "tags": [],
        "clubs": clubs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_in_utc_milliseconds() {
        let t = parse_date("2025-01-05T02:11:12.345-08:00").expect("a date");
        assert_eq!(format_date(t), "2025-01-05T10:11:12.345Z");
        let d = parse_date("2024-03-01").expect("a day");
        assert_eq!(format_date(d), "2024-03-01T00:00:00.000Z");
        assert_eq!(parse_date("yesterday"), None);
        assert_eq!(parse_date("2024-13-01"), None);
    }
}
