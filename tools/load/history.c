/* load/history.c: the SQLite file behind levee-load's history: schema and its upgrades, runs
 * recorded in one transaction, queries. Owns its connection; never prints. One thread. */
#include "history.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/common.h"
#include "grow.h"

struct load_history {
    sqlite3 *db;
    char err[256];
};

static const char load_history_schema_v1[] =
    "CREATE TABLE runs (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  kind TEXT NOT NULL CHECK (kind IN ('rehearsal', 'score')),\n"
    "  scenario TEXT NOT NULL,\n"
    "  target TEXT NOT NULL,\n"
    "  region TEXT NOT NULL DEFAULT '',\n"
    "  started_at TEXT NOT NULL,\n"
    "  duration_s REAL,\n"
    "  run_s REAL,\n"
    "  offered_per_s REAL,\n"
    "  goodput_per_s REAL,\n"
    "  goodput_share REAL,\n"
    "  user_success REAL,\n"
    "  p99_ms REAL,\n"
    "  errors INTEGER NOT NULL DEFAULT 0,\n"
    "  score REAL,\n"
    "  score_max REAL\n"
    ");\n"
    "CREATE INDEX runs_by_group ON runs (scenario, region, started_at);\n"
    "CREATE TABLE parts (\n"
    "  run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,\n"
    "  service TEXT NOT NULL,\n"
    "  part TEXT NOT NULL,\n"
    "  value REAL NOT NULL,\n"
    "  max REAL NOT NULL,\n"
    "  PRIMARY KEY (run_id, service, part)\n"
    ");\n";

const char *load_history_kind_name(load_history_kind_t k)
{
    return k == LOAD_HISTORY_SCORE ? "score" : "rehearsal";
}

void load_history_utc(int64_t t, char *buf, size_t size)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int load_history_parse_utc(const char *s, int64_t *t)
{
    struct tm tm = {0};
    const char *end = s ? strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm) : NULL;
    if (!end || *end || strlen(s) != 20)
        return LV_EINVAL;
    *t = (int64_t)timegm(&tm);
    return LV_OK;
}

static void load_history_fail(load_history_t *h, const char *what)
{
    snprintf(h->err, sizeof(h->err), "%s: %s", what, sqlite3_errmsg(h->db));
}

const char *load_history_error(const load_history_t *h)
{
    return h->err;
}

static int load_history_user_version(sqlite3 *db, int *v)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        return -1;
    int rc = sqlite3_step(st) == SQLITE_ROW ? 0 : -1;
    *v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return rc;
}

/* Brings the schema to LOAD_HISTORY_SCHEMA in one transaction (two processes opening a new
 * file at once: the second waits, then sees the tables). */
static int load_history_migrate(load_history_t *h)
{
    int v;
    if (sqlite3_exec(h->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
        load_history_user_version(h->db, &v) != 0) {
        load_history_fail(h, "reading the schema version");
        sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    if (v > LOAD_HISTORY_SCHEMA) {
        snprintf(h->err, sizeof(h->err),
                 "schema version %d is newer than this levee-load's (%d): upgrade levee-load", v,
                 LOAD_HISTORY_SCHEMA);
        sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    /* Each step takes the schema from version i to i + 1; there is one so far. */
    if (v == 0 && sqlite3_exec(h->db, load_history_schema_v1, NULL, NULL, NULL) != SQLITE_OK) {
        load_history_fail(h, "creating the tables");
        sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    char sql[64];
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", LOAD_HISTORY_SCHEMA);
    if (sqlite3_exec(h->db, sql, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(h->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        load_history_fail(h, "setting the schema version");
        sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return 0;
}

load_history_t *load_history_open(const char *path, char *err, size_t err_size)
{
    load_history_t *h = lv_xcalloc(1, sizeof(*h));
    int rc = sqlite3_open_v2(path, &h->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, err_size, "%s: %s", path, h->db ? sqlite3_errmsg(h->db) : sqlite3_errstr(rc));
        goto fail;
    }
    /* A scheduled rehearsal and a person may write at the same time: wait for the lock. */
    sqlite3_busy_timeout(h->db, 10000);
    if (sqlite3_exec(h->db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL) != SQLITE_OK) {
        load_history_fail(h, "foreign keys");
        snprintf(err, err_size, "%s: %s", path, h->err);
        goto fail;
    }
    if (load_history_migrate(h) != 0) {
        snprintf(err, err_size, "%s: %s", path, h->err);
        goto fail;
    }
    return h;
fail:
    sqlite3_close(h->db);
    free(h);
    return NULL;
}

void load_history_close(load_history_t *h)
{
    if (!h)
        return;
    sqlite3_close(h->db);
    free(h);
}

static void load_bind_opt(sqlite3_stmt *st, int i, double v)
{
    if (v < 0)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_double(st, i, v);
}

static int load_history_check(load_history_t *h, const load_history_run_t *r,
                              const load_history_part_t *parts, size_t n)
{
    int64_t t;
    const char *why = NULL;
    if (r->kind != LOAD_HISTORY_REHEARSAL && r->kind != LOAD_HISTORY_SCORE)
        why = "kind is neither rehearsal nor score";
    else if (!r->scenario || !*r->scenario)
        why = "no scenario";
    else if (!r->target || !*r->target)
        why = "no target";
    else if (r->started_at && *r->started_at && load_history_parse_utc(r->started_at, &t) != 0)
        why = "started_at is not YYYY-MM-DDTHH:MM:SSZ";
    for (size_t i = 0; !why && i < n; i++)
        if (!parts[i].service || !parts[i].part || !*parts[i].part)
            why = "a part without a service or a name";
    if (why)
        snprintf(h->err, sizeof(h->err), "%s", why);
    return why ? LV_EINVAL : LV_OK;
}

int64_t load_history_record(load_history_t *h, const load_history_run_t *r,
                            const load_history_part_t *parts, size_t n)
{
    if (load_history_check(h, r, parts, n) != LV_OK)
        return LV_EINVAL;
    char now[32];
    const char *started = r->started_at;
    if (!started || !*started) {
        load_history_utc((int64_t)time(NULL), now, sizeof(now));
        started = now;
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_exec(h->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        load_history_fail(h, "begin");
        return LV_EIO;
    }
    if (sqlite3_prepare_v2(h->db,
                           "INSERT INTO runs (kind, scenario, target, region, started_at, "
                           "duration_s, run_s, offered_per_s, goodput_per_s, goodput_share, "
                           "user_success, p99_ms, errors, score, score_max) VALUES "
                           "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           -1, &st, NULL) != SQLITE_OK)
        goto fail;
    sqlite3_bind_text(st, 1, load_history_kind_name(r->kind), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, r->scenario, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, r->target, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, r->region ? r->region : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, started, -1, SQLITE_STATIC);
    load_bind_opt(st, 6, r->duration_s);
    load_bind_opt(st, 7, r->run_s);
    load_bind_opt(st, 8, r->offered_per_s);
    load_bind_opt(st, 9, r->goodput_per_s);
    load_bind_opt(st, 10, r->goodput_share);
    load_bind_opt(st, 11, r->user_success);
    load_bind_opt(st, 12, r->p99_ms);
    sqlite3_bind_int64(st, 13, (sqlite3_int64)r->errors);
    load_bind_opt(st, 14, r->kind == LOAD_HISTORY_SCORE ? r->score : -1);
    load_bind_opt(st, 15, r->kind == LOAD_HISTORY_SCORE ? r->score_max : -1);
    if (sqlite3_step(st) != SQLITE_DONE)
        goto fail;
    sqlite3_finalize(st);
    st = NULL;
    int64_t run_id = (int64_t)sqlite3_last_insert_rowid(h->db);
    if (n > 0 && sqlite3_prepare_v2(h->db,
                                    "INSERT INTO parts (run_id, service, part, value, max) "
                                    "VALUES (?, ?, ?, ?, ?)",
                                    -1, &st, NULL) != SQLITE_OK)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, run_id);
        sqlite3_bind_text(st, 2, parts[i].service, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, parts[i].part, -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 4, parts[i].value);
        sqlite3_bind_double(st, 5, parts[i].max);
        if (sqlite3_step(st) != SQLITE_DONE)
            goto fail;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_exec(h->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    return run_id;
fail:
    load_history_fail(h, "recording the run");
    sqlite3_finalize(st);
    sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
    return LV_EIO;
}

static double load_col_opt(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? -1 : sqlite3_column_double(st, i);
}

static const char *load_col_str(sqlite3_stmt *st, int i)
{
    const unsigned char *s = sqlite3_column_text(st, i);
    return lv_xstrdup(s ? (const char *)s : "");
}

/* Appends the parts of every run of l (one query per run: histories are small). */
static int load_history_query_parts(load_history_t *h, load_history_list_t *l)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(h->db,
                           "SELECT service, part, value, max FROM parts WHERE run_id = ? "
                           "ORDER BY service, part",
                           -1, &st, NULL) != SQLITE_OK) {
        load_history_fail(h, "reading the parts");
        return LV_EIO;
    }
    int rc = LV_OK;
    for (size_t i = 0; i < l->n && rc == LV_OK; i++) {
        load_history_entry_t *e = &l->v[i];
        size_t cap = 0;
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, e->run.id);
        int s;
        while ((s = sqlite3_step(st)) == SQLITE_ROW) {
            e->parts = load_grow(e->parts, e->n_parts, &cap, sizeof(*e->parts));
            load_history_part_t *p = &e->parts[e->n_parts++];
            p->service = load_col_str(st, 0);
            p->part = load_col_str(st, 1);
            p->value = sqlite3_column_double(st, 2);
            p->max = sqlite3_column_double(st, 3);
        }
        if (s != SQLITE_DONE) {
            load_history_fail(h, "reading the parts");
            rc = LV_EIO;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

int load_history_query(load_history_t *h, const load_history_filter_t *f, load_history_list_t *out)
{
    memset(out, 0, sizeof(*out));
    /* The newest `last` runs that match, returned oldest first. */
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(h->db,
                           "SELECT * FROM (SELECT id, kind, scenario, target, region, started_at, "
                           "duration_s, run_s, offered_per_s, goodput_per_s, goodput_share, "
                           "user_success, p99_ms, errors, score, score_max FROM runs "
                           "WHERE (?1 IS NULL OR scenario = ?1) AND (?2 IS NULL OR target = ?2) "
                           "AND (?3 IS NULL OR region = ?3) "
                           "ORDER BY started_at DESC, id DESC LIMIT ?4) "
                           "ORDER BY started_at, id",
                           -1, &st, NULL) != SQLITE_OK) {
        load_history_fail(h, "reading the runs");
        return LV_EIO;
    }
    const char *by[3] = {f ? f->scenario : NULL, f ? f->target : NULL, f ? f->region : NULL};
    for (int i = 0; i < 3; i++)
        if (by[i] && (*by[i] || i == 2)) /* region "" is a value: runs without a region */
            sqlite3_bind_text(st, i + 1, by[i], -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, f && f->last ? (sqlite3_int64)f->last : -1);
    size_t cap = 0;
    int s, rc = LV_OK;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        out->v = load_grow(out->v, out->n, &cap, sizeof(*out->v));
        load_history_entry_t *e = &out->v[out->n++];
        memset(e, 0, sizeof(*e));
        load_history_run_t *r = &e->run;
        r->id = sqlite3_column_int64(st, 0);
        const unsigned char *kind = sqlite3_column_text(st, 1);
        r->kind = kind && strcmp((const char *)kind, "score") == 0 ? LOAD_HISTORY_SCORE
                                                                   : LOAD_HISTORY_REHEARSAL;
        r->scenario = load_col_str(st, 2);
        r->target = load_col_str(st, 3);
        r->region = load_col_str(st, 4);
        r->started_at = load_col_str(st, 5);
        r->duration_s = load_col_opt(st, 6);
        r->run_s = load_col_opt(st, 7);
        r->offered_per_s = load_col_opt(st, 8);
        r->goodput_per_s = load_col_opt(st, 9);
        r->goodput_share = load_col_opt(st, 10);
        r->user_success = load_col_opt(st, 11);
        r->p99_ms = load_col_opt(st, 12);
        r->errors = (uint64_t)sqlite3_column_int64(st, 13);
        r->score = load_col_opt(st, 14);
        r->score_max = load_col_opt(st, 15);
    }
    if (s != SQLITE_DONE) {
        load_history_fail(h, "reading the runs");
        rc = LV_EIO;
    }
    sqlite3_finalize(st);
    return rc == LV_OK ? load_history_query_parts(h, out) : rc;
}

void load_history_list_free(load_history_list_t *l)
{
    for (size_t i = 0; i < l->n; i++) {
        load_history_entry_t *e = &l->v[i];
        free((char *)e->run.scenario);
        free((char *)e->run.target);
        free((char *)e->run.region);
        free((char *)e->run.started_at);
        for (size_t k = 0; k < e->n_parts; k++) {
            free((char *)e->parts[k].service);
            free((char *)e->parts[k].part);
        }
        free(e->parts);
    }
    free(l->v);
    l->v = NULL;
    l->n = 0;
}
