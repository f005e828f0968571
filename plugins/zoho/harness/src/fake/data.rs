//! The CRM's records: the two modules the fake serves and their fields, stored records and
//! deleted ones, how they render as Zoho JSON, and the data helpers tests use to set up and
//! check them.

use super::generate::{self, Generated};
use super::{dates, paging, ZohoData};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};

/// A CRM module the fake serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Module {
    /// `Products` (the price list the connector pushes).
    Products,
    /// `Leads` (the portal leads the connector copies in).
    Leads,
}

impl Module {
    /// The module's API name (`Products`, `Leads`).
    pub fn api_name(self) -> &'static str {
        match self {
            Module::Products => "Products",
            Module::Leads => "Leads",
        }
    }

    /// The module with this API name (case-sensitive, as Zoho's are).
    pub fn from_api_name(name: &str) -> Option<Module> {
        match name {
            "Products" => Some(Module::Products),
            "Leads" => Some(Module::Leads),
            _ => None,
        }
    }

    /// The module's fields (system fields included; `id` is not a field).
    pub(super) fn fields(self) -> &'static [Field] {
        match self {
            Module::Products => PRODUCT_FIELDS,
            Module::Leads => LEAD_FIELDS,
        }
    }

    /// The field named `name`, if the module has it.
    pub(super) fn field(self, name: &str) -> Option<&'static Field> {
        self.fields().iter().find(|f| f.name == name)
    }

    /// The field every new record must have (Zoho's layout-mandatory field).
    pub(super) fn mandatory(self) -> &'static str {
        match self {
            Module::Products => "Product_Name",
            Module::Leads => "Last_Name",
        }
    }

    /// The system-defined duplicate check field, used when a request names none (Zoho:
    /// Products → `Product_Name`, Leads → `Email`).
    pub(super) fn default_duplicate_check(self) -> &'static str {
        match self {
            Module::Products => "Product_Name",
            Module::Leads => "Email",
        }
    }

    /// The field [`ZohoData::fail_crm_upsert_for`] matches on.
    pub(super) fn failure_key(self) -> &'static str {
        match self {
            Module::Products => "Product_Code",
            Module::Leads => "Portal_Lead_Id",
        }
    }
}

/// What a field holds, as Zoho's `data_type` names it in `expected_data_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// Single-line text of at most this many characters.
    Text(usize),
    /// Multi-line text (no practical limit here).
    TextArea,
    /// An email address.
    Email,
    /// A picklist (any text; the fake does not restrict values).
    Picklist,
    /// A number; the name is Zoho's data type (`currency`, `double`).
    Number(&'static str),
    /// `true` or `false` (never empty).
    Boolean,
    /// `YYYY-MM-DD`.
    Date,
    /// A lookup: an object with an `id`.
    Lookup,
    /// A list of picklist values.
    MultiSelect,
    /// Set by the CRM itself (`Created_Time`, `Modified_By`, …); ignored on write.
    System,
}

impl Kind {
    /// Zoho's `expected_data_type` for this kind.
    pub(super) fn data_type(self) -> &'static str {
        match self {
            Kind::Text(_) => "text",
            Kind::TextArea => "textarea",
            Kind::Email => "email",
            Kind::Picklist => "picklist",
            Kind::Number(t) => t,
            Kind::Boolean => "boolean",
            Kind::Date => "date",
            Kind::Lookup => "lookup",
            Kind::MultiSelect => "multiselectpicklist",
            Kind::System => "datetime",
        }
    }
}

/// One field of a module.
#[derive(Debug)]
pub(super) struct Field {
    pub(super) name: &'static str,
    pub(super) kind: Kind,
}

const fn f(name: &'static str, kind: Kind) -> Field {
    Field { name, kind }
}

/// Products' standard fields (Zoho's documented API names).
const PRODUCT_FIELDS: &[Field] = &[
    f("Product_Name", Kind::Text(200)),
    f("Product_Code", Kind::Text(40)),
    f("Product_Active", Kind::Boolean),
    f("Unit_Price", Kind::Number("currency")),
    f("Product_Category", Kind::Picklist),
    f("Manufacturer", Kind::Picklist),
    f("Vendor_Name", Kind::Lookup),
    f("Taxable", Kind::Boolean),
    f("Tax", Kind::MultiSelect),
    f("Qty_in_Stock", Kind::Number("double")),
    f("Qty_Ordered", Kind::Number("double")),
    f("Qty_in_Demand", Kind::Number("double")),
    f("Reorder_Level", Kind::Number("double")),
    f("Usage_Unit", Kind::Picklist),
    f("Commission_Rate", Kind::Number("currency")),
    f("Sales_Start_Date", Kind::Date),
    f("Sales_End_Date", Kind::Date),
    f("Description", Kind::TextArea),
    f("Owner", Kind::Lookup),
    f("Created_Time", Kind::System),
    f("Modified_Time", Kind::System),
    f("Created_By", Kind::System),
    f("Modified_By", Kind::System),
];

/// Leads' fields used by the connector, plus the custom `Portal_Lead_Id`.
const LEAD_FIELDS: &[Field] = &[
    f("First_Name", Kind::Text(40)),
    f("Last_Name", Kind::Text(80)),
    f("Email", Kind::Email),
    f("Phone", Kind::Text(30)),
    f("Company", Kind::Text(200)),
    f("Lead_Source", Kind::Picklist),
    f("Lead_Status", Kind::Picklist),
    f("Description", Kind::TextArea),
    f("Portal_Lead_Id", Kind::Text(255)),
    f("Owner", Kind::Lookup),
    f("Created_Time", Kind::System),
    f("Modified_Time", Kind::System),
    f("Created_By", Kind::System),
    f("Modified_By", Kind::System),
];

/// The one CRM user every record belongs to.
pub(super) fn user() -> Value {
    json!({ "name": "Patricia Boyle", "id": "4150868000000225013", "email": "patricia.boyle@example.com" })
}

/// The user as Zoho writes it in write answers and deleted records (no email).
pub(super) fn user_short() -> Value {
    json!({ "name": "Patricia Boyle", "id": "4150868000000225013" })
}

/// A stored record.
#[derive(Debug, Clone)]
pub(super) struct Record {
    pub(super) id: u64,
    pub(super) created: DateTime<Utc>,
    pub(super) modified: DateTime<Utc>,
    /// Writable field values by API name (system fields are rendered from the above).
    pub(super) values: Map<String, Value>,
}

impl Record {
    /// The value of field `name` as Zoho renders it (`null` when empty).
    pub(super) fn get(&self, name: &str) -> Value {
        match name {
            "id" => json!(self.id.to_string()),
            "Created_Time" => json!(dates::crm(self.created)),
            "Modified_Time" => json!(dates::crm(self.modified)),
            "Created_By" | "Modified_By" => user(),
            "Owner" => match self.values.get("Owner") {
                Some(Value::Object(o)) if o.contains_key("name") => Value::Object(o.clone()),
                _ => user(),
            },
            _ => self.values.get(name).cloned().unwrap_or(Value::Null),
        }
    }

    /// `id` plus `fields` (every field of `module` when `None`).
    pub(super) fn render(&self, module: Module, fields: Option<&[String]>) -> Value {
        let mut out = Map::new();
        out.insert("id".to_owned(), self.get("id"));
        match fields {
            Some(names) => {
                for name in names {
                    out.insert(name.clone(), self.get(name));
                }
            }
            None => {
                for field in module.fields() {
                    out.insert(field.name.to_owned(), self.get(field.name));
                }
            }
        }
        Value::Object(out)
    }

    /// What Get Deleted Records shows as `display_name` (the record's name field).
    fn display_name(&self, module: Module) -> Option<String> {
        let text = |k: &str| {
            self.values
                .get(k)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        match module {
            Module::Products => text("Product_Name"),
            Module::Leads => match (text("First_Name"), text("Last_Name")) {
                (Some(first), Some(last)) => Some(format!("{first} {last}")),
                (_, last) => last,
            },
        }
    }
}

/// A deleted record as Get Deleted Records lists it.
#[derive(Debug, Clone)]
pub(super) struct Deleted {
    pub(super) id: u64,
    /// `None` once permanently deleted (Zoho forgets the name and users then).
    pub(super) display_name: Option<String>,
    pub(super) permanent: bool,
    pub(super) deleted_time: DateTime<Utc>,
}

impl Deleted {
    /// The Get Deleted Records item.
    pub(super) fn render(&self) -> Value {
        let (user, name) = if self.permanent {
            (Value::Null, Value::Null)
        } else {
            (user_short(), json!(self.display_name))
        };
        json!({
            "id": self.id.to_string(),
            "display_name": name,
            "type": if self.permanent { "permanent" } else { "recycle" },
            "deleted_time": dates::crm(self.deleted_time),
            "deleted_by": user,
            "created_by": user,
        })
    }
}

/// The first id the fake hands out (Zoho ids are 19-digit numbers that grow over time).
const FIRST_ID: u64 = 4_150_868_000_001_000_001;

/// Records of both modules, deleted records, scripted upsert failures and live page tokens.
#[derive(Default)]
pub(super) struct Crm {
    records: HashMap<Module, BTreeMap<u64, Record>>,
    deleted: HashMap<Module, Vec<Deleted>>,
    next_id: u64,
    /// Upsert key value → (error code, message).
    pub(super) failures: HashMap<String, (String, String)>,
    pub(super) page_tokens: paging::Tokens,
}

impl Crm {
    /// The module's records by id.
    pub(super) fn records(&self, module: Module) -> impl Iterator<Item = &Record> {
        self.records
            .get(&module)
            .into_iter()
            .flat_map(|m| m.values())
    }

    pub(super) fn record(&self, module: Module, id: u64) -> Option<&Record> {
        self.records.get(&module)?.get(&id)
    }

    pub(super) fn record_mut(&mut self, module: Module, id: u64) -> Option<&mut Record> {
        self.records.get_mut(&module)?.get_mut(&id)
    }

    pub(super) fn count(&self, module: Module) -> usize {
        self.records.get(&module).map_or(0, BTreeMap::len)
    }

    /// The module's deleted records, oldest deletion first.
    pub(super) fn deleted(&self, module: Module) -> &[Deleted] {
        self.deleted.get(&module).map_or(&[], Vec::as_slice)
    }

    /// Stores a new record; returns its id (higher than every id before).
    pub(super) fn insert(
        &mut self,
        module: Module,
        created: DateTime<Utc>,
        modified: DateTime<Utc>,
        values: Map<String, Value>,
    ) -> u64 {
        let id = FIRST_ID.max(self.next_id);
        self.next_id = id + 1;
        let record = Record {
            id,
            created,
            modified,
            values,
        };
        self.records.entry(module).or_default().insert(id, record);
        id
    }

    /// The first record whose `field` equals `value` (emails compare case-insensitively, as
    /// Zoho's duplicate check does).
    pub(super) fn find_by(&self, module: Module, field: &str, value: &Value) -> Option<u64> {
        let same = |v: &Value| match (v.as_str(), value.as_str()) {
            (Some(a), Some(b)) if field == "Email" => a.eq_ignore_ascii_case(b),
            _ => v == value,
        };
        self.records(module)
            .find(|r| r.values.get(field).is_some_and(same))
            .map(|r| r.id)
    }

    /// Moves record `id` to the recycle bin at `now`.
    pub(super) fn delete(&mut self, module: Module, id: u64, now: DateTime<Utc>) -> bool {
        let Some(record) = self.records.get_mut(&module).and_then(|m| m.remove(&id)) else {
            return false;
        };
        self.deleted.entry(module).or_default().push(Deleted {
            id,
            display_name: record.display_name(module),
            permanent: false,
            deleted_time: now,
        });
        true
    }

    fn add_generated(&mut self, module: Module, records: Vec<Generated>) {
        for g in records {
            self.insert(module, g.created, g.modified, g.values);
        }
    }
}

fn object(values: Value) -> Map<String, Value> {
    match values {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn parse_id(id: &str) -> Option<u64> {
    id.parse().ok()
}

/// Setting up and checking CRM records from a test.
impl ZohoData {
    /// Adds `n` generated products (reproducible from `seed`; codes continue after existing
    /// products, so calling twice adds different ones).
    pub fn generate_products(&self, n: usize, seed: u64) {
        let mut s = self.lock();
        let first = s.crm.count(Module::Products);
        s.crm
            .add_generated(Module::Products, generate::products(n, seed, first));
    }

    /// Adds `n` generated leads (reproducible from `seed`).
    pub fn generate_leads(&self, n: usize, seed: u64) {
        let mut s = self.lock();
        let first = s.crm.count(Module::Leads);
        s.crm
            .add_generated(Module::Leads, generate::leads(n, seed, first));
    }

    /// Adds a record with these field values (a JSON object), created and modified now;
    /// returns its id.
    pub fn insert_crm_record(&self, module: Module, values: Value) -> String {
        let mut s = self.lock();
        let now = dates::whole_seconds(s.now());
        s.crm.insert(module, now, now, object(values)).to_string()
    }

    /// Sets these field values (a JSON object; `null` clears a field) on record `id` and
    /// stamps it modified now; false if there is no such record.
    pub fn update_crm_record(&self, module: Module, id: &str, values: Value) -> bool {
        let mut s = self.lock();
        let now = dates::whole_seconds(s.now());
        let Some(record) = parse_id(id).and_then(|id| s.crm.record_mut(module, id)) else {
            return false;
        };
        record.values.extend(object(values));
        record.modified = now;
        true
    }

    /// Sets record `id`'s `Created_Time` and `Modified_Time` (for `If-Modified-Since` tests).
    pub fn set_crm_record_times(
        &self,
        module: Module,
        id: &str,
        created: DateTime<Utc>,
        modified: DateTime<Utc>,
    ) -> bool {
        let mut s = self.lock();
        let Some(record) = parse_id(id).and_then(|id| s.crm.record_mut(module, id)) else {
            return false;
        };
        record.created = dates::whole_seconds(created);
        record.modified = dates::whole_seconds(modified);
        true
    }

    /// Moves record `id` to the recycle bin (deleted now); false if there is no such record.
    pub fn delete_crm_record(&self, module: Module, id: &str) -> bool {
        let mut s = self.lock();
        let now = dates::whole_seconds(s.now());
        parse_id(id).is_some_and(|id| s.crm.delete(module, id, now))
    }

    /// Empties the module's recycle bin: its deleted records become `permanent`.
    pub fn purge_crm_recycle_bin(&self, module: Module) {
        let mut s = self.lock();
        if let Some(list) = s.crm.deleted.get_mut(&module) {
            for d in list.iter_mut() {
                d.permanent = true;
                d.display_name = None;
            }
        }
    }

    /// Every record of the module as Get Records renders it with all fields, by id.
    pub fn crm_records(&self, module: Module) -> Vec<Value> {
        let s = self.lock();
        s.crm
            .records(module)
            .map(|r| r.render(module, None))
            .collect()
    }

    /// One record with all fields, if it exists.
    pub fn crm_record(&self, module: Module, id: &str) -> Option<Value> {
        let s = self.lock();
        let record = s.crm.record(module, parse_id(id)?)?;
        Some(record.render(module, None))
    }

    /// Every product, by id.
    pub fn crm_products(&self) -> Vec<Value> {
        self.crm_records(Module::Products)
    }

    /// Every lead, by id.
    pub fn crm_leads(&self) -> Vec<Value> {
        self.crm_records(Module::Leads)
    }

    /// The product whose `Product_Code` is `code`.
    pub fn crm_product_by_code(&self, code: &str) -> Option<Value> {
        let s = self.lock();
        let id = s
            .crm
            .find_by(Module::Products, "Product_Code", &json!(code))?;
        let record = s.crm.record(Module::Products, id)?;
        Some(record.render(Module::Products, None))
    }

    /// How many records the module has.
    pub fn crm_count(&self, module: Module) -> usize {
        self.lock().crm.count(module)
    }

    /// The module's deleted records as Get Deleted Records renders them, oldest deletion first.
    pub fn crm_deleted(&self, module: Module) -> Vec<Value> {
        let s = self.lock();
        s.crm.deleted(module).iter().map(Deleted::render).collect()
    }
}
