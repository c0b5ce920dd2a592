/* admin/endpoints.c: the admin API's answers (/metrics, /status, /health, /flags, errors) built
 * as heap buffers from the admin source; checks the token on writes. Main thread only; reads
 * shards, never writes them; flips flags only through lv_flags_set. */
#include "admin/endpoints.h"
#include "core/common.h"
#include "core/log.h"

#include <inttypes.h>
#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Service names are [A-Za-z0-9_.-]{1,64} in the config; longer paths cannot name one. */
#define LV_ADMIN_NAME_MAX 128

static const char *const criticality_names[] = {"critical", "default", "sheddable"};
static const char *const balance_names[] = {"round_robin", "least_outstanding"};
static const char *const breaker_names[] = {"closed", "open", "half_open"};

/* A JSON string literal: quotes, backslashes and control bytes escaped. */
static void put_json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

static const char *enum_name(const char *const *names, size_t n, unsigned v)
{
    return v < n ? names[v] : "unknown";
}

/* One service field (offset inside lv_service_metrics_t) summed, or maxed, over the shards. */
static uint64_t svc_sum(const lv_admin_source_t *src, uint32_t slot, size_t field_off)
{
    uint64_t sum = 0;
    for (uint32_t i = 0; slot < LV_METRICS_MAX_SERVICES && i < src->n_shards; i++)
        sum +=
            lv_counter_get((lv_counter_t *)((char *)&src->shards[i]->services[slot] + field_off));
    return sum;
}

static uint64_t svc_max(const lv_admin_source_t *src, uint32_t slot, size_t field_off)
{
    uint64_t max = 0;
    for (uint32_t i = 0; slot < LV_METRICS_MAX_SERVICES && i < src->n_shards; i++)
        max = LV_MAX(max, lv_counter_get((lv_counter_t *)((char *)&src->shards[i]->services[slot] +
                                                          field_off)));
    return max;
}

#define SVC_OFF(field) offsetof(lv_service_metrics_t, field)

/* The flag a service runs with: the flag table's when there is one, else the configured one. */
static lv_flag_state_t service_flag(const lv_admin_source_t *src, const lv_service_conf_t *s)
{
    if (src->flags && s->metrics_slot < LV_FLAGS_MAX && src->flags->names[s->metrics_slot])
        return lv_flags_get(src->flags, (int)s->metrics_slot);
    int f = s->guard.flag;
    return f >= LV_FLAG_ON && f <= LV_FLAG_AUTO ? (lv_flag_state_t)f : LV_FLAG_ON;
}

static const struct {
    const char *key;
    size_t off;
} guard_counters[] = {
    {"admitted", SVC_OFF(guard_admitted)},
    {"queued", SVC_OFF(guard_queued)},
    {"shed", SVC_OFF(guard_shed)},
    {"dropped_wait", SVC_OFF(guard_dropped_wait)},
    {"dropped_deadline", SVC_OFF(guard_dropped_deadline)},
    {"dropped_client_gone", SVC_OFF(guard_dropped_client_gone)},
    {"storm_blocked", SVC_OFF(guard_storm_blocked)},
    {"premature_blocked", SVC_OFF(guard_premature_blocked)},
    {"breaker_rejected", SVC_OFF(guard_breaker_rejected)},
    {"fallback_served", SVC_OFF(guard_fallback_served)},
};

/* ,"guard":{...} of one service in /status. */
static void put_guard_status(FILE *out, const lv_admin_source_t *src, const lv_service_conf_t *s)
{
    uint32_t slot = s->metrics_slot;
    fprintf(out,
            ",\"guard\":{\"limit\":%" PRIu64 ",\"in_flight\":%" PRIu64 ",\"queue_len\":%" PRIu64
            ",\"pressure\":%s,\"breaker\":\"%s\",\"flag\":\"%s\"",
            svc_sum(src, slot, SVC_OFF(guard_limit)), svc_sum(src, slot, SVC_OFF(in_flight)),
            svc_sum(src, slot, SVC_OFF(guard_queue_len)),
            svc_max(src, slot, SVC_OFF(guard_pressure)) ? "true" : "false",
            enum_name(breaker_names, LV_ARRAY_LEN(breaker_names),
                      (unsigned)svc_max(src, slot, SVC_OFF(guard_breaker_state))),
            lv_flag_state_name(service_flag(src, s)));
    for (size_t i = 0; i < LV_ARRAY_LEN(guard_counters); i++)
        fprintf(out, ",\"%s\":%" PRIu64, guard_counters[i].key,
                svc_sum(src, slot, guard_counters[i].off));
    fputc('}', out);
}

char *lv__admin_status_json(const lv_admin_source_t *src, uint64_t now_wall_ms, size_t *len)
{
    char *text = NULL;
    size_t n = 0;
    FILE *out = open_memstream(&text, &n);
    if (out == NULL)
        return NULL;
    lv_config_t *cfg = src->config ? src->config(src->ctx) : NULL;
    uint64_t uptime_s =
        now_wall_ms > src->start_wall_ms ? (now_wall_ms - src->start_wall_ms) / 1000u : 0;
    uint64_t reloads = src->reloads ? src->reloads(src->ctx) : 0;
    int draining = src->draining ? src->draining(src->ctx) : 0;

    fprintf(out, "{\"version\":");
    put_json_string(out, LV_VERSION);
    fprintf(out, ",\"pid\":%ld,\"uptime_s\":%" PRIu64 ",\"workers\":%" PRIu32 ",\"config\":",
            (long)getpid(), uptime_s, cfg ? cfg->workers : src->n_shards);
    if (cfg)
        put_json_string(out, cfg->path);
    else
        fputs("null", out);
    fprintf(out, ",\"reloads\":%" PRIu64 ",\"draining\":%s,\"connections_open\":%" PRIu64, reloads,
            draining ? "true" : "false",
            lv_metrics_sum_connections_open(src->shards, src->n_shards));
    fputs(",\"services\":[", out);
    for (uint32_t i = 0; cfg && i < cfg->n_services; i++) {
        const lv_service_conf_t *s = &cfg->services[i];
        fputs(i ? ",{\"name\":" : "{\"name\":", out);
        put_json_string(out, s->name);
        fputs(",\"criticality\":", out);
        put_json_string(out, enum_name(criticality_names, LV_ARRAY_LEN(criticality_names),
                                       (unsigned)s->criticality));
        fputs(",\"balance\":", out);
        put_json_string(
            out, enum_name(balance_names, LV_ARRAY_LEN(balance_names), (unsigned)s->balance));
        fputs(",\"upstreams\":[", out);
        for (uint32_t u = 0; u < s->n_upstreams; u++) {
            if (u)
                fputc(',', out);
            put_json_string(out, s->upstreams[u].text);
        }
        fprintf(out, "],\"requests_total\":%" PRIu64 ",\"in_flight\":%" PRIu64,
                lv_metrics_sum_service_requests(src->shards, src->n_shards, s->metrics_slot),
                lv_metrics_sum_service_in_flight(src->shards, src->n_shards, s->metrics_slot));
        put_guard_status(out, src, s);
        fputc('}', out);
    }
    fputs("]}\n", out);
    if (fclose(out) != 0) {
        free(text);
        return NULL;
    }
    *len = n;
    return text;
}

char *lv__admin_metrics_text(const lv_admin_source_t *src, size_t *len)
{
    char *text = NULL;
    size_t n = 0;
    FILE *out = open_memstream(&text, &n);
    if (out == NULL)
        return NULL;
    lv_metrics_write_prometheus(out, src->shards, src->n_shards);
    /* The flags live outside the shards, so their family is written here. */
    fputs("# HELP levee_guard_flag Feature flag: 0 on, 1 off, 2 auto.\n"
          "# TYPE levee_guard_flag gauge\n",
          out);
    lv_config_t *cfg = src->config ? src->config(src->ctx) : NULL;
    for (uint32_t i = 0; cfg && i < cfg->n_services; i++) {
        fputs("levee_guard_flag{service=\"", out);
        for (const char *p = cfg->services[i].name; *p; p++) {
            if (*p == '\\' || *p == '"')
                fputc('\\', out);
            if (*p == '\n')
                fputs("\\n", out);
            else
                fputc(*p, out);
        }
        fprintf(out, "\"} %d\n", (int)service_flag(src, &cfg->services[i]));
    }
    if (fclose(out) != 0) {
        free(text);
        return NULL;
    }
    *len = n;
    return text;
}

static int reply_text(lv__admin_reply_t *out, int status, const char *text)
{
    out->status = status;
    out->content_type = "text/plain; charset=utf-8";
    out->body_len = strlen(text);
    out->body = malloc(out->body_len + 1);
    if (out->body == NULL)
        return LV_ENOMEM;
    memcpy(out->body, text, out->body_len + 1);
    return 0;
}

static bool path_is(const char *path, size_t len, const char *lit)
{
    return len == strlen(lit) && memcmp(path, lit, len) == 0;
}

/* {"service":"x","state":"on","overridden":false} of one slot. */
static void put_flag(FILE *out, const lv_flags_t *f, int slot)
{
    fputs("{\"service\":", out);
    put_json_string(out, f->names[slot]);
    fprintf(out, ",\"state\":\"%s\",\"overridden\":%s}", lv_flag_state_name(lv_flags_get(f, slot)),
            f->overridden[slot] ? "true" : "false");
}

char *lv__admin_flags_json(const lv_admin_source_t *src, size_t *len)
{
    char *text = NULL;
    size_t n = 0;
    FILE *out = open_memstream(&text, &n);
    if (out == NULL)
        return NULL;
    fputs("{\"flags\":[", out);
    bool first = true;
    for (int i = 0; src->flags && i < LV_FLAGS_MAX; i++) {
        if (!src->flags->names[i])
            continue;
        if (!first)
            fputc(',', out);
        put_flag(out, src->flags, i);
        first = false;
    }
    fputs("]}\n", out);
    if (fclose(out) != 0) {
        free(text);
        return NULL;
    }
    *len = n;
    return text;
}

static int reply_flag(lv__admin_reply_t *out, const lv_flags_t *f, int slot)
{
    char *text = NULL;
    size_t n = 0;
    FILE *mem = open_memstream(&text, &n);
    if (mem == NULL)
        return LV_ENOMEM;
    put_flag(mem, f, slot);
    fputc('\n', mem);
    if (fclose(mem) != 0) {
        free(text);
        return LV_ENOMEM;
    }
    out->status = 200;
    out->content_type = "application/json";
    out->body = text;
    out->body_len = n;
    return 0;
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void trim(const char **p, size_t *len)
{
    while (*len && is_ows(**p)) {
        (*p)++;
        (*len)--;
    }
    while (*len && is_ows((*p)[*len - 1]))
        (*len)--;
}

/* "Bearer <token>" (scheme case-insensitive) against the configured token, in time that does
 * not depend on where the first difference is. */
static bool token_matches(const lv__admin_request_t *req, const char *token)
{
    if (req->authorization == NULL || req->authorization_bad)
        return false;
    const char *p = req->authorization;
    size_t len = req->authorization_len;
    trim(&p, &len);
    if (len < 7 || strncasecmp(p, "Bearer", 6) != 0 || (p[6] != ' ' && p[6] != '\t'))
        return false;
    p += 7;
    len -= 7;
    trim(&p, &len);
    size_t tlen = strlen(token);
    unsigned char diff = len != tlen;
    for (size_t i = 0; i < tlen; i++)
        diff |= (unsigned char)(token[i] ^ (i < len ? p[i] : 0));
    return diff == 0;
}

/* The value of `key` in the query string (no percent-decoding: flag states never need it). */
static bool query_param(const char *q, size_t qlen, const char *key, const char **val, size_t *vlen)
{
    size_t klen = strlen(key);
    const char *end = q + qlen;
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *stop = amp ? amp : end;
        if ((size_t)(stop - q) > klen && memcmp(q, key, klen) == 0 && q[klen] == '=') {
            *val = q + klen + 1;
            *vlen = (size_t)(stop - *val);
            return true;
        }
        q = amp ? amp + 1 : end;
    }
    return false;
}

/* PUT /flags/<name> (body: on|off|auto) or POST /flags/<name>?state=... (or the same body). */
static int flag_write(const lv_admin_source_t *src, const lv__admin_request_t *req,
                      const char *name, const char *query, size_t query_len, lv__admin_reply_t *out)
{
    lv_config_t *cfg = src->config ? src->config(src->ctx) : NULL;
    const char *token = cfg ? cfg->admin_token : NULL;
    if (token == NULL || token[0] == '\0')
        return reply_text(out, 403, "writes disabled: set admin.token\n");
    if (!token_matches(req, token)) {
        out->www_authenticate = true;
        return reply_text(out, 401, "unauthorized: send Authorization: Bearer <admin.token>\n");
    }
    int slot = lv_flags_find(src->flags, name);
    if (slot < 0)
        return reply_text(out, 404, "unknown service\n");
    const char *v = req->body ? req->body : "";
    size_t vlen = req->body ? req->body_len : 0;
    if (req->method == HTTP_POST && query)
        query_param(query, query_len, "state", &v, &vlen);
    trim(&v, &vlen);
    int st = lv_flag_state_parse(v, vlen);
    if (st < 0)
        return reply_text(out, 400, "bad state: want on, off or auto\n");
    int rc = lv_flags_set(src->flags, name, (lv_flag_state_t)st);
    if (rc == LV_EIO)
        return reply_text(out, 500,
                          "flag set, but the state file could not be written: it will "
                          "not survive a restart (see the log)\n");
    if (rc != 0)
        return reply_text(out, 500, "flag not set\n");
    return reply_flag(out, src->flags, slot);
}

int lv__admin_route(const lv_admin_source_t *src, uint64_t now_wall_ms,
                    const lv__admin_request_t *req, lv__admin_reply_t *out)
{
    memset(out, 0, sizeof *out);
    const char *target = req->target;
    const char *q = memchr(target, '?', req->target_len);
    size_t path_len = q ? (size_t)(q - target) : req->target_len;
    const char *query = q ? q + 1 : NULL;
    size_t query_len = q ? req->target_len - path_len - 1 : 0;

    enum { P_NONE, P_METRICS, P_STATUS, P_HEALTH, P_FLAGS, P_FLAG } which = P_NONE;
    static const char flag_prefix[] = "/flags/";
    char name[LV_ADMIN_NAME_MAX + 1];
    if (path_is(target, path_len, "/metrics"))
        which = P_METRICS;
    else if (path_is(target, path_len, "/status"))
        which = P_STATUS;
    else if (path_is(target, path_len, "/health"))
        which = P_HEALTH;
    else if (src->flags && path_is(target, path_len, "/flags"))
        which = P_FLAGS;
    else if (src->flags && path_len >= sizeof flag_prefix - 1 &&
             memcmp(target, flag_prefix, sizeof flag_prefix - 1) == 0) {
        size_t nlen = path_len - (sizeof flag_prefix - 1);
        const char *n = target + sizeof flag_prefix - 1;
        if (nlen == 0 || nlen > LV_ADMIN_NAME_MAX || memchr(n, '/', nlen) || memchr(n, '\0', nlen))
            return reply_text(out, 404, "unknown service\n");
        memcpy(name, n, nlen);
        name[nlen] = '\0';
        which = P_FLAG;
    }

    if (which == P_NONE)
        return reply_text(out, 404, "not found\n");
    if (which == P_FLAG) {
        if (req->method == HTTP_PUT || req->method == HTTP_POST)
            return flag_write(src, req, name, query, query_len, out);
        if (req->method != HTTP_GET) {
            out->allow = "GET, PUT, POST";
            return reply_text(out, 405, "method not allowed\n");
        }
        int slot = lv_flags_find(src->flags, name);
        if (slot < 0)
            return reply_text(out, 404, "unknown service\n");
        return reply_flag(out, src->flags, slot);
    }
    if (req->method != HTTP_GET) {
        out->allow = "GET";
        return reply_text(out, 405, "method not allowed\n");
    }
    switch (which) {
    case P_METRICS:
        out->status = 200;
        out->content_type = "text/plain; version=0.0.4; charset=utf-8";
        out->body = lv__admin_metrics_text(src, &out->body_len);
        return out->body ? 0 : LV_ENOMEM;
    case P_STATUS:
        out->status = 200;
        out->content_type = "application/json";
        out->body = lv__admin_status_json(src, now_wall_ms, &out->body_len);
        return out->body ? 0 : LV_ENOMEM;
    case P_HEALTH:
        if (src->draining && src->draining(src->ctx))
            return reply_text(out, 503, "draining\n");
        return reply_text(out, 200, "ok\n");
    case P_FLAGS:
        out->status = 200;
        out->content_type = "application/json";
        out->body = lv__admin_flags_json(src, &out->body_len);
        return out->body ? 0 : LV_ENOMEM;
    case P_FLAG:
    case P_NONE:
        break;
    }
    LV_UNREACHABLE("every path handled above");
}
