/* admin/faults_api.c: the admin API's /faults answers: list, start (behind the token, the target
 * checked against the config in force), read and end faults. Main thread only. */
#include "admin/endpoints.h"
#include "core/clock.h"
#include "core/common.h"
#include "proxy/faults.h"

#include <inttypes.h>
#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Who the audit log names for changes made here. */
#define FAULTS_BY "api"

/* "/ID" with ID a decimal fault id (1..2^64-1, no sign, no leading zero). Returns 0 when the
 * path is not one. */
static uint64_t path_id(const char *path, size_t len)
{
    if (len < 2 || len > 21 || path[0] != '/' || path[1] == '0')
        return 0;
    uint64_t id = 0;
    for (size_t i = 1; i < len; i++) {
        if (path[i] < '0' || path[i] > '9')
            return 0;
        uint64_t d = (uint64_t)(path[i] - '0');
        if (id > (UINT64_MAX - d) / 10)
            return 0;
        id = id * 10 + d;
    }
    return id;
}

/* One fault's object (id != 0) or {"faults":[...]} (id 0), and a newline, as JSON with status.
 * Returns 0 with out filled, LV_ENOTFOUND when fault id is not in force, or LV_ENOMEM. */
static int reply_faults(const lv_admin_source_t *src, uint64_t id, int status,
                        lv__admin_reply_t *out)
{
    char *text = NULL;
    size_t n = 0;
    FILE *mem = open_memstream(&text, &n);
    if (mem == NULL)
        return LV_ENOMEM;
    if (id == 0)
        fputs("{\"faults\":", mem);
    bool found = lv_faults_write_json(src->faults, mem, id, lv_clock_now_ms());
    fputs(id == 0 ? "}\n" : "\n", mem);
    if (fclose(mem) != 0) {
        free(text);
        return LV_ENOMEM;
    }
    if (id != 0 && !found) {
        free(text);
        return LV_ENOTFOUND;
    }
    return lv__admin_reply_json(out, status, text, n);
}

/* POST /faults: body as lv_fault_spec_parse_json reads it. */
static int fault_start(const lv_admin_source_t *src, const lv__admin_request_t *req,
                       lv__admin_reply_t *out)
{
    int rc = 0;
    if (lv__admin_write_refused(src, req, out, &rc))
        return rc;
    lv_fault_spec_t spec;
    char why[256], msg[320];
    if (lv_fault_spec_parse_json(req->body ? req->body : "", req->body ? req->body_len : 0, &spec,
                                 why, sizeof why) != 0) {
        snprintf(msg, sizeof msg, "%s\n", why);
        return lv__admin_reply_text(out, 400, msg);
    }
    lv_config_t *cfg = src->config ? src->config(src->ctx) : NULL;
    char host[sizeof spec.host];
    memcpy(host, spec.host, sizeof host);
    rc = cfg ? lv_config_resolve_fault_target(cfg, &spec) : LV_ENOTFOUND;
    if (rc == LV_ENOTFOUND)
        return lv__admin_reply_text(out, 404, "unknown service or route\n");
    if (rc != 0) {
        snprintf(msg, sizeof msg,
                 "\"host\": \"%s\" is not one of the upstreams of service \"%s\"\n", host,
                 spec.service);
        return lv__admin_reply_text(out, 400, msg);
    }
    uint64_t id = 0;
    rc = lv_faults_add(src->faults, &spec, LV_FAULT_FROM_API, FAULTS_BY, &id);
    if (rc == LV_ELIMIT) {
        snprintf(msg, sizeof msg, "too many faults in force (%u)\n", LV_FAULTS_MAX);
        return lv__admin_reply_text(out, 409, msg);
    }
    if (rc != 0)
        return lv__admin_reply_text(out, 500, "fault not started\n");
    rc = reply_faults(src, id, 201, out);
    /* Not found cannot be: only lv_faults_end and lv_faults_expire, on this thread, remove one. */
    return rc == LV_ENOTFOUND ? lv__admin_reply_text(out, 500, "fault started, then not found\n")
                              : rc;
}

/* DELETE /faults/<id>: {"ended":ID}. */
static int fault_end(const lv_admin_source_t *src, const lv__admin_request_t *req, uint64_t id,
                     lv__admin_reply_t *out)
{
    int rc = 0;
    if (lv__admin_write_refused(src, req, out, &rc))
        return rc;
    if (id == 0 || lv_faults_end(src->faults, id, FAULTS_BY) != 0)
        return lv__admin_reply_text(out, 404, "no such fault\n");
    char body[48];
    int n = snprintf(body, sizeof body, "{\"ended\":%" PRIu64 "}\n", id);
    char *text = malloc((size_t)n + 1);
    if (text == NULL)
        return LV_ENOMEM;
    memcpy(text, body, (size_t)n + 1);
    return lv__admin_reply_json(out, 200, text, (size_t)n);
}

int lv__admin_faults(const lv_admin_source_t *src, const lv__admin_request_t *req, const char *path,
                     size_t path_len, lv__admin_reply_t *out)
{
    if (path_len == 0) {
        if (req->method == HTTP_GET)
            return reply_faults(src, 0, 200, out);
        if (req->method == HTTP_POST)
            return fault_start(src, req, out);
        out->allow = "GET, POST";
        return lv__admin_reply_text(out, 405, "method not allowed\n");
    }
    uint64_t id = path_id(path, path_len);
    if (req->method == HTTP_DELETE)
        return fault_end(src, req, id, out);
    if (req->method != HTTP_GET) {
        out->allow = "GET, DELETE";
        return lv__admin_reply_text(out, 405, "method not allowed\n");
    }
    int rc = id ? reply_faults(src, id, 200, out) : LV_ENOTFOUND;
    return rc == LV_ENOTFOUND ? lv__admin_reply_text(out, 404, "no such fault\n") : rc;
}
