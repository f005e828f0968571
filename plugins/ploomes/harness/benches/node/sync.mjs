// The ploomes sync as a plain Node.js script of the kind it replaces (PERFORMANCE.md B6/B7, the
// "what users run today" baseline): global fetch, page by page by keyset, one upsert per page,
// one aggregate query at the end. It does less than the connector (no cursor kept per page, no
// contact names, no retry or rate limit), which makes the comparison conservative.
//
// Environment: BASE (the Ploomes API), KEY (User-Key), DB (a SQLite file path or a postgres://
// URL). Prints one JSON line: {"deals": N, "ms": M}, timed from the first request to the end of
// the aggregate, after the database is open.

const { BASE, KEY, DB } = process.env;
const PAGE = 300;
const FIELDS =
  "Id,Title,ContactId,Amount,StatusId,PipelineId,StageId,OwnerId,CreateDate,FinishDate,LastUpdateDate";
const COLUMNS = [
  "id", "customer_id", "title", "amount", "status_id", "status", "pipeline_id", "stage_id",
  "owner_id", "create_date", "finish_date", "last_update_date", "synced_at",
];
const STATUS = { 1: "open", 2: "won", 3: "lost" };
const UPDATES = COLUMNS.slice(1).map((c) => `${c} = excluded.${c}`).join(", ");

function dealsUrl(after) {
  let url = `${BASE}/Deals?$select=${FIELDS}`;
  if (after) {
    const f = `(LastUpdateDate gt ${after.date} or (LastUpdateDate eq ${after.date} and Id gt ${after.id}))`;
    url += `&$filter=${encodeURIComponent(f)}`;
  }
  return `${url}&$orderby=LastUpdateDate,Id&$top=${PAGE}`;
}

const iso = (s) => (s == null ? null : new Date(s).toISOString());

function row(d, syncedAt) {
  return [
    d.Id, d.ContactId ?? null, d.Title ?? null, d.Amount ?? null, d.StatusId ?? null,
    STATUS[d.StatusId] ?? null, d.PipelineId ?? null, d.StageId ?? null, d.OwnerId ?? null,
    iso(d.CreateDate), iso(d.FinishDate), iso(d.LastUpdateDate), syncedAt,
  ];
}

// Per customer: deals by status, revenue and average of won deals, purchase dates.
const AGGREGATE = (daysSince) => `
  INSERT INTO customer_sales (customer_id, total_sales, total_deals, won_deals, open_deals,
    lost_deals, total_revenue, average_deal_value, first_purchase_date, last_purchase_date,
    days_since_last_purchase, last_sync_at, updated_at)
  SELECT customer_id, won, total, won, open, lost, revenue,
    CASE WHEN won_amounts = 0 THEN 0 ELSE ROUND(CAST(revenue / won_amounts AS NUMERIC), 2) END,
    first_purchase, last_purchase, ${daysSince}, $1, $1
  FROM (SELECT customer_id, COUNT(*) AS total,
      SUM(CASE WHEN status = 'won' THEN 1 ELSE 0 END) AS won,
      SUM(CASE WHEN status = 'open' THEN 1 ELSE 0 END) AS open,
      SUM(CASE WHEN status = 'lost' THEN 1 ELSE 0 END) AS lost,
      COUNT(CASE WHEN status = 'won' THEN amount END) AS won_amounts,
      COALESCE(SUM(CASE WHEN status = 'won' THEN amount END), 0) AS revenue,
      MIN(CASE WHEN status = 'won' THEN COALESCE(finish_date, last_update_date) END) AS first_purchase,
      MAX(CASE WHEN status = 'won' THEN COALESCE(finish_date, last_update_date) END) AS last_purchase
    FROM sales WHERE customer_id IS NOT NULL GROUP BY customer_id) AS a
  WHERE true
  ON CONFLICT (customer_id) DO UPDATE SET total_sales = excluded.total_sales,
    total_deals = excluded.total_deals, won_deals = excluded.won_deals,
    open_deals = excluded.open_deals, lost_deals = excluded.lost_deals,
    total_revenue = excluded.total_revenue, average_deal_value = excluded.average_deal_value,
    first_purchase_date = excluded.first_purchase_date,
    last_purchase_date = excluded.last_purchase_date,
    days_since_last_purchase = excluded.days_since_last_purchase,
    last_sync_at = excluded.last_sync_at, updated_at = excluded.updated_at`;

async function openDb() {
  if (DB.startsWith("postgres")) {
    const { default: pg } = await import("pg");
    const client = new pg.Client({ connectionString: DB });
    await client.connect();
    return {
      async upsert(rows) {
        const params = [];
        const tuples = rows.map((r) => {
          const start = params.length;
          params.push(...r);
          return `(${r.map((_, i) => `$${start + i + 1}`).join(", ")})`;
        });
        await client.query(
          `INSERT INTO sales (${COLUMNS.join(", ")}) VALUES ${tuples.join(", ")} ` +
            `ON CONFLICT (id) DO UPDATE SET ${UPDATES}`,
          params,
        );
      },
      async aggregate(now) {
        await client.query(
          AGGREGATE("CAST(EXTRACT(DAY FROM $1::timestamptz - last_purchase) AS BIGINT)"),
          [now],
        );
      },
      close: () => client.end(),
    };
  }
  const { default: Database } = await import("better-sqlite3");
  const db = new Database(DB);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  const stmt = db.prepare(
    `INSERT INTO sales (${COLUMNS.join(", ")}) VALUES (${COLUMNS.map(() => "?").join(", ")}) ` +
      `ON CONFLICT (id) DO UPDATE SET ${UPDATES}`,
  );
  const page = db.transaction((rows) => {
    for (const r of rows) stmt.run(r);
  });
  return {
    async upsert(rows) {
      page(rows);
    },
    async aggregate(now) {
      db.prepare(
        AGGREGATE("CAST(julianday($1) - julianday(last_purchase) AS INTEGER)").replaceAll(
          "$1",
          "@now",
        ),
      ).run({ now });
    },
    close: async () => db.close(),
  };
}

const db = await openDb();
const started = performance.now();
const syncedAt = new Date().toISOString();
let after = null;
let deals = 0;
for (;;) {
  const res = await fetch(dealsUrl(after), {
    headers: { "User-Key": KEY, accept: "application/json" },
  });
  if (res.status !== 200) throw new Error(`GET /Deals answered ${res.status}: ${await res.text()}`);
  const page = (await res.json()).value;
  if (page.length === 0) break;
  await db.upsert(page.map((d) => row(d, syncedAt)));
  deals += page.length;
  const last = page[page.length - 1];
  after = { date: last.LastUpdateDate, id: last.Id };
  if (page.length < PAGE) break;
}
await db.aggregate(syncedAt);
const ms = performance.now() - started;
await db.close();
console.log(JSON.stringify({ deals, ms }));
