/* admin/endpoints.c: the admin API's answers (/metrics, /status, /health, 404, 405) built as
 * heap buffers from the admin source. Main thread only; reads shards, never writes them. */
#include "admin/endpoints.h"
#include "core/common.h"

#include <inttypes.h>
#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const criticality_names[] = {"critical", "default", "sheddable"};
static const char *const balance_names[] = {"round_robin", "least_outstanding"};

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
        fprintf(out, "],\"requests_total\":%" PRIu64 ",\"in_flight\":%" PRIu64 "}",
                lv_metrics_sum_service_requests(src->shards, src->n_shards, s->metrics_slot),
                lv_metrics_sum_service_in_flight(src->shards, src->n_shards, s->metrics_slot));
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

int lv__admin_route(const lv_admin_source_t *src, uint64_t now_wall_ms, uint8_t method,
                    const char *target, size_t target_len, lv__admin_reply_t *out)
{
    memset(out, 0, sizeof *out);
    const char *q = memchr(target, '?', target_len);
    size_t path_len = q ? (size_t)(q - target) : target_len;

    enum { P_NONE, P_METRICS, P_STATUS, P_HEALTH } which = P_NONE;
    if (path_is(target, path_len, "/metrics"))
        which = P_METRICS;
    else if (path_is(target, path_len, "/status"))
        which = P_STATUS;
    else if (path_is(target, path_len, "/health"))
        which = P_HEALTH;

    if (which == P_NONE)
        return reply_text(out, 404, "not found\n");
    if (method != HTTP_GET) {
        out->allow_get = true;
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
    case P_NONE:
        break;
    }
    LV_UNREACHABLE("every path handled above");
}
