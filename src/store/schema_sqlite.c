/*
 * schema_sqlite.c - the SQLite schema of a trove store, as an ordered list
 * of migrations.
 *
 * Invariants:
 *   - Script i (0-based) takes a store from schema version i to i+1; the
 *     version lives in PRAGMA user_version and is written by the opener in
 *     the same transaction as the script, so a store is always exactly at one
 *     version, never between two.
 *   - Scripts are append-only: once released, a script never changes (a
 *     store at version N was built by scripts 1..N as written here). Changes
 *     go into a new script at the end.
 *   - Internal ids are rowids (> 0, never reused because nothing is deleted).
 *     Event ids are the 64-bit event id reinterpreted as a signed integer.
 *   - Booleans are 0/1 integers with CHECK constraints; timestamps are Unix
 *     seconds (UTC); 0 means "none" for item start/end times.
 *
 * Events are the one table written per ingested row, so they carry as
 * little as possible (see docs/store.md for the measurements):
 *   - the rowid is the event id, so the idempotent INSERT ... ON CONFLICT
 *     DO NOTHING costs one b-tree probe;
 *   - one index, events_ts, for the (ts, id) order of
 *     trove_store_events_foreach and time windows; timestamps mostly grow
 *     during an ingest, so it is appended to at its right edge. Per-market
 *     walks and counts scan it (an index on (market_id, ts) made each insert
 *     about 50% more expensive in CPU time);
 *   - no REFERENCES clauses: the store checks that the user, item and market
 *     of an event exist before inserting it (against sets of known ids), which
 *     saves three parent-table probes per row over SQLite's foreign keys.
 */
#include "store/store_int.h"

const char *const trove__store_sqlite_migrations[] = {
    /* 1: feature store and event log. application_id 0x54524f56 = "TROV"
     * marks the file as a trove store. */
    "PRAGMA application_id = 1414680406;\n"
    "CREATE TABLE markets (\n"
    "  id       INTEGER PRIMARY KEY,\n"
    "  code     TEXT NOT NULL UNIQUE,\n"
    "  name     TEXT NOT NULL,\n"
    "  timezone TEXT NOT NULL DEFAULT 'UTC'\n"
    ");\n"
    "CREATE TABLE users (\n"
    "  id        INTEGER PRIMARY KEY,\n"
    "  ext_id    TEXT NOT NULL UNIQUE,\n"
    "  market_id INTEGER REFERENCES markets(id)\n"
    ");\n"
    "CREATE INDEX users_market ON users(market_id);\n"
    "CREATE TABLE items (\n"
    "  id         INTEGER PRIMARY KEY,\n"
    "  ext_id     TEXT NOT NULL UNIQUE,\n"
    "  title      TEXT NOT NULL DEFAULT '',\n"
    "  active     INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),\n"
    "  pinned     INTEGER NOT NULL DEFAULT 0 CHECK (pinned IN (0, 1)),\n"
    "  blocked    INTEGER NOT NULL DEFAULT 0 CHECK (blocked IN (0, 1)),\n"
    "  start_ts   INTEGER NOT NULL DEFAULT 0,\n"
    "  end_ts     INTEGER NOT NULL DEFAULT 0,\n"
    "  created_ts INTEGER NOT NULL\n"
    ");\n"
    "CREATE TABLE features (\n"
    "  id     INTEGER PRIMARY KEY,\n"
    "  target INTEGER NOT NULL CHECK (target IN (1, 2)),\n"
    "  name   TEXT NOT NULL,\n"
    "  kind   INTEGER NOT NULL CHECK (kind IN (1, 2)),\n"
    "  UNIQUE (target, name)\n"
    ");\n"
    "CREATE TABLE user_features (\n"
    "  user_id    INTEGER NOT NULL REFERENCES users(id),\n"
    "  feature_id INTEGER NOT NULL REFERENCES features(id),\n"
    "  value      REAL NOT NULL,\n"
    "  PRIMARY KEY (user_id, feature_id)\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE item_features (\n"
    "  item_id    INTEGER NOT NULL REFERENCES items(id),\n"
    "  feature_id INTEGER NOT NULL REFERENCES features(id),\n"
    "  value      REAL NOT NULL,\n"
    "  PRIMARY KEY (item_id, feature_id)\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE events (\n"
    "  id        INTEGER PRIMARY KEY,\n"
    "  user_id   INTEGER NOT NULL,\n"
    "  item_id   INTEGER NOT NULL,\n"
    "  type      INTEGER NOT NULL CHECK (type BETWEEN 1 AND 6),\n"
    "  value     REAL NOT NULL,\n"
    "  ts        INTEGER NOT NULL,\n"
    "  market_id INTEGER\n"
    ");\n"
    "CREATE INDEX events_ts ON events(ts);\n",

    /* 2: model registry and assignment cycles. At most one active model
     * version per market (NULL market = a global model, counted as 0). */
    "CREATE TABLE model_versions (\n"
    "  id               INTEGER PRIMARY KEY,\n"
    "  market_id        INTEGER REFERENCES markets(id),\n"
    "  version          INTEGER NOT NULL,\n"
    "  created_ts       INTEGER NOT NULL,\n"
    "  family           TEXT NOT NULL,\n"
    "  path             TEXT NOT NULL,\n"
    "  config_hash      TEXT NOT NULL,\n"
    "  data_fingerprint TEXT NOT NULL,\n"
    "  metrics_json     TEXT NOT NULL DEFAULT '{}',\n"
    "  active           INTEGER NOT NULL DEFAULT 0 CHECK (active IN (0, 1)),\n"
    "  UNIQUE (market_id, version)\n"
    ");\n"
    "CREATE UNIQUE INDEX model_versions_active\n"
    "  ON model_versions(ifnull(market_id, 0)) WHERE active = 1;\n"
    "CREATE TABLE cycles (\n"
    "  id               INTEGER PRIMARY KEY,\n"
    "  market_id        INTEGER NOT NULL REFERENCES markets(id),\n"
    "  cycle_key        TEXT NOT NULL,\n"
    "  created_ts       INTEGER NOT NULL,\n"
    "  model_version_id INTEGER REFERENCES model_versions(id),\n"
    "  salt             INTEGER NOT NULL,\n"
    "  status           TEXT NOT NULL DEFAULT 'open',\n"
    "  UNIQUE (market_id, cycle_key)\n"
    ");\n"
    "CREATE TABLE assignments (\n"
    "  cycle_id INTEGER NOT NULL REFERENCES cycles(id),\n"
    "  user_id  INTEGER NOT NULL REFERENCES users(id),\n"
    "  item_id  INTEGER NOT NULL REFERENCES items(id),\n"
    "  rank     INTEGER NOT NULL CHECK (rank >= 0),\n"
    "  arm      TEXT NOT NULL CHECK (arm IN ('test', 'control')),\n"
    "  score    REAL,\n"
    "  PRIMARY KEY (cycle_id, user_id, rank)\n"
    ") WITHOUT ROWID;\n",

    /* 3: registry and cycle API. Pruned model versions keep their row (the
     * cycles that used them still name them); activations form a stack per
     * market (market_key = ifnull(market_id, 0)) for rollback. Cycles keep
     * their salt as text (`salt` holds its 64-bit hash), the configured
     * test share for the sample-ratio check and the number of eligible
     * offers for coverage. An offer appears at most once in a user's list. */
    "ALTER TABLE model_versions ADD COLUMN pruned INTEGER NOT NULL DEFAULT 0\n"
    "  CHECK (pruned IN (0, 1));\n"
    "CREATE TABLE model_activations (\n"
    "  seq              INTEGER PRIMARY KEY,\n"
    "  market_key       INTEGER NOT NULL,\n"
    "  model_version_id INTEGER NOT NULL REFERENCES model_versions(id),\n"
    "  ts               INTEGER NOT NULL\n"
    ");\n"
    "CREATE INDEX model_activations_market ON model_activations(market_key, seq);\n"
    "ALTER TABLE cycles ADD COLUMN seed TEXT NOT NULL DEFAULT '';\n"
    "ALTER TABLE cycles ADD COLUMN test_share REAL NOT NULL DEFAULT 1;\n"
    "ALTER TABLE cycles ADD COLUMN eligible_items INTEGER NOT NULL DEFAULT 0;\n"
    "CREATE INDEX cycles_market_ts ON cycles(market_id, created_ts);\n"
    "ALTER TABLE assignments ADD COLUMN source INTEGER NOT NULL DEFAULT 1\n"
    "  CHECK (source BETWEEN 1 AND 5);\n"
    "CREATE UNIQUE INDEX assignments_pair ON assignments(cycle_id, user_id, item_id);\n",

    /* 4: treasure hunts (trove/hunt.h). One row per user, market and local
     * day (hunt_key is the hunt id, a hash of the three); body is the
     * encoded hunt with its progress, steps_done and reward mirror it for
     * queries. No index on events: progress reads a user's events of the
     * hunt's window through events_ts. */
    "CREATE TABLE hunts (\n"
    "  id         INTEGER PRIMARY KEY,\n"
    "  hunt_key   TEXT NOT NULL UNIQUE,\n"
    "  market_id  INTEGER NOT NULL REFERENCES markets(id),\n"
    "  user_ext   TEXT NOT NULL,\n"
    "  day        INTEGER NOT NULL,\n"
    "  created_ts INTEGER NOT NULL,\n"
    "  expires_ts INTEGER NOT NULL,\n"
    "  steps      INTEGER NOT NULL,\n"
    "  steps_done INTEGER NOT NULL DEFAULT 0,\n"
    "  reward     TEXT NOT NULL DEFAULT '',\n"
    "  body       TEXT NOT NULL\n"
    ");\n"
    "CREATE INDEX hunts_market_day ON hunts(market_id, day);\n",

    /* 5: assignment lists. One row per (cycle, user) with the arm and the
     * user's whole ranked list packed in a blob (format in store_sqlite.c
     * and docs/cycles.md): a cycle of 1M users x 10 offers writes 1M rows in
     * key order instead of 10M rows plus a secondary index. Ids are checked
     * by the store before the insert (as for events). The rows of schema 3
     * are packed by trove_assignment_pack(); `assignments` becomes a view
     * that unpacks the lists with trove_assignment_rows(list). Both are
     * registered by the store on every connection it opens. */
    "CREATE TABLE assignment_lists (\n"
    "  cycle_id INTEGER NOT NULL,\n"
    "  user_id  INTEGER NOT NULL,\n"
    "  arm      INTEGER NOT NULL CHECK (arm IN (0, 1)),\n"
    "  list     BLOB NOT NULL,\n"
    "  PRIMARY KEY (cycle_id, user_id)\n"
    ") WITHOUT ROWID;\n"
    "INSERT INTO assignment_lists(cycle_id, user_id, arm, list)\n"
    "  SELECT cycle_id, user_id, max(arm = 'test'),\n"
    "         trove_assignment_pack(rank, item_id, score, source)\n"
    "  FROM assignments GROUP BY cycle_id, user_id;\n"
    "DROP TABLE assignments;\n"
    "CREATE VIEW assignments(cycle_id, user_id, item_id, rank, arm, score, source)\n"
    "  AS SELECT l.cycle_id, l.user_id, r.item_id, r.rank,\n"
    "            CASE l.arm WHEN 1 THEN 'test' ELSE 'control' END, r.score, r.source\n"
    "  FROM assignment_lists l, trove_assignment_rows(l.list) r;\n",

    /* 6: a market's events in time order without visiting the others: the
     * monitor (trove/monitor.h) reads one market's events of a span, which
     * through events_ts alone meant every event of the span and a table
     * lookup per row (event ids are hashes, so rows are scattered). The
     * index holds every column events_foreach reads, so such a scan never
     * touches the table. */
    "CREATE INDEX events_market_ts ON events(market_id, ts, id, user_id,\n"
    "  item_id, type, value);\n",
};

const int trove__store_sqlite_n_migrations =
    (int)(sizeof trove__store_sqlite_migrations /
          sizeof trove__store_sqlite_migrations[0]);
