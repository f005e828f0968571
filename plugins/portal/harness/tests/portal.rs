//! The portal connector (plugins/portal) through the host against a fake sales portal
//! (PostgREST) and a fake Zoho CRM, on every backend: the de-duplication table, incremental
//! and idempotent runs of both jobs, deletions in Zoho, `sync_metadata` for success and failure,
//! the manual "sync now" trigger, one token shared with the zoho connector, and the Malta
//! schedule across both 2026 DST changes.

use chrono::{DateTime, Duration as Span, Utc};
use connector_host::manifest::Manifest;
use connector_host::runner::{RunOutcome, RunRequest, Runner};
use connector_host::store::RunStatus;
use connector_tests::db::TestDb;
use connector_tests::entry;
use connector_tests::host::{start, FakeEnv, TestHost};
use portal_harness::fake::{ApiKey, Lead};
use portal_harness::setup::{uuid, FakePortal, RUN_TOKEN};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;
use zoho_harness::fake::Module;

fn env_of(fake: &FakePortal) -> FakeEnv {
    let env = fake.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    FakeEnv::with(&env)
}

/// The connector's own `connector.toml`, pointed at both fakes, with extra settings.
fn entry_for(fake: &FakePortal, settings: &str) -> toml::Table {
    let mut e = entry::load("portal").unwrap();
    fake.point(&mut e, "portal");
    let c = entry::table(&mut e, &["connectors", "portal"]);
    c.remove("schedules");
    let extra: toml::Table = toml::from_str(&format!("settings = {{ {settings} }}")).unwrap();
    entry::merge(c, extra);
    e
}

async fn host(db: &TestDb, fake: &FakePortal, settings: &str) -> TestHost {
    let text = toml::to_string(&entry_for(fake, settings)).unwrap();
    start(db, &text, &env_of(fake)).await.unwrap()
}

async fn job(r: &Runner, name: &str) -> RunOutcome {
    let req = RunRequest {
        job: Some(name.into()),
        ..RunRequest::manual()
    };
    r.run("portal", req).await.unwrap()
}

fn succeeded(o: &RunOutcome) {
    assert_eq!(o.status, RunStatus::Succeeded, "{o:?}");
}

fn counter(o: &RunOutcome, name: &str) -> u64 {
    o.counters
        .iter()
        .find(|(n, _)| n == name)
        .map_or(0, |(_, v)| *v)
}

/// Every row of `sql` with each value as text ("" for NULL).
async fn rows(db: &TestDb, sql: &str) -> Vec<Vec<String>> {
    use sqlx::{Column, Row};
    fn cell<R: Row>(r: &R, i: usize) -> String
    where
        usize: sqlx::ColumnIndex<R>,
        for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
        for<'a> Option<i64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
        for<'a> Option<DateTime<Utc>>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    {
        if let Ok(v) = r.try_get::<Option<String>, _>(i) {
            return v.unwrap_or_default();
        }
        if let Ok(v) = r.try_get::<Option<i64>, _>(i) {
            return v.map_or(String::new(), |v| v.to_string());
        }
        r.try_get::<Option<DateTime<Utc>>, _>(i)
            .unwrap_or_else(|e| panic!("column {}: {e}", r.columns()[i].name()))
            .map_or(String::new(), |v| v.to_rfc3339())
    }
    if db.backend == "postgres" {
        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        let out = sqlx::query(sql).fetch_all(&pool).await.unwrap();
        pool.close().await;
        out.iter()
            .map(|r| (0..r.len()).map(|i| cell(r, i)).collect())
            .collect()
    } else {
        let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
        let out = sqlx::query(sql).fetch_all(&pool).await.unwrap();
        pool.close().await;
        out.iter()
            .map(|r| (0..r.len()).map(|i| cell(r, i)).collect())
            .collect()
    }
}

/// A portal lead for the tests.
fn lead(id: &str, name: &str, email: Option<&str>, zoho: Option<&str>, at: DateTime<Utc>) -> Lead {
    Lead {
        id: id.into(),
        name: name.into(),
        email: email.map(str::to_owned),
        phone: Some("+35621000000".into()),
        source: "landing-page".into(),
        status: "new".into(),
        zoho_lead_id: zoho.map(str::to_owned),
        created_at: at,
        updated_at: at,
    }
}

/// A portal lead id for case `k`, variant `v`.
fn pid(k: u32, v: u32) -> String {
    format!("00000000-0000-4000-8000-{k:06}{v:06}")
}

/// One row already in the back office's `leads`.
struct Existing {
    portal: Option<String>,
    /// `Some("$Z")` stands for the case's Zoho record id.
    zoho: Option<&'static str>,
    email: Option<&'static str>,
    name: &'static str,
    phone: Option<&'static str>,
    status: Option<&'static str>,
}

/// An incoming lead: which source, in which phase (1 or 2), its values.
struct Incoming {
    phase: u8,
    zoho: bool,
    /// For a portal lead: its `zoho_lead_id` ("$Z" for the case's Zoho record).
    link: Option<&'static str>,
    /// For a Zoho lead: its `Portal_Lead_Id` (variant of the case's portal ids).
    portal_link: Option<u32>,
    email: Option<&'static str>,
    name: &'static str,
    phone: Option<&'static str>,
    status: Option<&'static str>,
}

/// A de-duplication case and the leads (portal id variant or "Z", zoho, email, name, phone,
/// status) it must end with, plus the conflicts it must record.
struct Case {
    what: &'static str,
    existing: Vec<Existing>,
    incoming: Vec<Incoming>,
    expect: Vec<[&'static str; 6]>,
    conflicts: usize,
}

fn ex(
    portal: Option<u32>,
    k: u32,
    zoho: Option<&'static str>,
    email: Option<&'static str>,
    name: &'static str,
) -> Existing {
    Existing {
        portal: portal.map(|v| pid(k, v)),
        zoho,
        email,
        name,
        phone: None,
        status: None,
    }
}

fn from_portal(
    phase: u8,
    link: Option<&'static str>,
    email: Option<&'static str>,
    name: &'static str,
) -> Incoming {
    Incoming {
        phase,
        zoho: false,
        link,
        portal_link: None,
        email,
        name,
        phone: None,
        status: None,
    }
}

fn from_zoho(
    phase: u8,
    portal_link: Option<u32>,
    email: Option<&'static str>,
    name: &'static str,
) -> Incoming {
    Incoming {
        phase,
        zoho: true,
        link: None,
        portal_link,
        email,
        name,
        phone: None,
        status: None,
    }
}

/// The table: expected rows name the portal id by variant ("1" = pid(k, 1)), the Zoho id as
/// "Z" (the case's record) or literally, "" for NULL.
fn cases() -> Vec<Case> {
    vec![
        Case {
            what: "a new portal lead is inserted",
            existing: vec![],
            incoming: vec![from_portal(1, None, Some("c1@x.com"), "C1 Ana")],
            expect: vec![["1", "", "c1@x.com", "C1 Ana", "", "new"]],
            conflicts: 0,
        },
        Case {
            what: "a new Zoho lead is inserted",
            existing: vec![],
            incoming: vec![from_zoho(1, None, Some("c2@x.com"), "C2 Bruno")],
            expect: vec![["", "Z", "c2@x.com", "C2 Bruno", "", "Not Contacted"]],
            conflicts: 0,
        },
        Case {
            what: "a portal lead updates its own row by portal_lead_id",
            existing: vec![ex(Some(1), 3, None, Some("c3@x.com"), "C3 Old")],
            incoming: vec![from_portal(1, None, Some("c3@x.com"), "C3 New")],
            expect: vec![["1", "", "c3@x.com", "C3 New", "", "new"]],
            conflicts: 0,
        },
        Case {
            what: "a Zoho lead updates its own row by zoho_lead_id",
            existing: vec![ex(None, 4, Some("$Z"), Some("c4@x.com"), "C4 Old")],
            incoming: vec![from_zoho(1, None, Some("c4@x.com"), "C4 New")],
            expect: vec![["", "Z", "c4@x.com", "C4 New", "", "Not Contacted"]],
            conflicts: 0,
        },
        Case {
            what: "a Zoho lead carrying Portal_Lead_Id merges into the portal's row",
            existing: vec![ex(Some(1), 5, None, Some("c5@x.com"), "C5 Carla")],
            incoming: vec![from_zoho(1, Some(1), Some("c5@x.com"), "C5 Carla")],
            expect: vec![["1", "Z", "c5@x.com", "C5 Carla", "", "Not Contacted"]],
            conflicts: 0,
        },
        Case {
            what: "a portal lead carrying zoho_lead_id merges into Zoho's row",
            existing: vec![ex(None, 6, Some("$Z"), Some("c6@x.com"), "C6 Diego")],
            incoming: vec![from_portal(1, Some("$Z"), Some("c6@x.com"), "C6 Diego")],
            expect: vec![["1", "Z", "c6@x.com", "C6 Diego", "", "new"]],
            conflicts: 0,
        },
        Case {
            what: "e-mail matches whatever its case and surrounding spaces",
            existing: vec![ex(None, 7, None, Some("c7@x.com"), "C7 Elena")],
            incoming: vec![from_portal(1, None, Some("  C7@X.COM "), "C7 Elena")],
            expect: vec![["1", "", "c7@x.com", "C7 Elena", "", "new"]],
            conflicts: 0,
        },
        Case {
            what: "zoho_lead_id takes precedence over a new e-mail",
            existing: vec![ex(None, 8, Some("$Z"), Some("c8a@x.com"), "C8 Fabio")],
            incoming: vec![from_zoho(1, None, Some("c8b@x.com"), "C8 Fabio")],
            expect: vec![["", "Z", "c8b@x.com", "C8 Fabio", "", "Not Contacted"]],
            conflicts: 0,
        },
        Case {
            what: "ids and e-mail pointing at two leads are a conflict, not a guess",
            existing: vec![
                ex(None, 9, Some("$Z"), Some("c9a@x.com"), "C9 Gina A"),
                ex(None, 9, None, Some("c9b@x.com"), "C9 Gina B"),
            ],
            incoming: vec![from_zoho(1, None, Some("c9b@x.com"), "C9 Gina")],
            expect: vec![
                ["", "Z", "c9a@x.com", "C9 Gina A", "", ""],
                ["", "", "c9b@x.com", "C9 Gina B", "", ""],
            ],
            conflicts: 1,
        },
        Case {
            what: "an e-mail match whose zoho_lead_id is another is a conflict",
            existing: vec![ex(
                None,
                10,
                Some("999000010"),
                Some("c10@x.com"),
                "C10 Hugo",
            )],
            incoming: vec![from_zoho(1, None, Some("c10@x.com"), "C10 Hugo")],
            expect: vec![["", "999000010", "c10@x.com", "C10 Hugo", "", ""]],
            conflicts: 1,
        },
        Case {
            what: "empty incoming values never replace the back office's",
            existing: vec![Existing {
                phone: Some("+35699999999"),
                status: Some("won"),
                ..ex(Some(1), 11, None, Some("c11@x.com"), "C11 Iris")
            }],
            incoming: vec![Incoming {
                phone: Some(""),
                status: Some(""),
                ..from_portal(1, None, None, "C11 Iris")
            }],
            expect: vec![["1", "", "c11@x.com", "C11 Iris", "+35699999999", "won"]],
            conflicts: 0,
        },
        Case {
            what: "one person from the portal first, then from Zoho (by e-mail)",
            existing: vec![],
            incoming: vec![
                from_portal(1, None, Some("c12@x.com"), "C12 Joao"),
                from_zoho(2, None, Some("C12@X.com"), "C12 Joao"),
            ],
            expect: vec![["1", "Z", "c12@x.com", "C12 Joao", "", "Not Contacted"]],
            conflicts: 0,
        },
        Case {
            what: "one person from Zoho first, then from the portal (by e-mail)",
            existing: vec![],
            incoming: vec![
                from_zoho(1, None, Some("c13@x.com"), "C13 Karin"),
                from_portal(2, None, Some("c13@x.com"), "C13 Karin"),
            ],
            expect: vec![["1", "Z", "c13@x.com", "C13 Karin", "", "new"]],
            conflicts: 0,
        },
        Case {
            what: "leads with no e-mail and no shared id stay apart",
            existing: vec![],
            incoming: vec![
                from_portal(1, None, None, "C14 Lia"),
                from_zoho(1, None, None, "C14 Lia"),
            ],
            expect: vec![
                ["", "Z", "", "C14 Lia", "", "Not Contacted"],
                ["1", "", "", "C14 Lia", "", "new"],
            ],
            conflicts: 0,
        },
    ]
}

/// Puts case `k`'s incoming leads of `phase` into the fakes; returns the case's Zoho id.
fn feed(fake: &FakePortal, k: u32, case: &Case, phase: u8, zoho_id: &mut Option<String>) {
    for (v, i) in case.incoming.iter().enumerate() {
        if i.phase != phase {
            continue;
        }
        if i.zoho {
            let mut record = json!({ "Last_Name": i.name, "Lead_Status": "Not Contacted" });
            if let Some(e) = i.email {
                record["Email"] = e.into();
            }
            if let Some(p) = i.phone {
                record["Phone"] = p.into();
            }
            if let Some(link) = i.portal_link {
                record["Portal_Lead_Id"] = pid(k, link).into();
            }
            match zoho_id {
                Some(id) => {
                    fake.zoho.data.update_crm_record(Module::Leads, id, record);
                }
                None => *zoho_id = Some(fake.zoho.data.insert_crm_record(Module::Leads, record)),
            }
        } else {
            let link = i.link.map(|l| {
                if l == "$Z" {
                    zoho_id.clone().unwrap()
                } else {
                    l.to_owned()
                }
            });
            let mut l = lead(
                &pid(k, 1),
                i.name,
                i.email,
                link.as_deref(),
                fake.data.now() - Span::seconds(60 - v as i64),
            );
            l.phone = i.phone.map(str::to_owned);
            if let Some(s) = i.status {
                l.status = s.to_owned();
            }
            fake.data.put_lead(l);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deduplication_table_holds_on_both_sources_and_reruns_change_nothing() {
    for db in TestDb::all("portal_dedup").await.unwrap() {
        let fake = FakePortal::start(Vec::new(), ApiKey::sample_secret()).await;
        let h = host(&db, &fake, "").await;
        let r = &h.runner;
        let cases = cases();
        // Zoho ids: cases whose existing rows name "$Z" need their Zoho record first.
        let mut zoho_ids: BTreeMap<u32, Option<String>> = BTreeMap::new();
        let mut inserts = Vec::new();
        for (k, case) in cases.iter().enumerate() {
            let k = k as u32 + 1;
            let mut zid = None;
            if let Some(e) = case.existing.iter().find(|e| e.zoho == Some("$Z")) {
                // Zoho holds the record the existing row came from, as it was then; a case's
                // incoming Zoho lead is an edit of it.
                let mut record = json!({ "Last_Name": e.name });
                if let Some(mail) = e.email {
                    record["Email"] = mail.into();
                }
                zid = Some(fake.zoho.data.insert_crm_record(Module::Leads, record));
            }
            for e in &case.existing {
                let zoho = e.zoho.map(|z| {
                    if z == "$Z" {
                        zid.clone().unwrap()
                    } else {
                        z.to_owned()
                    }
                });
                let q = |v: Option<&str>| v.map_or("NULL".to_owned(), |v| format!("'{v}'"));
                inserts.push(format!(
                    "INSERT INTO leads (portal_lead_id, zoho_lead_id, email, name, phone, status, created_at, updated_at) \
                     VALUES ({}, {}, {}, '{}', {}, {}, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
                    q(e.portal.as_deref()),
                    q(zoho.as_deref()),
                    q(e.email),
                    e.name,
                    q(e.phone),
                    q(e.status)
                ));
            }
            zoho_ids.insert(k, zid);
        }
        for sql in &inserts {
            connector_tests::db::execute(&db.url, sql).await.unwrap();
        }
        for phase in [1u8, 2] {
            for (k, case) in cases.iter().enumerate() {
                let k = k as u32 + 1;
                feed(&fake, k, case, phase, zoho_ids.get_mut(&k).unwrap());
            }
            tokio::time::sleep(Duration::from_millis(1100)).await;
            succeeded(&job(r, "zoho").await);
            succeeded(&job(r, "portal").await);
        }
        let got = rows(
            &db,
            "SELECT name, COALESCE(portal_lead_id, ''), COALESCE(zoho_lead_id, ''), COALESCE(email, ''), \
             COALESCE(phone, ''), COALESCE(status, '') FROM leads ORDER BY name, zoho_lead_id",
        )
        .await;
        let conflicts = rows(
            &db,
            "SELECT source_id, reason FROM lead_conflicts ORDER BY source_id",
        )
        .await;
        let mut report = Vec::new();
        for (k, case) in cases.iter().enumerate() {
            let k = k as u32 + 1;
            let zid = zoho_ids[&k].clone().unwrap_or_default();
            let tag = format!("C{k} ");
            let mut mine: Vec<[String; 6]> = got
                .iter()
                .filter(|r| r[0].starts_with(&tag))
                .map(|r| {
                    [
                        r[1].clone(),
                        r[2].clone(),
                        r[3].clone(),
                        r[0].clone(),
                        r[4].clone(),
                        r[5].clone(),
                    ]
                })
                .collect();
            mine.sort();
            let mut want: Vec<[String; 6]> = case
                .expect
                .iter()
                .map(|e| {
                    let portal = if e[0].is_empty() {
                        String::new()
                    } else {
                        pid(k, e[0].parse().unwrap())
                    };
                    let zoho = if e[1] == "Z" {
                        zid.clone()
                    } else {
                        e[1].to_owned()
                    };
                    [
                        portal,
                        zoho,
                        e[2].into(),
                        e[3].into(),
                        e[4].into(),
                        e[5].into(),
                    ]
                })
                .collect();
            want.sort();
            assert_eq!(mine, want, "{}: case {k} ({}) ", db.backend, case.what);
            let mine_conflicts = conflicts
                .iter()
                .filter(|c| !zid.is_empty() && c[0] == zid)
                .count();
            assert_eq!(
                mine_conflicts, case.conflicts,
                "{}: case {k} ({}): {conflicts:?}",
                db.backend, case.what
            );
            report.push(format!(
                "{k:>2}. {}: {} row(s), {} conflict(s)",
                case.what,
                mine.len(),
                mine_conflicts
            ));
        }
        println!("{}:\n{}", db.backend, report.join("\n"));

        // Running both jobs again changes no lead.
        let before = rows(&db, "SELECT id, name, portal_lead_id, zoho_lead_id, email, phone, status, updated_at FROM leads ORDER BY id").await;
        let z = job(r, "zoho").await;
        let p = job(r, "portal").await;
        for o in [&z, &p] {
            succeeded(o);
            for c in ["inserted", "updated", "merged"] {
                assert_eq!(counter(o, c), 0, "{}: a re-run {c}: {o:?}", db.backend);
            }
        }
        let after = rows(&db, "SELECT id, name, portal_lead_id, zoho_lead_id, email, phone, status, updated_at FROM leads ORDER BY id").await;
        assert_eq!(before, after, "{}", db.backend);
        h.runner.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leads_of_one_page_are_decided_one_after_another_as_if_applied_alone() {
    for db in TestDb::all("portal_page").await.unwrap() {
        let fake = FakePortal::start(Vec::new(), ApiKey::sample_secret()).await;
        // No overlap: the walk of changes, starting at this run, reads none of these leads again.
        let h = host(&db, &fake, "overlap_minutes = 0").await;
        connector_tests::db::execute(
            &db.url,
            &format!(
                "INSERT INTO leads (portal_lead_id, email, name, created_at, updated_at) VALUES \
                 ('{}', 'old@x.com', 'Kept', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
                pid(1, 1)
            ),
        )
        .await
        .unwrap();
        let at = |s: i64| fake.data.now() - Span::seconds(60 - s);
        // One page, in this order: a new lead; a second new lead with the first one's e-mail
        // (another portal id: a conflict naming the first, which is not written yet when it is
        // decided); the existing lead moving to a new e-mail; and a new lead with that new
        // e-mail (a conflict with the existing lead as it now is, not an insert).
        for (id, name, mail, s) in [
            (pid(2, 1), "First", "same@x.com", 1),
            (pid(2, 2), "Second", "SAME@x.com", 2),
            (pid(1, 1), "Kept", "new@x.com", 3),
            (pid(3, 1), "Third", "new@x.com", 4),
        ] {
            fake.data.put_lead(lead(&id, name, Some(mail), None, at(s)));
        }
        let p = job(&h.runner, "portal").await;
        succeeded(&p);
        assert_eq!(
            ["fetched", "inserted", "updated", "conflicts"].map(|c| counter(&p, c)),
            [4, 1, 1, 2],
            "{}: {p:?}",
            db.backend
        );
        let leads = rows(
            &db,
            "SELECT id, portal_lead_id, email, name FROM leads ORDER BY id",
        )
        .await;
        let id_of = |name: &str| leads.iter().find(|l| l[3] == name).unwrap()[0].clone();
        assert_eq!(
            leads
                .iter()
                .map(|l| [l[1].clone(), l[2].clone(), l[3].clone()])
                .collect::<Vec<_>>(),
            [
                [pid(1, 1), "new@x.com".into(), "Kept".into()],
                [pid(2, 1), "same@x.com".into(), "First".into()],
            ],
            "{}",
            db.backend
        );
        let conflicts = rows(
            &db,
            "SELECT source_id, lead_ids FROM lead_conflicts ORDER BY source_id",
        )
        .await;
        assert_eq!(
            conflicts,
            [
                vec![pid(2, 2), id_of("First")],
                vec![pid(3, 1), id_of("Kept")]
            ],
            "{}",
            db.backend
        );
        h.runner.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_job_reads_only_what_changed_and_zoho_deletions_are_marked_not_lost() {
    for db in TestDb::all("portal_incremental").await.unwrap() {
        let fake = FakePortal::start(Vec::new(), ApiKey::sample_legacy()).await;
        let made = portal_harness::setup::populate(&fake, 2_600, 3);
        let h = host(&db, &fake, "overlap_minutes = 0, page_size = 500").await;
        let r = &h.runner;
        let z = job(r, "zoho").await;
        succeeded(&z);
        let p = job(r, "portal").await;
        succeeded(&p);
        let leads = rows(&db, "SELECT COUNT(*) FROM leads").await;
        assert_eq!(leads[0][0], made.people().to_string(), "{}", db.backend);
        // More than 2,000 Zoho leads: page_token was used past page 10.
        let tokens = fake
            .zoho
            .server
            .requests()
            .iter()
            .filter(|q| {
                q.query
                    .as_deref()
                    .is_some_and(|q| q.contains("page_token="))
            })
            .count();
        assert!(tokens >= 1, "{}", db.backend);
        // The portal's key is a legacy JWT: it went in apikey and as a Bearer token.
        let call = fake
            .server
            .requests()
            .into_iter()
            .find(|q| q.path == "/rest/v1/leads")
            .unwrap();
        assert!(call
            .header("authorization")
            .is_some_and(|a| a.starts_with("Bearer ey")));

        tokio::time::sleep(Duration::from_millis(1100)).await;
        // One new and one changed lead in each source, and a lead deleted in Zoho.
        let new_pid = uuid(&mut portal_harness::fake::Rng::new(99));
        fake.data.put_lead(lead(
            &new_pid,
            "New Portal",
            Some("new.portal@example.com"),
            None,
            fake.data.now(),
        ));
        let changed = fake.data.leads()[10].id.clone();
        fake.data
            .update_lead(&changed, |l| l.status = "contacted".into());
        fake.zoho.data.insert_crm_record(
            Module::Leads,
            json!({ "Last_Name": "New Zoho", "Email": "new.zoho@example.com" }),
        );
        let zoho_leads = fake.zoho.data.crm_leads();
        let edited = zoho_leads[5]["id"].as_str().unwrap().to_owned();
        fake.zoho.data.update_crm_record(
            Module::Leads,
            &edited,
            json!({ "Lead_Status": "Contacted" }),
        );
        let gone = zoho_leads[6]["id"].as_str().unwrap().to_owned();
        fake.zoho.data.delete_crm_record(Module::Leads, &gone);

        let z = job(r, "zoho").await;
        succeeded(&z);
        assert_eq!(counter(&z, "fetched"), 2, "{}: {z:?}", db.backend);
        assert_eq!(
            (counter(&z, "inserted"), counter(&z, "updated")),
            (1, 1),
            "{z:?}"
        );
        assert_eq!(counter(&z, "deleted"), 1, "{z:?}");
        let p = job(r, "portal").await;
        succeeded(&p);
        assert_eq!(
            (counter(&p, "inserted"), counter(&p, "updated")),
            (1, 1),
            "{}: {p:?}",
            db.backend
        );
        let marked = rows(&db, &format!("SELECT name FROM leads WHERE zoho_lead_id = '{gone}' AND zoho_deleted_at IS NOT NULL")).await;
        assert_eq!(
            marked.len(),
            1,
            "{}: the deleted lead is kept and marked",
            db.backend
        );
        let count = rows(&db, "SELECT COUNT(*) FROM leads").await;
        assert_eq!(count[0][0], (made.people() + 2).to_string());
        h.runner.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_attempt_is_in_sync_metadata_and_postgrest_errors_reach_the_run() {
    for db in TestDb::all("portal_metadata").await.unwrap() {
        let now = Utc::now();
        let fake = FakePortal::start(
            vec![lead(&pid(1, 1), "Ana", Some("ana@x.com"), None, now)],
            ApiKey::sample_secret(),
        )
        .await;
        let h = host(&db, &fake, "").await;
        let r = &h.runner;
        succeeded(&job(r, "portal").await);
        fake.data.fail_next(
            400,
            "PGRST100",
            "\"failed to parse filter (gt.x)\" (line 1, column 4)",
            Some("unexpected \"x\" expecting a date"),
            None,
        );
        let o = job(r, "portal").await;
        assert_eq!(o.status, RunStatus::Failed, "{o:?}");
        let error = o.error_message.clone().unwrap();
        assert!(
            error.contains("HTTP 400 PGRST100") && error.contains("details: unexpected"),
            "{error}"
        );
        let meta = rows(&db, "SELECT source, status, CAST(inserted AS BIGINT), COALESCE(error, '') FROM sync_metadata ORDER BY id").await;
        assert_eq!(meta.len(), 2, "{}: {meta:?}", db.backend);
        assert_eq!(meta[0][..3], ["portal", "succeeded", "1"]);
        assert_eq!(meta[1][..2], ["portal", "failed"]);
        assert!(meta[1][3].contains("PGRST100"), "{meta:?}");
        let finished = rows(
            &db,
            "SELECT COUNT(*) FROM sync_metadata WHERE finished_at IS NOT NULL",
        )
        .await;
        assert_eq!(finished[0][0], "2");
        h.runner.shutdown().await;
    }
}

/// The operators' "sync now" is the manual trigger with the bearer secret; the portal job and
/// the zoho connector share one Zoho token (the same credentials, one refresh).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_now_over_http_and_one_zoho_token_shared_with_the_zoho_connector() {
    let db = TestDb::sqlite().unwrap();
    let fake = FakePortal::start(Vec::new(), ApiKey::sample_secret()).await;
    portal_harness::setup::populate(&fake, 50, 8);
    let mut e = entry_for(&fake, "");
    let mut z = entry::load("zoho").unwrap();
    fake.zoho.point(&mut z, "zoho");
    entry::table(&mut z, &["connectors", "zoho"]).remove("schedules");
    entry::merge(&mut e, z);
    let text = format!(
        "[runtime]\nqueue_workers = 0\n\n[server]\nwatch = false\n\n{}",
        toml::to_string(&e).unwrap()
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("connectors.toml");
    std::fs::write(&path, connector_tests::host::manifest(&db, &text)).unwrap();
    let env = env_of(&fake);
    let (m, secrets) = Manifest::load(&path, &env).unwrap();
    let runner = Runner::start(m, secrets).await.unwrap();
    let d = connector_tests::daemon::start_with(
        runner,
        path,
        dir,
        &db,
        &env,
        std::sync::Arc::new(connector_host::daemon::SystemClock),
    )
    .await
    .unwrap();
    let (addr, serving) = d.serve().await;
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/connectors/portal/run?job=zoho");
    let refused = client.post(&url).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let runner = d.daemon.runner();
    let (portal_run, zoho_run) = tokio::join!(
        client.post(&url).bearer_auth(RUN_TOKEN).send(),
        runner.run("zoho", RunRequest::manual()),
    );
    let portal_run = portal_run.unwrap();
    assert_eq!(portal_run.status(), 200);
    let body: serde_json::Value = serde_json::from_str(&portal_run.text().await.unwrap()).unwrap();
    assert_eq!(body["status"], "succeeded", "{body}");
    assert_eq!(zoho_run.unwrap().status, RunStatus::Succeeded);
    assert_eq!(
        fake.zoho.data.tokens_issued(),
        1,
        "one token for both connectors"
    );
    d.daemon.request_stop();
    let _ = tokio::time::timeout(Duration::from_secs(10), serving).await;
}

#[test]
fn the_portal_job_fires_at_two_in_malta_across_both_2026_dst_changes() {
    let e = entry::load("portal").unwrap();
    let env = FakeEnv::with(&[
        ("ZOHO_CLIENT_ID", "id"),
        ("ZOHO_CLIENT_SECRET", "secret"),
        ("ZOHO_REFRESH_TOKEN", "refresh"),
        ("PORTAL_SERVICE_KEY", "sb_secret_abcdefghijklmnop"),
        ("PORTAL_RUN_TOKEN", "a-run-token-long-enough"),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let text =
        connector_tests::host::manifest_for("sqlite://portal.db", &toml::to_string(&e).unwrap());
    let (m, _) = Manifest::parse(&text, &dir.path().join("connectors.toml"), &env).unwrap();
    let schedules = &m.connectors["portal"].schedules;
    let portal = schedules.iter().find(|s| s.name == "portal").unwrap();
    let from: DateTime<Utc> = "2026-03-27T12:00:00Z".parse().unwrap();
    let spring: Vec<String> = portal
        .cron
        .upcoming(from, 4)
        .iter()
        .map(|t| t.to_rfc3339())
        .collect();
    // 02:00 CET is 01:00 UTC; on 29 March 02:00 does not exist (clocks jump to 03:00 CEST), so
    // it fires right after the jump, 01:00 UTC; then 02:00 CEST is 00:00 UTC.
    assert_eq!(
        spring,
        [
            "2026-03-28T01:00:00+00:00",
            "2026-03-29T01:00:00+00:00",
            "2026-03-30T00:00:00+00:00",
            "2026-03-31T00:00:00+00:00"
        ]
    );
    let from: DateTime<Utc> = "2026-10-23T12:00:00Z".parse().unwrap();
    let autumn: Vec<String> = portal
        .cron
        .upcoming(from, 4)
        .iter()
        .map(|t| t.to_rfc3339())
        .collect();
    // On 25 October the clocks go back from 03:00 CEST to 02:00 CET, so 02:00 happens twice
    // (00:00 and 01:00 UTC): it fires at the first only.
    assert_eq!(
        autumn,
        [
            "2026-10-24T00:00:00+00:00",
            "2026-10-25T00:00:00+00:00",
            "2026-10-26T01:00:00+00:00",
            "2026-10-27T01:00:00+00:00"
        ]
    );
    let zoho = schedules.iter().find(|s| s.name == "zoho").unwrap();
    let hourly = zoho.cron.upcoming(from, 2);
    assert_eq!(hourly[1] - hourly[0], Span::hours(1));
}
