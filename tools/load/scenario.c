/* load/scenario.c: parses levee-load scenario files (YAML, libyaml document API) and target
 * URLs, rejecting any unknown key or bad value with file:line:col, and checks an https target's
 * TLS settings. Start-up only; no I/O besides reading the one file (and a CA file). */
#include "scenario.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <yaml.h>

#include "core/common.h"
#include "file.h"

void load_scenario_defaults(load_scenario_t *s)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->label, sizeof(s->label), "run");
    s->duration_s = 0;
    s->drain_s = -1; /* derived from patience unless set */
    s->capacity = -1;
    s->seed = 1;
    s->max_conns = 10000;
    load_profile_init(&s->profile);
    load_user_params_default(&s->users);
}

int load_target_parse(load_target_t *t, const char *url)
{
    memset(t, 0, sizeof(*t));
    if (strlen(url) >= sizeof(t->url))
        return LV_EINVAL;
    if (strncmp(url, "https://", 8) == 0)
        t->tls = 1;
    else if (strncmp(url, "http://", 7) != 0)
        return LV_EINVAL;
    snprintf(t->url, sizeof(t->url), "%s", url);
    const char *h = url + (t->tls ? 8 : 7);
    const char *slash = strchr(h, '/');
    size_t hostport_len = slash ? (size_t)(slash - h) : strlen(h);
    char hp[80];
    if (hostport_len == 0 || hostport_len >= sizeof(hp))
        return LV_EINVAL;
    memcpy(hp, h, hostport_len);
    hp[hostport_len] = '\0';
    snprintf(t->host_header, sizeof(t->host_header), "%s", hp);
    char *colon = strrchr(hp, ':');
    unsigned long port = t->tls ? 443 : 80;
    if (colon) {
        char *end;
        errno = 0;
        port = strtoul(colon + 1, &end, 10);
        if (errno || *end || end == colon + 1 || port == 0 || port > 65535)
            return LV_EINVAL;
        *colon = '\0';
    }
    if (strcmp(hp, "localhost") == 0) {
        snprintf(t->host, sizeof(t->host), "127.0.0.1");
        if (t->tls)
            snprintf(t->sni, sizeof(t->sni), "localhost");
    } else
        snprintf(t->host, sizeof(t->host), "%s", hp);
    unsigned a, b, c, d;
    char extra;
    if (sscanf(t->host, "%u.%u.%u.%u%c", &a, &b, &c, &d, &extra) != 4 || a > 255 || b > 255 ||
        c > 255 || d > 255)
        return LV_EINVAL;
    t->port = (uint16_t)port;
    snprintf(t->path, sizeof(t->path), "%s", slash ? slash : "/");
    return LV_OK;
}

/* ---- YAML walking ---------------------------------------------------------------------- */

typedef struct load_pctx {
    yaml_document_t *doc;
    const char *name;
    char *err;
    size_t cap, len;
    int nerr;
} load_pctx_t;

__attribute__((format(printf, 4, 5))) static void load_perr(load_pctx_t *c, const yaml_node_t *n,
                                                            const char *key, const char *fmt, ...)
{
    c->nerr++;
    if (!c->err || c->len + 1 >= c->cap)
        return;
    int w = snprintf(c->err + c->len, c->cap - c->len, "%s:%zu:%zu: %s: ", c->name,
                     n ? n->start_mark.line + 1 : 0, n ? n->start_mark.column + 1 : 0, key);
    if (w < 0)
        return;
    c->len = LV_MIN(c->cap - 1, c->len + (size_t)w);
    va_list ap;
    va_start(ap, fmt);
    w = vsnprintf(c->err + c->len, c->cap - c->len, fmt, ap);
    va_end(ap);
    if (w < 0)
        return;
    c->len = LV_MIN(c->cap - 1, c->len + (size_t)w);
    if (c->len + 1 < c->cap) {
        c->err[c->len++] = '\n';
        c->err[c->len] = '\0';
    }
}

static yaml_node_t *load_node(load_pctx_t *c, int idx)
{
    return yaml_document_get_node(c->doc, idx);
}

static const char *load_scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int load_get_num(load_pctx_t *c, yaml_node_t *n, const char *key, double lo, double hi,
                        double *out)
{
    const char *v = load_scalar(n);
    if (!v || !*v) {
        load_perr(c, n, key, "expected a number");
        return -1;
    }
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || *end || !isfinite(d)) {
        load_perr(c, n, key, "'%s' is not a number", v);
        return -1;
    }
    if (d < lo || d > hi) {
        load_perr(c, n, key, "%g is out of range [%g, %g]", d, lo, hi);
        return -1;
    }
    *out = d;
    return 0;
}

static int load_get_uint(load_pctx_t *c, yaml_node_t *n, const char *key, double lo, double hi,
                         uint64_t *out)
{
    double d;
    if (load_get_num(c, n, key, lo, hi, &d))
        return -1;
    if (d != floor(d)) {
        load_perr(c, n, key, "expected an integer");
        return -1;
    }
    *out = (uint64_t)d;
    return 0;
}

static int load_get_str(load_pctx_t *c, yaml_node_t *n, const char *key, char *out, size_t cap)
{
    const char *v = load_scalar(n);
    if (!v) {
        load_perr(c, n, key, "expected a string");
        return -1;
    }
    if (strlen(v) >= cap) {
        load_perr(c, n, key, "longer than %zu bytes", cap - 1);
        return -1;
    }
    snprintf(out, cap, "%s", v);
    return 0;
}

static int load_expect_map(load_pctx_t *c, yaml_node_t *n, const char *key)
{
    if (!n || n->type != YAML_MAPPING_NODE) {
        load_perr(c, n, key, "expected a mapping");
        return -1;
    }
    return 0;
}

#define LOAD_FOR_PAIRS(n, pair)                                                                    \
    for (yaml_node_pair_t *pair = (n)->data.mapping.pairs.start;                                   \
         pair < (n)->data.mapping.pairs.top; pair++)

/* Rejects a key seen twice in one mapping. */
static int load_dup_key(load_pctx_t *c, yaml_node_t *map, yaml_node_pair_t *cur, const char *path)
{
    const char *k = load_scalar(load_node(c, cur->key));
    LOAD_FOR_PAIRS(map, p)
    {
        if (p == cur)
            break;
        const char *k2 = load_scalar(load_node(c, p->key));
        if (k && k2 && strcmp(k, k2) == 0) {
            load_perr(c, load_node(c, cur->key), path, "duplicate key");
            return 1;
        }
    }
    return 0;
}

static void load_path(char *buf, size_t cap, const char *parent, const char *key)
{
    if (parent && *parent)
        snprintf(buf, cap, "%s.%s", parent, key);
    else
        snprintf(buf, cap, "%s", key);
}

/* A distribution: a plain number (fixed ms) or {dist: fixed|exp|lognormal, mean, p99}. */
static void load_parse_dist(load_pctx_t *c, yaml_node_t *n, const char *path, load_dist_t *out)
{
    if (n && n->type == YAML_SCALAR_NODE) {
        double v;
        if (load_get_num(c, n, path, 0, 86400000, &v) == 0)
            *out = load_dist_fixed(v);
        return;
    }
    if (load_expect_map(c, n, path))
        return;
    const char *kind = NULL;
    yaml_node_t *kind_node = n;
    double mean = -1, p99 = -1;
    int bad = 0;
    char kp[128];
    LOAD_FOR_PAIRS(n, pair)
    {
        yaml_node_t *kn = load_node(c, pair->key), *vn = load_node(c, pair->value);
        const char *k = load_scalar(kn);
        load_path(kp, sizeof(kp), path, k ? k : "?");
        if (!k) {
            load_perr(c, kn, path, "keys must be strings");
            bad = 1;
        } else if (load_dup_key(c, n, pair, kp)) {
            bad = 1;
        } else if (strcmp(k, "dist") == 0) {
            kind = load_scalar(vn);
            kind_node = vn;
            if (!kind ||
                (strcmp(kind, "fixed") && strcmp(kind, "exp") && strcmp(kind, "lognormal"))) {
                load_perr(c, vn, kp, "expected fixed, exp or lognormal");
                bad = 1;
                kind = NULL;
            }
        } else if (strcmp(k, "mean") == 0) {
            bad |= load_get_num(c, vn, kp, 0, 86400000, &mean) != 0;
        } else if (strcmp(k, "p99") == 0) {
            bad |= load_get_num(c, vn, kp, 0, 86400000, &p99) != 0;
        } else {
            load_perr(c, kn, kp, "unknown key (expected dist, mean, p99)");
            bad = 1;
        }
    }
    if (bad)
        return;
    if (!kind) {
        load_perr(c, n, path, "missing 'dist'");
        return;
    }
    if (mean < 0) {
        load_perr(c, n, path, "missing 'mean'");
        return;
    }
    if (strcmp(kind, "fixed") == 0) {
        *out = load_dist_fixed(mean);
    } else if (strcmp(kind, "exp") == 0) {
        *out = load_dist_exp(mean);
    } else {
        if (p99 < 0) {
            load_perr(c, kind_node, path, "lognormal needs 'p99'");
            return;
        }
        if (load_dist_lognormal(out, mean, p99) != 0)
            load_perr(c, n, path, "lognormal needs mean < p99 <= 14.9 * mean");
    }
}

/* One profile segment: a mapping with one key: plateau/step, ramp, spike or points. */
static void load_parse_segment(load_pctx_t *c, yaml_node_t *seg, load_profile_t *pr)
{
    if (load_expect_map(c, seg, "profile[]"))
        return;
    if (seg->data.mapping.pairs.top - seg->data.mapping.pairs.start != 1) {
        load_perr(c, seg, "profile[]",
                  "each item has exactly one of plateau, step, ramp, spike, "
                  "points");
        return;
    }
    yaml_node_pair_t *pair = seg->data.mapping.pairs.start;
    yaml_node_t *kn = load_node(c, pair->key), *vn = load_node(c, pair->value);
    const char *k = load_scalar(kn);
    char path[128], kp[160];
    snprintf(path, sizeof(path), "profile.%s", k ? k : "?");
    if (!k || (strcmp(k, "plateau") && strcmp(k, "step") && strcmp(k, "ramp") &&
               strcmp(k, "spike") && strcmp(k, "points"))) {
        load_perr(c, kn, path, "unknown segment (expected plateau, step, ramp, spike, points)");
        return;
    }
    int rc = 0;
    if (strcmp(k, "points") == 0) {
        if (!vn || vn->type != YAML_SEQUENCE_NODE) {
            load_perr(c, vn, path, "expected a list of [t_s, rate]");
            return;
        }
        double t0 = load_profile_end(pr);
        for (yaml_node_item_t *it = vn->data.sequence.items.start; it < vn->data.sequence.items.top;
             it++) {
            yaml_node_t *pt = load_node(c, *it);
            if (!pt || pt->type != YAML_SEQUENCE_NODE ||
                pt->data.sequence.items.top - pt->data.sequence.items.start != 2) {
                load_perr(c, pt, path, "expected [t_s, rate]");
                continue;
            }
            double t, r;
            if (load_get_num(c, load_node(c, pt->data.sequence.items.start[0]), path, 0, 86400,
                             &t) ||
                load_get_num(c, load_node(c, pt->data.sequence.items.start[1]), path, 0, 1e7, &r))
                continue;
            rc = load_profile_add(pr, t0 + t, r);
            if (rc == LV_EINVAL)
                load_perr(c, pt, path, "time goes backwards");
            else if (rc)
                load_perr(c, pt, path, "too many points (max %d)", LOAD_PROFILE_MAX_POINTS);
        }
        return;
    }
    if (load_expect_map(c, vn, path))
        return;
    double rate = -1, from = -1, to = -1, for_s = -1;
    int bad = 0;
    int is_ramp = strcmp(k, "ramp") == 0;
    LOAD_FOR_PAIRS(vn, p)
    {
        yaml_node_t *pk = load_node(c, p->key), *pv = load_node(c, p->value);
        const char *name = load_scalar(pk);
        load_path(kp, sizeof(kp), path, name ? name : "?");
        if (!name) {
            load_perr(c, pk, path, "keys must be strings");
            bad = 1;
        } else if (load_dup_key(c, vn, p, kp)) {
            bad = 1;
        } else if (strcmp(name, "for_s") == 0) {
            bad |= load_get_num(c, pv, kp, 0.001, 86400, &for_s) != 0;
        } else if (!is_ramp && strcmp(name, "rate") == 0) {
            bad |= load_get_num(c, pv, kp, 0, 1e7, &rate) != 0;
        } else if (is_ramp && strcmp(name, "from") == 0) {
            bad |= load_get_num(c, pv, kp, 0, 1e7, &from) != 0;
        } else if (is_ramp && strcmp(name, "to") == 0) {
            bad |= load_get_num(c, pv, kp, 0, 1e7, &to) != 0;
        } else {
            load_perr(c, pk, kp, "unknown key (expected %s)",
                      is_ramp ? "from, to, for_s" : "rate, for_s");
            bad = 1;
        }
    }
    if (bad)
        return;
    if (for_s < 0) {
        load_perr(c, vn, path, "missing 'for_s'");
        return;
    }
    if (is_ramp) {
        if (to < 0) {
            load_perr(c, vn, path, "missing 'to'");
            return;
        }
        rc = load_profile_ramp(pr, from >= 0 ? from : load_profile_last_rate(pr), to, for_s);
    } else {
        if (rate < 0) {
            load_perr(c, vn, path, "missing 'rate'");
            return;
        }
        rc = strcmp(k, "spike") == 0 ? load_profile_spike(pr, rate, for_s)
                                     : load_profile_plateau(pr, rate, for_s);
    }
    if (rc)
        load_perr(c, vn, path, "too many profile points (max %d)", LOAD_PROFILE_MAX_POINTS);
}

static void load_parse_journey(load_pctx_t *c, yaml_node_t *n, load_scenario_t *s)
{
    const char *path = "users.journey";
    yaml_node_t *one = NULL;
    yaml_node_item_t *start = NULL, *top = NULL;
    if (n && n->type == YAML_SCALAR_NODE) {
        one = n;
    } else if (n && n->type == YAML_SEQUENCE_NODE) {
        start = n->data.sequence.items.start;
        top = n->data.sequence.items.top;
        if (start == top) {
            load_perr(c, n, path, "empty journey");
            return;
        }
    } else {
        load_perr(c, n, path, "expected a path or a list of paths");
        return;
    }
    s->n_journey = 0;
    for (size_t i = 0; one ? i < 1 : start + i < top; i++) {
        yaml_node_t *pn = one ? one : load_node(c, start[i]);
        if (s->n_journey >= LOAD_JOURNEY_MAX) {
            load_perr(c, pn, path, "more than %d steps", LOAD_JOURNEY_MAX);
            return;
        }
        char *dst = s->journey[s->n_journey];
        if (load_get_str(c, pn, path, dst, LOAD_PATH_MAX))
            continue;
        if (dst[0] != '/' || strpbrk(dst, " \r\n\t")) {
            load_perr(c, pn, path, "'%s' must start with / and have no spaces", dst);
            continue;
        }
        s->n_journey++;
    }
}

static void load_parse_users(load_pctx_t *c, yaml_node_t *n, load_scenario_t *s)
{
    if (load_expect_map(c, n, "users"))
        return;
    char kp[128];
    load_user_params_t *u = &s->users;
    LOAD_FOR_PAIRS(n, pair)
    {
        yaml_node_t *kn = load_node(c, pair->key), *vn = load_node(c, pair->value);
        const char *k = load_scalar(kn);
        load_path(kp, sizeof(kp), "users", k ? k : "?");
        uint64_t ui;
        if (!k) {
            load_perr(c, kn, "users", "keys must be strings");
        } else if (load_dup_key(c, n, pair, kp)) {
        } else if (strcmp(k, "journey") == 0) {
            load_parse_journey(c, vn, s);
        } else if (strcmp(k, "patience_ms") == 0) {
            load_parse_dist(c, vn, kp, &u->patience_ms);
        } else if (strcmp(k, "think_ms") == 0) {
            load_parse_dist(c, vn, kp, &u->think_ms);
        } else if (strcmp(k, "retry_delay_ms") == 0) {
            load_parse_dist(c, vn, kp, &u->retry_delay_ms);
        } else if (strcmp(k, "f5_probability") == 0) {
            load_get_num(c, vn, kp, 0, 1, &u->f5_prob);
        } else if (strcmp(k, "obey_retry_after") == 0) {
            load_get_num(c, vn, kp, 0, 1, &u->obey_retry_after);
        } else if (strcmp(k, "retry_after_jitter") == 0) {
            load_get_num(c, vn, kp, 0, 10, &u->retry_after_jitter);
        } else if (strcmp(k, "max_tries") == 0) {
            if (load_get_uint(c, vn, kp, 1, 100, &ui) == 0)
                u->max_tries = (uint32_t)ui;
        } else if (strcmp(k, "max_waits") == 0) {
            if (load_get_uint(c, vn, kp, 0, 1000, &ui) == 0)
                u->max_waits = (uint32_t)ui;
        } else if (strcmp(k, "per_address") == 0) {
            if (load_get_uint(c, vn, kp, 1, 1000000, &ui) == 0)
                u->per_address = (uint32_t)ui;
        } else {
            load_perr(c, kn, kp,
                      "unknown key (expected journey, patience_ms, think_ms, retry_delay_ms, "
                      "f5_probability, max_tries, obey_retry_after, max_waits, "
                      "retry_after_jitter, per_address)");
        }
    }
}

static void load_parse_events(load_pctx_t *c, yaml_node_t *n, load_scenario_t *s)
{
    if (!n || n->type != YAML_SEQUENCE_NODE) {
        load_perr(c, n, "events", "expected a list");
        return;
    }
    char kp[128];
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++) {
        yaml_node_t *e = load_node(c, *it);
        if (load_expect_map(c, e, "events[]"))
            continue;
        if (s->n_events >= LOAD_EVENTS_MAX) {
            load_perr(c, e, "events", "more than %d events", LOAD_EVENTS_MAX);
            return;
        }
        load_event_t ev = {.at_s = -1, .capacity = -1};
        LOAD_FOR_PAIRS(e, pair)
        {
            yaml_node_t *kn = load_node(c, pair->key), *vn = load_node(c, pair->value);
            const char *k = load_scalar(kn);
            load_path(kp, sizeof(kp), "events[]", k ? k : "?");
            if (!k) {
                load_perr(c, kn, "events[]", "keys must be strings");
            } else if (load_dup_key(c, e, pair, kp)) {
            } else if (strcmp(k, "at_s") == 0) {
                load_get_num(c, vn, kp, 0, 86400, &ev.at_s);
            } else if (strcmp(k, "capacity") == 0) {
                load_get_num(c, vn, kp, 0, 1e7, &ev.capacity);
            } else if (strcmp(k, "get") == 0 || strcmp(k, "post") == 0) {
                ev.post = k[0] == 'p';
                load_target_t t;
                if (load_get_str(c, vn, kp, ev.url, sizeof(ev.url)) == 0 &&
                    load_target_parse(&t, ev.url) != 0)
                    load_perr(c, vn, kp, "expected http://IPv4[:port]/path");
            } else {
                load_perr(c, kn, kp, "unknown key (expected at_s, get, post, capacity)");
            }
        }
        if (ev.at_s < 0)
            load_perr(c, e, "events[]", "missing 'at_s'");
        else
            s->events[s->n_events++] = ev;
    }
}

static void load_parse_root(load_pctx_t *c, yaml_node_t *root, load_scenario_t *s)
{
    if (load_expect_map(c, root, "(document)"))
        return;
    LOAD_FOR_PAIRS(root, pair)
    {
        yaml_node_t *kn = load_node(c, pair->key), *vn = load_node(c, pair->value);
        const char *k = load_scalar(kn);
        uint64_t ui;
        if (!k) {
            load_perr(c, kn, "(document)", "keys must be strings");
        } else if (load_dup_key(c, root, pair, k)) {
        } else if (strcmp(k, "label") == 0) {
            if (load_get_str(c, vn, k, s->label, sizeof(s->label)) == 0 &&
                strpbrk(s->label, "\"\\<>&"))
                load_perr(c, vn, k, "no quotes, backslashes, <, > or & please");
        } else if (strcmp(k, "target") == 0) {
            char url[LOAD_PATH_MAX];
            if (load_get_str(c, vn, k, url, sizeof(url)) == 0 &&
                load_target_parse(&s->target, url) != 0)
                load_perr(c, vn, k, "expected http://IPv4-or-localhost[:port][/path]");
        } else if (strcmp(k, "duration_s") == 0) {
            load_get_num(c, vn, k, 0.001, 86400, &s->duration_s);
        } else if (strcmp(k, "drain_s") == 0) {
            load_get_num(c, vn, k, 0, 3600, &s->drain_s);
        } else if (strcmp(k, "capacity") == 0) {
            load_get_num(c, vn, k, 0, 1e7, &s->capacity);
        } else if (strcmp(k, "seed") == 0) {
            if (load_get_uint(c, vn, k, 0, 9007199254740992.0, &ui) == 0)
                s->seed = ui;
        } else if (strcmp(k, "max_conns") == 0) {
            if (load_get_uint(c, vn, k, 1, 1000000, &ui) == 0)
                s->max_conns = (uint32_t)ui;
        } else if (strcmp(k, "profile") == 0) {
            if (!vn || vn->type != YAML_SEQUENCE_NODE) {
                load_perr(c, vn, k, "expected a list of segments");
                continue;
            }
            load_profile_init(&s->profile);
            for (yaml_node_item_t *it = vn->data.sequence.items.start;
                 it < vn->data.sequence.items.top; it++)
                load_parse_segment(c, load_node(c, *it), &s->profile);
        } else if (strcmp(k, "users") == 0) {
            load_parse_users(c, vn, s);
        } else if (strcmp(k, "events") == 0) {
            load_parse_events(c, vn, s);
        } else {
            load_perr(c, kn, k,
                      "unknown key (expected label, target, duration_s, drain_s, capacity, "
                      "seed, max_conns, profile, users, events)");
        }
    }
}

/* "--tls-ca FILE" but "tls_ca=FILE". */
static const char *load_name_sep(const char *name)
{
    size_t n = strlen(name);
    return n && name[n - 1] == '=' ? "" : " ";
}

int load_tls_check(const load_target_t *t, const char *ca, int insecure, const char *ca_name,
                   const char *insecure_name, char *err, size_t err_size)
{
    int has_ca = ca && *ca;
    if (!t->tls && (has_ca || insecure)) {
        snprintf(err, err_size, "%s: only for an https target (the target is %s)",
                 has_ca ? ca_name : insecure_name, t->url);
        return LV_EINVAL;
    }
    if (!has_ca)
        return LV_OK;
    FILE *f = fopen(ca, "r");
    if (!f) {
        snprintf(err, err_size, "%s%s%s: %s", ca_name, load_name_sep(ca_name), ca, strerror(errno));
        return LV_EINVAL;
    }
    fclose(f);
    /* Loaded as the run's client context will load it, so that a file without a certificate
     * (or a directory) is refused here rather than failing every handshake of the run. */
    X509_STORE *st = X509_STORE_new();
    int ok = st && X509_STORE_load_file(st, ca) == 1;
    X509_STORE_free(st);
    ERR_clear_error();
    if (!ok) {
        snprintf(err, err_size, "%s%s%s: no PEM certificate in it", ca_name, load_name_sep(ca_name),
                 ca);
        return LV_EINVAL;
    }
    return LV_OK;
}

int load_scenario_parse(load_scenario_t *s, const char *name, const char *text, size_t len,
                        char *err, size_t err_size)
{
    if (err && err_size)
        err[0] = '\0';
    load_pctx_t c = {.name = name, .err = err, .cap = err_size};
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser))
        return LV_ENOMEM;
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        yaml_node_t fake = {0};
        fake.start_mark = parser.problem_mark;
        load_perr(&c, &fake, "(yaml)", "%s", parser.problem ? parser.problem : "syntax error");
        yaml_parser_delete(&parser);
        return LV_ECONFIG;
    }
    c.doc = &doc;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) {
        yaml_node_t fake = {0};
        load_perr(&c, &fake, "(document)", "empty file");
    } else {
        load_parse_root(&c, root, s);
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return c.nerr ? LV_ECONFIG : LV_OK;
}

int load_scenario_load(load_scenario_t *s, const char *path, char *err, size_t err_size)
{
    char why[128];
    size_t n;
    char *buf = load_read_file(path, 1 << 20, &n, why, sizeof(why));
    if (!buf) {
        snprintf(err, err_size, "%s:0:0: (file): %s\n", path, why);
        return LV_ECONFIG;
    }
    int rc = load_scenario_parse(s, path, buf, n, err, err_size);
    free(buf);
    return rc;
}

int load_scenario_finish(load_scenario_t *s, char *err, size_t err_size)
{
    if (!s->target.url[0]) {
        snprintf(err, err_size, "no target (set 'target' or --target)\n");
        return LV_ECONFIG;
    }
    if (s->profile.n == 0) {
        snprintf(err, err_size, "no rate profile (set 'profile' or --rate)\n");
        return LV_ECONFIG;
    }
    if (s->duration_s <= 0)
        s->duration_s = load_profile_end(&s->profile);
    if (s->duration_s <= 0) {
        snprintf(err, err_size, "duration is 0 (set 'duration_s' or --duration)\n");
        return LV_ECONFIG;
    }
    if (load_profile_finish(&s->profile, s->duration_s) != 0) {
        snprintf(err, err_size, "rate profile has too many points\n");
        return LV_ECONFIG;
    }
    if (s->n_journey == 0) {
        snprintf(s->journey[0], LOAD_PATH_MAX, "%s", s->target.path);
        s->n_journey = 1;
    }
    s->users.n_steps = s->n_journey;
    if (s->drain_s < 0) {
        /* Long enough for one patience plus one retry delay, at most 20 s. */
        double d = (load_dist_high(&s->users.patience_ms) +
                    (s->users.f5_prob > 0 ? load_dist_high(&s->users.retry_delay_ms) : 0)) /
                   1000.0;
        s->drain_s = LV_MIN(20.0, LV_MAX(1.0, d + 0.5));
    }
    return LV_OK;
}
