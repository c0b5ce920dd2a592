/* sim/server.c: the levee-sim HTTP/1.1 server. Owns connections, request records (slabs and a
 * freelist), the FIFO, the in-service heap, paths and counters. One libuv loop, one thread;
 * service time is a timer, never CPU burnt. Work continues when the client has gone. */
#include "server.h"

#include <llhttp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "core/common.h"
#include "core/log.h"
#include "dist.h"

#define SIM_STEP_IDS (1u << 20)   /* X-Step-Id set: 8 MiB, 786,432 user steps per run */
#define SIM_INBUF 8192            /* read buffer per connection */
#define SIM_URL_MAX 2048          /* request-target; over -> 414 and close */
#define SIM_HDRNAME_MAX 32        /* only short header names are interesting */
#define SIM_INM_MAX 512           /* If-None-Match kept; longer is cut (no match) */
#define SIM_IMS_MAX 40            /* If-Modified-Since */
#define SIM_PIPELINE_MAX 256      /* requests pending per connection; then reading pauses */
#define SIM_OBUF_SOFT (256 << 10) /* batch responses up to this many bytes per write */
#define SIM_HEAD_MAX 2048         /* bound of a response head */
#define SIM_SLAB 256              /* request records per slab */
#define SIM_SMALL_BODY 192        /* control/health/error bodies */
#define SIM_STATUS_MAX 600

typedef struct sim_conn sim_conn_t;
typedef struct sim_req sim_req_t;

typedef struct sim_path {
    sim_path_conf_t conf;
    size_t key_len;
    uint32_t hash;
    char cache_hdr[SIM_CC_MAX + SIM_ETAG_MAX + SIM_HTTP_DATE_MAX + SIM_VARY_MAX + 96];
    size_t cache_hdr_len;
    uint64_t received, processed, wasted;
    uint64_t retries_received;        /* received with X-Attempt >= 2 */
    uint64_t retries_f5_received;     /* of those, with X-Retry: f5 */
    uint64_t retries_obeyed_received; /* of those, with X-Retry: obeyed */
    uint64_t duplicates_received;     /* received for an X-Step-Id that had reached us before */
} sim_path_t;

enum { SIM_ST_QUEUED = 0, SIM_ST_RUNNING, SIM_ST_DONE };
/* X-Retry: which kind of retry levee-load says a request is (see docs/levee-sim.md). */
typedef enum { SIM_RETRY_UNSAID = 0, SIM_RETRY_F5, SIM_RETRY_OBEYED } sim_retry_kind_t;
enum { SIM_K_WORK = 0, SIM_K_SMALL, SIM_K_STATS };

struct sim_req {
    sim_req_t *cnext; /* the connection's pending list (in order), or the freelist */
    sim_req_t *qnext; /* the FIFO */
    sim_conn_t *conn; /* NULL once the client has gone */
    sim_path_t *path;
    uint64_t recv_ms, start_ms, due_ms, seq;
    uint16_t status;
    uint8_t state, kind;
    bool head_method, close, cond_match;
    uint16_t body_len;
    char body[SIM_SMALL_BODY]; /* SIM_K_SMALL: the whole body */
};

typedef struct sim_slab {
    struct sim_slab *next;
    sim_req_t reqs[SIM_SLAB];
} sim_slab_t;

struct sim_conn {
    uv_tcp_t tcp;
    llhttp_t parser;
    sim_server_t *srv;
    sim_conn_t *prev, *next; /* the server's list */
    sim_conn_t *dnext;       /* the dirty list */
    sim_req_t *p_head, *p_tail;
    uint32_t n_pending;
    bool in_dirty, stop_parse, paused, closing, final_queued, writing, want_close, shutting;
    /* per message parse state */
    /* 1: If-None-Match, 2: If-Modified-Since, 3: X-Attempt, 4: X-Step-Id, 5: X-Retry */
    uint8_t hcur;
    bool attempt_bad; /* X-Attempt is not a plain number */
    uint32_t attempt; /* X-Attempt (levee-load's try number of this request), 0 if absent */
    bool step_bad;    /* X-Step-Id absent or not a plain number */
    uint64_t step_id; /* X-Step-Id: levee-load's id of this user's step */
    bool url_over;
    size_t url_len, hname_len, inm_len, ims_len;
    size_t retry_len; /* X-Retry's value without white space; > sizeof retry: too long */
    char retry[8];
    char url[SIM_URL_MAX];
    char hname[SIM_HDRNAME_MAX];
    char inm[SIM_INM_MAX];
    char ims[SIM_IMS_MAX];
    /* buffers */
    size_t in_len; /* unparsed bytes kept while paused */
    char inbuf[SIM_INBUF];
    char *obuf, *wbuf;
    size_t olen, ocap, wlen, wcap;
    uv_write_t wreq;
    uv_shutdown_t sreq;
};

struct sim_server {
    uv_loop_t *loop;
    const sim_conf_t *conf;
    uv_tcp_t listener;
    uv_timer_t timer;
    bool closed, timer_armed;
    uint64_t timer_due;
    llhttp_settings_t settings;
    sim_rng_t rng;
    uint32_t workers;
    uint64_t stall_until_ms;
    uint64_t start_ms;
    /* requests */
    sim_slab_t *slabs;
    sim_req_t *free_reqs;
    sim_req_t *q_head, *q_tail;
    uint64_t q_len;
    sim_req_t **heap;
    size_t heap_n, heap_cap;
    uint64_t seq;
    /* connections */
    sim_conn_t *conns;
    sim_conn_t *dirty;
    /* paths */
    sim_path_t *paths; /* SIM_MAX_PATHS */
    uint32_t n_paths;
    sim_path_t other; /* unknown paths once the table is full */
    /* response helpers */
    char *body; /* filled with text, the largest body_bytes */
    size_t body_cap;
    char *scratch; /* /stats body */
    size_t scratch_cap;
    time_t date_s;
    char date[SIM_HTTP_DATE_MAX];
    /* counters */
    uint64_t received, processed, wasted, in_flight, max_queue;
    uint64_t retries_received; /* received with X-Attempt >= 2: retries that got through */
    uint64_t retries_f5_received, retries_obeyed_received; /* of those, by X-Retry */
    /* Duplicate work: a request whose X-Step-Id (one user's one step) already reached us. The
     * ids seen are kept in an open-addressing set of id + 1 (0 = empty), at most 3/4 full;
     * past that, new ids are not recorded and the count is a lower bound (saturated). */
    uint64_t duplicates_received;
    uint64_t *step_ids;
    size_t step_ids_used;
    bool step_ids_saturated;
    uint64_t status_count[SIM_STATUS_MAX];
    lv_log_limit_t warn_limit;
};

/* ---- small helpers ---- */

static uint32_t sim_hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= 16777619u;
    }
    return h;
}

static char *sim_put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

#define SIM_PUTS(p, lit) sim_put((p), (lit), sizeof(lit) - 1)

static char *sim_put_u64(char *p, uint64_t v)
{
    char tmp[24];
    int i = 0;
    do {
        tmp[i++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (i)
        *p++ = tmp[--i];
    return p;
}

static char *sim_put_hex(char *p, uint64_t v)
{
    char tmp[24];
    int i = 0;
    do {
        tmp[i++] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    while (i)
        *p++ = tmp[--i];
    return p;
}

static const char *sim_reason(unsigned status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 414:
        return "URI Too Long";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Status";
    }
}

/* Finds name=value in a query string; percent-decodes the value into out. Returns 1 if found. */
static int sim_query_get(const char *q, size_t qlen, const char *name, char *out, size_t size)
{
    size_t nlen = strlen(name);
    const char *end = q + qlen;
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *pe = amp ? amp : end;
        if ((size_t)(pe - q) > nlen && memcmp(q, name, nlen) == 0 && q[nlen] == '=') {
            size_t o = 0;
            for (const char *v = q + nlen + 1; v < pe && o + 1 < size; v++) {
                if (*v == '%' && pe - v >= 3) {
                    char hx[3] = {v[1], v[2], 0};
                    char *e;
                    long c = strtol(hx, &e, 16);
                    if (*e == '\0') {
                        out[o++] = (char)c;
                        v += 2;
                        continue;
                    }
                }
                out[o++] = *v == '+' ? ' ' : *v;
            }
            out[o] = '\0';
            return 1;
        }
        q = pe + 1;
    }
    return 0;
}

static int sim_parse_u64(const char *s, uint64_t hi, uint64_t *out)
{
    char *e;
    if (!*s || *s == '-')
        return -1;
    unsigned long long v = strtoull(s, &e, 10);
    if (*e || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* Weak comparison of an entity tag against an If-None-Match list. */
static bool sim_etag_match(const char *list, size_t len, const char *etag)
{
    size_t elen = strlen(etag);
    if (elen >= 2 && etag[0] == 'W' && etag[1] == '/') {
        etag += 2;
        elen -= 2;
    }
    const char *p = list, *end = list + len;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
            p++;
        const char *t = p;
        while (p < end && *p != ',')
            p++;
        const char *te = p;
        while (te > t && (te[-1] == ' ' || te[-1] == '\t'))
            te--;
        if (te - t == 1 && *t == '*')
            return true;
        if (te - t >= 2 && t[0] == 'W' && t[1] == '/')
            t += 2;
        if ((size_t)(te - t) == elen && memcmp(t, etag, elen) == 0)
            return true;
    }
    return false;
}

/* ---- paths ---- */

static void sim_path_setup(sim_path_t *p, const sim_path_conf_t *conf)
{
    memset(p, 0, sizeof *p);
    p->conf = *conf;
    p->key_len = strlen(p->conf.key);
    p->hash = sim_hash(p->conf.key, p->key_len);
    int n = 0;
    char cc[SIM_CC_MAX + 1];
    if (p->conf.cache_control[0])
        snprintf(cc, sizeof cc, "%s", p->conf.cache_control);
    else
        snprintf(cc, sizeof cc, "max-age=%u", p->conf.max_age_s);
    if (p->conf.cacheable) {
        n = snprintf(p->cache_hdr, sizeof p->cache_hdr,
                     "Cache-Control: %s\r\nETag: %s\r\nLast-Modified: %s\r\n%s%s%s", cc,
                     p->conf.etag, p->conf.last_modified, p->conf.vary[0] ? "Vary: " : "",
                     p->conf.vary, p->conf.vary[0] ? "\r\n" : "");
    } else if (p->conf.cache_control[0]) {
        n = snprintf(p->cache_hdr, sizeof p->cache_hdr, "Cache-Control: %s\r\n", cc);
    }
    p->cache_hdr_len = n > 0 ? LV_MIN((size_t)n, sizeof p->cache_hdr - 1) : 0;
}

/* The path's record; learns unknown paths (default settings) while there is room. */
static sim_path_t *sim_path_get(sim_server_t *s, const char *key, size_t len)
{
    uint32_t h = sim_hash(key, len);
    for (uint32_t i = 0; i < s->n_paths; i++) {
        sim_path_t *p = &s->paths[i];
        if (p->hash == h && p->key_len == len && memcmp(p->conf.key, key, len) == 0)
            return p;
    }
    if (s->n_paths >= SIM_MAX_PATHS || len > SIM_PATH_KEY_MAX)
        return &s->other;
    sim_path_conf_t conf = s->conf->defaults;
    lv_sim_path_conf_set_key(&conf, key, len);
    sim_path_t *p = &s->paths[s->n_paths++];
    sim_path_setup(p, &conf);
    /* a control change made to every path applies to the newcomer too */
    p->conf.fail_rate = s->other.conf.fail_rate;
    p->conf.fail_status = s->other.conf.fail_status;
    return p;
}

/* ---- request records ---- */

static sim_req_t *sim_req_acquire(sim_server_t *s)
{
    if (LV_UNLIKELY(!s->free_reqs)) {
        sim_slab_t *slab = malloc(sizeof *slab);
        if (!slab)
            return NULL;
        slab->next = s->slabs;
        s->slabs = slab;
        for (int i = SIM_SLAB - 1; i >= 0; i--) {
            slab->reqs[i].cnext = s->free_reqs;
            s->free_reqs = &slab->reqs[i];
        }
    }
    sim_req_t *r = s->free_reqs;
    s->free_reqs = r->cnext;
    memset(r, 0, offsetof(sim_req_t, body));
    return r;
}

static void sim_req_release(sim_server_t *s, sim_req_t *r)
{
    r->cnext = s->free_reqs;
    s->free_reqs = r;
}

/* ---- the in-service heap (min by due time, then arrival) ---- */

static inline bool sim_heap_less(const sim_req_t *a, const sim_req_t *b)
{
    return a->due_ms < b->due_ms || (a->due_ms == b->due_ms && a->seq < b->seq);
}

static void sim_heap_push(sim_server_t *s, sim_req_t *r)
{
    LV_ASSERT(s->heap_n < s->heap_cap);
    size_t i = s->heap_n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!sim_heap_less(r, s->heap[parent]))
            break;
        s->heap[i] = s->heap[parent];
        i = parent;
    }
    s->heap[i] = r;
}

static sim_req_t *sim_heap_pop(sim_server_t *s)
{
    sim_req_t *top = s->heap[0];
    sim_req_t *last = s->heap[--s->heap_n];
    size_t i = 0, n = s->heap_n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && sim_heap_less(s->heap[c + 1], s->heap[c]))
            c++;
        if (!sim_heap_less(s->heap[c], last))
            break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (n)
        s->heap[i] = last;
    return top;
}

static int sim_heap_reserve(sim_server_t *s, size_t cap)
{
    if (cap <= s->heap_cap)
        return 0;
    sim_req_t **h = realloc(s->heap, cap * sizeof *h);
    if (!h)
        return LV_ENOMEM;
    s->heap = h;
    s->heap_cap = cap;
    return 0;
}

/* ---- scheduling ---- */

static void sim_on_timer(uv_timer_t *t);

static void sim_timer_arm(sim_server_t *s)
{
    if (s->closed)
        return;
    uint64_t now = uv_now(s->loop);
    uint64_t due = UINT64_MAX;
    if (now < s->stall_until_ms && (s->heap_n || s->q_len))
        due = s->stall_until_ms;
    else if (s->heap_n)
        due = LV_MAX(s->heap[0]->due_ms, s->stall_until_ms);
    if (due == UINT64_MAX) {
        if (s->timer_armed)
            uv_timer_stop(&s->timer);
        s->timer_armed = false;
        return;
    }
    if (s->timer_armed && s->timer_due == due)
        return;
    s->timer_armed = true;
    s->timer_due = due;
    uv_timer_start(&s->timer, sim_on_timer, due > now ? due - now : 0, 0);
}

/* Starts queued requests while slots are free and no stall holds the workers. */
static void sim_pump(sim_server_t *s)
{
    uint64_t now = uv_now(s->loop);
    if (now < s->stall_until_ms)
        return;
    while (s->q_head && s->in_flight < s->workers) {
        sim_req_t *r = s->q_head;
        s->q_head = r->qnext;
        if (!s->q_head)
            s->q_tail = NULL;
        s->q_len--;
        r->qnext = NULL;
        double ms = lv_sim_dist_draw(&r->path->conf.dist, &s->rng) *
                    lv_sim_thrash_mult(s->conf->thrash, s->q_len, s->workers);
        r->start_ms = now;
        r->due_ms = now + lv_sim_round_ms(ms, &s->rng);
        r->state = SIM_ST_RUNNING;
        s->in_flight++;
        sim_heap_push(s, r);
    }
}

static void sim_mark_dirty(sim_conn_t *c)
{
    if (c->in_dirty || c->closing)
        return;
    c->in_dirty = true;
    c->dnext = c->srv->dirty;
    c->srv->dirty = c;
}

static void sim_complete(sim_server_t *s, sim_req_t *r)
{
    sim_path_t *p = r->path;
    s->in_flight--;
    s->processed++;
    p->processed++;
    uint16_t status = p->conf.status;
    if (p->conf.fail_rate > 0 && lv_sim_rng_unit(&s->rng) <= p->conf.fail_rate)
        status = p->conf.fail_status;
    else if (r->cond_match && status == 200)
        status = 304;
    s->status_count[status < SIM_STATUS_MAX ? status : 0]++;
    if (!r->conn) {
        s->wasted++;
        p->wasted++;
        sim_req_release(s, r);
        return;
    }
    r->status = status;
    r->state = SIM_ST_DONE;
    sim_mark_dirty(r->conn);
}

static void sim_flush_dirty(sim_server_t *s);

static void sim_on_timer(uv_timer_t *t)
{
    sim_server_t *s = t->data;
    s->timer_armed = false;
    uint64_t now = uv_now(s->loop);
    while (now >= s->stall_until_ms) {
        bool any = false;
        while (s->heap_n && s->heap[0]->due_ms <= now) {
            sim_complete(s, sim_heap_pop(s));
            any = true;
        }
        sim_pump(s);
        if (!any && !(s->heap_n && s->heap[0]->due_ms <= now))
            break;
    }
    sim_timer_arm(s);
    sim_flush_dirty(s);
}

/* ---- connections: closing, writing ---- */

static void sim_on_conn_closed(uv_handle_t *h)
{
    sim_conn_t *c = h->data;
    free(c->obuf);
    free(c->wbuf);
    free(c);
}

static void sim_conn_close(sim_conn_t *c)
{
    if (c->closing)
        return;
    sim_server_t *s = c->srv;
    c->closing = true;
    /* The client has gone: queued and running requests are still served (and then counted
     * as wasted); answers already done are dropped. */
    for (sim_req_t *r = c->p_head, *next; r; r = next) {
        next = r->cnext;
        r->cnext = NULL;
        if (r->state == SIM_ST_DONE)
            sim_req_release(s, r);
        else
            r->conn = NULL;
    }
    c->p_head = c->p_tail = NULL;
    c->n_pending = 0;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    uv_close((uv_handle_t *)&c->tcp, sim_on_conn_closed);
}

static void sim_on_shutdown(uv_shutdown_t *req, int status)
{
    (void)status;
    sim_conn_close(req->data);
}

static void sim_on_write(uv_write_t *req, int status)
{
    sim_conn_t *c = req->data;
    c->writing = false;
    c->wlen = 0;
    if (status < 0) {
        sim_conn_close(c);
        return;
    }
    sim_mark_dirty(c);
    sim_flush_dirty(c->srv);
}

static int sim_obuf_reserve(sim_conn_t *c, size_t need)
{
    if (need <= c->ocap)
        return 0;
    size_t cap = c->ocap ? c->ocap : 4096;
    while (cap < need)
        cap *= 2;
    char *p = realloc(c->obuf, cap);
    if (!p)
        return LV_ENOMEM;
    c->obuf = p;
    c->ocap = cap;
    return 0;
}

static void sim_refresh_date(sim_server_t *s)
{
    time_t now = time(NULL);
    if (now != s->date_s) {
        s->date_s = now;
        lv_sim_http_date_format(now, s->date, sizeof s->date);
    }
}

static size_t sim_build_stats(sim_server_t *s);

/* Appends the response for a done request to c->obuf (reserved beforehand by the caller with
 * SIM_HEAD_MAX + body + 32 bytes). body/blen: the body (not written for HEAD/204/304). */
static char *sim_put_response(sim_server_t *s, sim_req_t *r, char *o, const char *body, size_t blen,
                              bool chunked, const char *ctype)
{
    unsigned st = r->status;
    bool nobody = st == 204 || st == 304;
    o = SIM_PUTS(o, "HTTP/1.1 ");
    o = sim_put_u64(o, st);
    *o++ = ' ';
    const char *reason = sim_reason(st);
    o = sim_put(o, reason, strlen(reason));
    o = SIM_PUTS(o, "\r\nServer: levee-sim\r\nDate: ");
    o = sim_put(o, s->date, strlen(s->date));
    o = SIM_PUTS(o, "\r\n");
    if (!nobody) {
        o = SIM_PUTS(o, "Content-Type: ");
        o = sim_put(o, ctype, strlen(ctype));
        o = SIM_PUTS(o, "\r\n");
        if (chunked) {
            o = SIM_PUTS(o, "Transfer-Encoding: chunked\r\n");
        } else {
            o = SIM_PUTS(o, "Content-Length: ");
            o = sim_put_u64(o, blen);
            o = SIM_PUTS(o, "\r\n");
        }
    }
    if (r->kind == SIM_K_WORK) {
        o = SIM_PUTS(o, "X-Sim-Queue-Ms: ");
        o = sim_put_u64(o, r->start_ms - r->recv_ms);
        o = SIM_PUTS(o, "\r\n");
        if (r->path->cache_hdr_len && (st == 200 || st == 304))
            o = sim_put(o, r->path->cache_hdr, r->path->cache_hdr_len);
        o = sim_put(o, r->path->conf.headers, strlen(r->path->conf.headers));
    } else {
        o = SIM_PUTS(o, "Cache-Control: no-store\r\n");
    }
    if (r->close)
        o = SIM_PUTS(o, "Connection: close\r\n");
    o = SIM_PUTS(o, "\r\n");
    if (nobody || r->head_method)
        return o;
    if (chunked) {
        if (blen) {
            o = sim_put_hex(o, blen);
            o = SIM_PUTS(o, "\r\n");
            o = sim_put(o, body, blen);
            o = SIM_PUTS(o, "\r\n");
        }
        return SIM_PUTS(o, "0\r\n\r\n");
    }
    return sim_put(o, body, blen);
}

/* Moves done responses, in order, into the output buffer and writes them. */
static void sim_conn_flush(sim_conn_t *c)
{
    sim_server_t *s = c->srv;
    if (c->closing)
        return;
    sim_refresh_date(s);
    for (;;) {
        sim_req_t *r;
        while ((r = c->p_head) && r->state == SIM_ST_DONE && !c->final_queued) {
            const char *body;
            size_t blen;
            bool chunked = false;
            const char *ctype = "application/json";
            if (r->kind == SIM_K_WORK) {
                body = s->body;
                blen = r->path->conf.body_bytes;
                chunked = r->path->conf.chunked;
                ctype = "text/plain";
            } else if (r->kind == SIM_K_STATS) {
                blen = sim_build_stats(s);
                body = s->scratch;
            } else {
                body = r->body;
                blen = r->body_len;
            }
            size_t need = SIM_HEAD_MAX + blen + 32;
            if (c->olen && c->olen + need > SIM_OBUF_SOFT)
                break;
            if (sim_obuf_reserve(c, c->olen + need) != 0) {
                if (lv_log_limit_allow(&s->warn_limit, uv_now(s->loop), 1))
                    lv_log_warn("sim", "msg=\"out of memory for a response, closing\"");
                sim_conn_close(c);
                return;
            }
            char *end = sim_put_response(s, r, c->obuf + c->olen, body, blen, chunked, ctype);
            c->olen = (size_t)(end - c->obuf);
            LV_DASSERT(c->olen <= c->ocap);
            c->p_head = r->cnext;
            if (!c->p_head)
                c->p_tail = NULL;
            c->n_pending--;
            if (r->close)
                c->final_queued = true;
            sim_req_release(s, r);
        }
        if (c->olen == 0 || c->writing)
            break;
        uv_buf_t b = uv_buf_init(c->obuf, (unsigned)c->olen);
        int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        if (n == (int)c->olen) {
            c->olen = 0;
            continue;
        }
        if (n < 0 && n != UV_EAGAIN) {
            sim_conn_close(c);
            return;
        }
        if (n < 0)
            n = 0;
        /* The rest goes out with uv_write from the second buffer; obuf is free again. */
        char *tb = c->wbuf;
        size_t tc = c->wcap;
        c->wbuf = c->obuf;
        c->wcap = c->ocap;
        c->wlen = c->olen;
        c->obuf = tb;
        c->ocap = tc;
        c->olen = 0;
        b = uv_buf_init(c->wbuf + n, (unsigned)(c->wlen - (size_t)n));
        c->wreq.data = c;
        if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, sim_on_write) != 0) {
            sim_conn_close(c);
            return;
        }
        c->writing = true;
        break;
    }
    if (c->final_queued && !c->writing && c->olen == 0 && !c->shutting) {
        /* Last answer sent: half-close so that the client reads it all, then close. */
        c->sreq.data = c;
        c->shutting = true;
        if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, sim_on_shutdown) != 0)
            sim_conn_close(c);
    }
}

static void sim_conn_parse(sim_conn_t *c, const char *data, size_t len);
static void sim_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void sim_on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);

static void sim_conn_resume(sim_conn_t *c)
{
    c->paused = false;
    llhttp_resume(&c->parser);
    size_t n = c->in_len;
    c->in_len = 0;
    if (n)
        sim_conn_parse(c, c->inbuf, n);
    if (!c->paused && !c->closing && !c->want_close)
        uv_read_start((uv_stream_t *)&c->tcp, sim_on_alloc, sim_on_read);
}

static void sim_flush_dirty(sim_server_t *s)
{
    while (s->dirty) {
        sim_conn_t *c = s->dirty;
        s->dirty = c->dnext;
        c->dnext = NULL;
        c->in_dirty = false;
        if (c->closing)
            continue;
        sim_conn_flush(c);
        if (!c->closing && c->paused && !c->stop_parse && c->n_pending < SIM_PIPELINE_MAX / 2)
            sim_conn_resume(c);
    }
}

/* ---- /stats ---- */

static int sim_scratch_reserve(sim_server_t *s, size_t need)
{
    if (need <= s->scratch_cap)
        return 0;
    size_t cap = s->scratch_cap ? s->scratch_cap : 8192;
    while (cap < need)
        cap *= 2;
    char *p = realloc(s->scratch, cap);
    if (!p)
        return LV_ENOMEM;
    s->scratch = p;
    s->scratch_cap = cap;
    return 0;
}

static char *sim_put_json_str(char *o, const char *str, size_t len)
{
    *o++ = '"';
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)str[i];
        if (ch == '"' || ch == '\\') {
            *o++ = '\\';
            *o++ = (char)ch;
        } else if (ch < 0x20 || ch >= 0x7f) {
            o += sprintf(o, "\\u%04x", ch);
        } else {
            *o++ = (char)ch;
        }
    }
    *o++ = '"';
    return o;
}

static char *sim_put_path_stats(char *o, const sim_path_t *p, const char *key, size_t klen,
                                bool first)
{
    if (!first)
        *o++ = ',';
    o = sim_put_json_str(o, key, klen);
    o += sprintf(o,
                 ":{\"received\":%llu,\"retries_received\":%llu,"
                 "\"retries_f5_received\":%llu,\"retries_obeyed_received\":%llu,"
                 "\"duplicates_received\":%llu,\"processed\":%llu,\"wasted\":%llu}",
                 (unsigned long long)p->received, (unsigned long long)p->retries_received,
                 (unsigned long long)p->retries_f5_received,
                 (unsigned long long)p->retries_obeyed_received,
                 (unsigned long long)p->duplicates_received, (unsigned long long)p->processed,
                 (unsigned long long)p->wasted);
    return o;
}

/* Writes the /stats JSON into s->scratch; returns its length (0 if out of memory). */
static size_t sim_build_stats(sim_server_t *s)
{
    /* A path: its key escaped (6 bytes a byte at worst), the names and punctuation of its
     * counters (135 bytes) and 7 counters of up to 20 digits. */
    size_t need =
        2048 + SIM_STATUS_MAX * 32 + (size_t)(s->n_paths + 1) * (SIM_PATH_KEY_MAX * 6 + 288);
    if (sim_scratch_reserve(s, need) != 0)
        return 0;
    char *o = s->scratch;
    uint64_t now = uv_now(s->loop);
    const sim_dist_t *d = &s->conf->defaults.dist;
    char cap[64];
    if (d->mean_ms > 0)
        snprintf(cap, sizeof cap, "%.3f", (double)s->workers * 1000.0 / d->mean_ms);
    else
        snprintf(cap, sizeof cap, "null");
    o += sprintf(
        o,
        "{\"processed\":%llu,\"wasted\":%llu,\"queue\":%llu,\"in_flight\":%llu,"
        "\"max_queue\":%llu,\"received\":%llu,\"retries_received\":%llu,"
        "\"retries_f5_received\":%llu,\"retries_obeyed_received\":%llu,"
        "\"duplicates_received\":%llu,\"duplicates_saturated\":%s,\"workers\":%u,"
        "\"capacity_per_s\":%s,"
        "\"service_ms\":%g,\"dist\":\"%s\",\"thrash\":%g,\"stall_ms_left\":%llu,"
        "\"uptime_ms\":%llu,\"status\":{",
        (unsigned long long)s->processed, (unsigned long long)s->wasted,
        (unsigned long long)s->q_len, (unsigned long long)s->in_flight,
        (unsigned long long)s->max_queue, (unsigned long long)s->received,
        (unsigned long long)s->retries_received, (unsigned long long)s->retries_f5_received,
        (unsigned long long)s->retries_obeyed_received, (unsigned long long)s->duplicates_received,
        s->step_ids_saturated ? "true" : "false", s->workers, cap, d->mean_ms,
        lv_sim_dist_name(d->kind), s->conf->thrash,
        (unsigned long long)(s->stall_until_ms > now ? s->stall_until_ms - now : 0),
        (unsigned long long)(now - s->start_ms));
    bool first = true;
    for (unsigned i = 0; i < SIM_STATUS_MAX; i++) {
        if (!s->status_count[i])
            continue;
        o += sprintf(o, "%s\"%u\":%llu", first ? "" : ",", i,
                     (unsigned long long)s->status_count[i]);
        first = false;
    }
    o = SIM_PUTS(o, "},\"paths\":{");
    first = true;
    for (uint32_t i = 0; i < s->n_paths; i++) {
        o = sim_put_path_stats(o, &s->paths[i], s->paths[i].conf.key, s->paths[i].key_len, first);
        first = false;
    }
    if (s->other.received || s->other.processed)
        o = sim_put_path_stats(o, &s->other, "*other*", 7, first);
    o = SIM_PUTS(o, "}}\n");
    LV_ASSERT((size_t)(o - s->scratch) <= need);
    return (size_t)(o - s->scratch);
}

/* ---- control ---- */

static void sim_reply(sim_req_t *r, uint16_t status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void sim_reply(sim_req_t *r, uint16_t status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(r->body, sizeof r->body, fmt, ap);
    va_end(ap);
    r->body_len = (uint16_t)(n < 0 ? 0 : LV_MIN((size_t)n, sizeof r->body - 1));
    r->status = status;
    r->kind = SIM_K_SMALL;
    r->state = SIM_ST_DONE;
}

static void sim_reset_path_counters(sim_path_t *p)
{
    p->received = p->processed = p->wasted = p->retries_received = p->retries_f5_received =
        p->retries_obeyed_received = p->duplicates_received = 0;
}

static void sim_reset_counters(sim_server_t *s)
{
    s->received = s->processed = s->wasted = s->retries_received = s->retries_f5_received =
        s->retries_obeyed_received = s->duplicates_received = 0;
    if (s->step_ids)
        memset(s->step_ids, 0, SIM_STEP_IDS * sizeof *s->step_ids);
    s->step_ids_used = 0;
    s->step_ids_saturated = false;
    s->max_queue = s->q_len;
    memset(s->status_count, 0, sizeof s->status_count);
    for (uint32_t i = 0; i < s->n_paths; i++)
        sim_reset_path_counters(&s->paths[i]);
    sim_reset_path_counters(&s->other);
}

static void sim_control(sim_server_t *s, sim_req_t *r, const char *what, size_t wlen, const char *q,
                        size_t qlen)
{
    char v[SIM_PATH_KEY_MAX + 1];
    uint64_t u;
    if (wlen == 5 && memcmp(what, "stall", 5) == 0) {
        u = 10000;
        if (sim_query_get(q, qlen, "ms", v, sizeof v) && sim_parse_u64(v, 3600000, &u) != 0) {
            sim_reply(r, 400, "{\"error\":\"ms: expected 0..3600000\"}\n");
            return;
        }
        s->stall_until_ms = uv_now(s->loop) + u;
        lv_log_info("sim", "msg=stall ms=%llu", (unsigned long long)u);
        sim_pump(s); /* a stall ended early (ms=0): queued requests start now */
        sim_timer_arm(s);
        sim_reply(r, 200, "{\"ok\":true,\"stall_ms\":%llu}\n", (unsigned long long)u);
    } else if (wlen == 7 && memcmp(what, "workers", 7) == 0) {
        if (!sim_query_get(q, qlen, "n", v, sizeof v) ||
            sim_parse_u64(v, SIM_WORKERS_MAX, &u) != 0) {
            sim_reply(r, 400, "{\"error\":\"n: expected 0..%u\"}\n", SIM_WORKERS_MAX);
            return;
        }
        if (sim_heap_reserve(s, LV_MAX((size_t)u, 1)) != 0) {
            sim_reply(r, 500, "{\"error\":\"out of memory\"}\n");
            return;
        }
        lv_log_info("sim", "msg=workers from=%u to=%llu", s->workers, (unsigned long long)u);
        s->workers = (uint32_t)u;
        sim_pump(s);
        sim_timer_arm(s);
        sim_reply(r, 200, "{\"ok\":true,\"workers\":%u}\n", s->workers);
    } else if (wlen == 4 && memcmp(what, "fail", 4) == 0) {
        double rate;
        char *e;
        if (!sim_query_get(q, qlen, "rate", v, sizeof v) || !(rate = strtod(v, &e), *e == 0) ||
            !(rate >= 0 && rate <= 1)) {
            sim_reply(r, 400, "{\"error\":\"rate: expected 0..1\"}\n");
            return;
        }
        uint64_t st = 0;
        if (sim_query_get(q, qlen, "status", v, sizeof v) &&
            (sim_parse_u64(v, 599, &st) != 0 || st < 200)) {
            sim_reply(r, 400, "{\"error\":\"status: expected 200..599\"}\n");
            return;
        }
        if (sim_query_get(q, qlen, "path", v, sizeof v)) {
            size_t vlen = strlen(v);
            if (vlen == 0 || v[0] != '/') {
                sim_reply(r, 400, "{\"error\":\"path: expected /...\"}\n");
                return;
            }
            sim_path_t *p = sim_path_get(s, v, vlen);
            p->conf.fail_rate = rate;
            if (st)
                p->conf.fail_status = (uint16_t)st;
        } else {
            for (uint32_t i = 0; i < s->n_paths; i++) {
                s->paths[i].conf.fail_rate = rate;
                if (st)
                    s->paths[i].conf.fail_status = (uint16_t)st;
            }
            s->other.conf.fail_rate = rate;
            if (st)
                s->other.conf.fail_status = (uint16_t)st;
        }
        lv_log_info("sim", "msg=fail rate=%g status=%llu", rate, (unsigned long long)st);
        sim_reply(r, 200, "{\"ok\":true,\"rate\":%g}\n", rate);
    } else if (wlen == 5 && memcmp(what, "reset", 5) == 0) {
        sim_reset_counters(s);
        sim_reply(r, 200, "{\"ok\":true}\n");
    } else {
        sim_reply(r, 404, "{\"error\":\"unknown control; try stall, workers, fail, reset\"}\n");
    }
}

/* ---- parsing ---- */

static int sim_on_message_begin(llhttp_t *p)
{
    sim_conn_t *c = p->data;
    c->url_len = c->hname_len = c->inm_len = c->ims_len = 0;
    c->url_over = false;
    c->hcur = 0;
    c->attempt = 0;
    c->attempt_bad = false;
    c->step_id = 0;
    c->step_bad = true;
    c->retry_len = 0;
    return 0;
}

static int sim_on_url(llhttp_t *p, const char *at, size_t len)
{
    sim_conn_t *c = p->data;
    if (c->url_len + len > sizeof c->url) {
        c->url_over = true;
        return 0;
    }
    memcpy(c->url + c->url_len, at, len);
    c->url_len += len;
    return 0;
}

static int sim_on_header_field(llhttp_t *p, const char *at, size_t len)
{
    sim_conn_t *c = p->data;
    size_t n = LV_MIN(len, sizeof c->hname - c->hname_len);
    memcpy(c->hname + c->hname_len, at, n);
    c->hname_len += n;
    return 0;
}

static int sim_on_header_field_complete(llhttp_t *p)
{
    sim_conn_t *c = p->data;
    c->hcur = 0;
    if (c->hname_len == 13 && strncasecmp(c->hname, "if-none-match", 13) == 0) {
        c->hcur = 1;
        if (c->inm_len && c->inm_len < sizeof c->inm)
            c->inm[c->inm_len++] = ',';
    } else if (c->hname_len == 17 && strncasecmp(c->hname, "if-modified-since", 17) == 0) {
        c->hcur = 2;
        c->ims_len = 0;
    } else if (c->hname_len == 9 && strncasecmp(c->hname, "x-attempt", 9) == 0) {
        c->hcur = 3;
        c->attempt = 0; /* a repeated header: the last one counts */
        c->attempt_bad = false;
    } else if (c->hname_len == 9 && strncasecmp(c->hname, "x-step-id", 9) == 0) {
        c->hcur = 4;
        c->step_id = 0;
        c->step_bad = false;
    } else if (c->hname_len == 7 && strncasecmp(c->hname, "x-retry", 7) == 0) {
        c->hcur = 5;
        c->retry_len = 0; /* a repeated header: the last one counts */
    }
    c->hname_len = 0;
    return 0;
}

static int sim_on_header_value(llhttp_t *p, const char *at, size_t len)
{
    sim_conn_t *c = p->data;
    if (c->hcur == 1) {
        size_t n = LV_MIN(len, sizeof c->inm - c->inm_len);
        memcpy(c->inm + c->inm_len, at, n);
        c->inm_len += n;
    } else if (c->hcur == 2) {
        size_t n = LV_MIN(len, sizeof c->ims - c->ims_len);
        memcpy(c->ims + c->ims_len, at, n);
        c->ims_len += n;
    } else if (c->hcur == 3) {
        /* Digits, possibly split across calls; saturates; anything else makes it not count. */
        for (size_t i = 0; i < len; i++) {
            char ch = at[i];
            if (ch >= '0' && ch <= '9')
                c->attempt =
                    c->attempt > 100000000u ? c->attempt : c->attempt * 10u + (uint32_t)(ch - '0');
            else if (ch != ' ' && ch != '\t')
                c->attempt_bad = true;
        }
    } else if (c->hcur == 4) {
        for (size_t i = 0; i < len; i++) {
            char ch = at[i];
            if (ch >= '0' && ch <= '9' && c->step_id < UINT64_MAX / 10 - 10)
                c->step_id = c->step_id * 10u + (uint64_t)(ch - '0');
            else if (ch != ' ' && ch != '\t')
                c->step_bad = true;
        }
    } else if (c->hcur == 5) {
        /* The value without white space, possibly split across calls; too long: no match. */
        for (size_t i = 0; i < len; i++) {
            char ch = at[i];
            if (ch == ' ' || ch == '\t')
                continue;
            if (c->retry_len < sizeof c->retry)
                c->retry[c->retry_len] = ch;
            c->retry_len = LV_MIN(c->retry_len + 1, sizeof c->retry + 1);
        }
    }
    return 0;
}

/* The kind of retry the request's X-Retry names (case-insensitive); unsaid when absent or
 * another value. */
static sim_retry_kind_t sim_retry_kind(const sim_conn_t *c)
{
    if (c->retry_len == 2 && strncasecmp(c->retry, "f5", 2) == 0)
        return SIM_RETRY_F5;
    if (c->retry_len == 6 && strncasecmp(c->retry, "obeyed", 6) == 0)
        return SIM_RETRY_OBEYED;
    return SIM_RETRY_UNSAID;
}

/* Records a step id; true when it was there already (this request is duplicate work). */
static bool sim_step_seen(sim_server_t *s, uint64_t id)
{
    if (!s->step_ids && !(s->step_ids = calloc(SIM_STEP_IDS, sizeof *s->step_ids)))
        return false;
    uint64_t key = id + 1, h = key * 0x9e3779b97f4a7c15ull;
    for (size_t i = (size_t)(h >> 44) & (SIM_STEP_IDS - 1);; i = (i + 1) & (SIM_STEP_IDS - 1)) {
        if (s->step_ids[i] == key)
            return true;
        if (!s->step_ids[i]) {
            if (s->step_ids_used >= SIM_STEP_IDS / 4 * 3) {
                s->step_ids_saturated = true;
                return false;
            }
            s->step_ids[i] = key;
            s->step_ids_used++;
            return false;
        }
    }
}

static void sim_conn_append(sim_conn_t *c, sim_req_t *r)
{
    r->conn = c;
    r->cnext = NULL;
    if (c->p_tail)
        c->p_tail->cnext = r;
    else
        c->p_head = r;
    c->p_tail = r;
    c->n_pending++;
}

static bool sim_cond_match(sim_conn_t *c, const sim_path_t *p)
{
    if (!p->conf.cacheable)
        return false;
    if (c->inm_len) /* If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2) */
        return c->inm_len < sizeof c->inm && sim_etag_match(c->inm, c->inm_len, p->conf.etag);
    time_t ims;
    if (c->ims_len && lv_sim_http_date_parse(c->ims, c->ims_len, &ims) == 0)
        return p->conf.last_modified_t <= ims;
    return false;
}

static int sim_on_message_complete(llhttp_t *hp)
{
    sim_conn_t *c = hp->data;
    sim_server_t *s = c->srv;
    sim_req_t *r = sim_req_acquire(s);
    if (!r) {
        if (lv_log_limit_allow(&s->warn_limit, uv_now(s->loop), 1))
            lv_log_warn("sim", "msg=\"out of memory for a request, closing\"");
        c->stop_parse = c->want_close = true;
        return HPE_PAUSED;
    }
    uint8_t method = (uint8_t)llhttp_get_method(hp);
    bool get = method == HTTP_GET || method == HTTP_HEAD;
    r->head_method = method == HTTP_HEAD;
    r->close = !llhttp_should_keep_alive(hp) || hp->upgrade;
    r->recv_ms = uv_now(s->loop);
    sim_conn_append(c, r);
    const char *q = memchr(c->url, '?', c->url_len);
    size_t plen = q ? (size_t)(q - c->url) : c->url_len;
    size_t qlen = q ? c->url_len - plen - 1 : 0;
    q = q ? q + 1 : "";
    if (c->url_over) {
        r->close = true;
        sim_reply(r, 414, "{\"error\":\"request-target too long\"}\n");
    } else if (plen == 7 && memcmp(c->url, "/health", 7) == 0 && get) {
        sim_reply(r, 200, "{\"ok\":true}\n");
    } else if (plen == 6 && memcmp(c->url, "/stats", 6) == 0 && get) {
        r->status = 200;
        r->kind = SIM_K_STATS;
        r->state = SIM_ST_DONE;
    } else if (plen > 9 && memcmp(c->url, "/control/", 9) == 0) {
        if (method != HTTP_POST)
            sim_reply(r, 405, "{\"error\":\"use POST\"}\n");
        else
            sim_control(s, r, c->url + 9, plen - 9, q, qlen);
    } else {
        sim_path_t *p = sim_path_get(s, c->url, plen);
        r->path = p;
        r->kind = SIM_K_WORK;
        r->state = SIM_ST_QUEUED;
        r->seq = s->seq++;
        r->cond_match = get && sim_cond_match(c, p);
        s->received++;
        p->received++;
        if (c->attempt >= 2 && !c->attempt_bad) {
            s->retries_received++;
            p->retries_received++;
            sim_retry_kind_t kind = sim_retry_kind(c);
            if (kind == SIM_RETRY_F5) {
                s->retries_f5_received++;
                p->retries_f5_received++;
            } else if (kind == SIM_RETRY_OBEYED) {
                s->retries_obeyed_received++;
                p->retries_obeyed_received++;
            }
        }
        if (!c->step_bad && sim_step_seen(s, c->step_id)) {
            s->duplicates_received++;
            p->duplicates_received++;
        }
        if (s->q_tail)
            s->q_tail->qnext = r;
        else
            s->q_head = r;
        s->q_tail = r;
        s->q_len++;
        if (s->q_len > s->max_queue)
            s->max_queue = s->q_len;
        sim_pump(s);
        sim_timer_arm(s);
    }
    if (r->state == SIM_ST_DONE)
        sim_mark_dirty(c);
    if (r->close) {
        c->stop_parse = true;
        return HPE_PAUSED;
    }
    if (c->n_pending >= SIM_PIPELINE_MAX)
        return HPE_PAUSED;
    return 0;
}

static void sim_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    sim_conn_t *c = h->data;
    *buf = uv_buf_init(c->inbuf, sizeof c->inbuf);
}

static void sim_conn_error(sim_conn_t *c, unsigned status, const char *why)
{
    c->stop_parse = true;
    sim_req_t *r = sim_req_acquire(c->srv);
    if (!r) {
        c->want_close = true;
        return;
    }
    sim_conn_append(c, r);
    r->close = true;
    sim_reply(r, (uint16_t)status, "{\"error\":\"%s\"}\n", why);
    sim_mark_dirty(c);
}

static void sim_conn_parse(sim_conn_t *c, const char *data, size_t len)
{
    llhttp_errno_t err = llhttp_execute(&c->parser, data, len);
    if (err == HPE_OK)
        return;
    if (err == HPE_PAUSED && !c->stop_parse) {
        /* pipelining bound reached: keep the rest and stop reading until answers drain */
        const char *pos = llhttp_get_error_pos(&c->parser);
        size_t rest = pos ? (size_t)(data + len - pos) : 0;
        memmove(c->inbuf, pos, rest);
        c->in_len = rest;
        c->paused = true;
        uv_read_stop((uv_stream_t *)&c->tcp);
        return;
    }
    if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE)
        return; /* last request on this connection: the rest is ignored */
    if (!c->stop_parse)
        sim_conn_error(c, 400, llhttp_errno_name(err));
}

static void sim_on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    sim_conn_t *c = st->data;
    sim_server_t *s = c->srv;
    if (nread < 0) {
        /* EOF or reset: the client has gone. */
        sim_conn_close(c);
        sim_flush_dirty(s);
        return;
    }
    if (nread == 0 || c->stop_parse)
        return; /* after the last request, bytes are read only to notice the close */
    sim_conn_parse(c, c->inbuf, (size_t)nread);
    if (c->want_close && !c->final_queued)
        sim_conn_close(c);
    sim_flush_dirty(s);
}

static void sim_on_connection(uv_stream_t *ls, int status)
{
    sim_server_t *s = ls->data;
    if (status < 0) {
        if (lv_log_limit_allow(&s->warn_limit, uv_now(s->loop), 1))
            lv_log_warn("sim", "msg=\"accept failed\" err=%s", uv_strerror(status));
        return;
    }
    sim_conn_t *c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->srv = s;
    uv_tcp_init(s->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(ls, (uv_stream_t *)&c->tcp) != 0) {
        uv_close((uv_handle_t *)&c->tcp, sim_on_conn_closed);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    llhttp_init(&c->parser, HTTP_REQUEST, &s->settings);
    c->parser.data = c;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    uv_read_start((uv_stream_t *)&c->tcp, sim_on_alloc, sim_on_read);
}

/* ---- lifecycle ---- */

sim_server_t *lv_sim_server_new(uv_loop_t *loop, const sim_conf_t *conf)
{
    sim_server_t *s = lv_xcalloc(1, sizeof *s);
    s->loop = loop;
    s->conf = conf;
    s->workers = conf->workers;
    s->start_ms = uv_now(loop);
    lv_sim_rng_seed(&s->rng, conf->seed);
    s->paths = lv_xcalloc(SIM_MAX_PATHS, sizeof *s->paths);
    for (uint32_t i = 0; i < conf->n_paths; i++)
        sim_path_setup(&s->paths[s->n_paths++], &conf->paths[i]);
    sim_path_conf_t other = conf->defaults;
    lv_sim_path_conf_set_key(&other, "*other*", 7);
    sim_path_setup(&s->other, &other);
    size_t body = conf->defaults.body_bytes;
    for (uint32_t i = 0; i < conf->n_paths; i++)
        body = LV_MAX(body, conf->paths[i].body_bytes);
    s->body_cap = body;
    s->body = lv_xmalloc(body + 1);
    for (size_t i = 0; i < body; i++)
        s->body[i] = (i % 64 == 63) ? '\n' : (char)('a' + i % 26);
    s->heap_cap = LV_MAX(conf->workers, 1);
    s->heap = lv_xcalloc(s->heap_cap, sizeof *s->heap);

    llhttp_settings_init(&s->settings);
    s->settings.on_message_begin = sim_on_message_begin;
    s->settings.on_url = sim_on_url;
    s->settings.on_header_field = sim_on_header_field;
    s->settings.on_header_field_complete = sim_on_header_field_complete;
    s->settings.on_header_value = sim_on_header_value;
    s->settings.on_message_complete = sim_on_message_complete;

    uv_timer_init(loop, &s->timer);
    s->timer.data = s;
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;

    char host[64];
    int port = 0, rc;
    struct sockaddr_storage sa;
    if (lv_sim_split_hostport(conf->listen, host, sizeof host, &port) != 0) {
        lv_log_error("sim", "msg=\"bad listen address\" addr=%s", conf->listen);
        goto fail;
    }
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof host, "127.0.0.1");
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&sa) != 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&sa) != 0) {
        lv_log_error("sim", "msg=\"listen needs a numeric address\" addr=%s", conf->listen);
        goto fail;
    }
    if ((rc = uv_tcp_bind(&s->listener, (struct sockaddr *)&sa, 0)) != 0 ||
        (rc = uv_listen((uv_stream_t *)&s->listener, 1024, sim_on_connection)) != 0) {
        lv_log_error("sim", "msg=\"cannot listen\" addr=%s err=%s", conf->listen, uv_strerror(rc));
        goto fail;
    }
    struct sockaddr_storage bound;
    int blen = sizeof bound;
    char ip[64] = "?";
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &blen);
    if (bound.ss_family == AF_INET6) {
        uv_ip6_name((struct sockaddr_in6 *)&bound, ip, sizeof ip);
        port = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
        lv_log_info("sim", "msg=listening addr=[%s]:%d workers=%u service_ms=%g dist=%s", ip, port,
                    s->workers, conf->defaults.service_ms,
                    lv_sim_dist_name(conf->defaults.dist_kind));
    } else {
        uv_ip4_name((struct sockaddr_in *)&bound, ip, sizeof ip);
        port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
        lv_log_info("sim", "msg=listening addr=%s:%d workers=%u service_ms=%g dist=%s", ip, port,
                    s->workers, conf->defaults.service_ms,
                    lv_sim_dist_name(conf->defaults.dist_kind));
    }
    return s;
fail:
    lv_sim_server_close(s);
    uv_run(loop, UV_RUN_NOWAIT); /* let the close callbacks run */
    lv_sim_server_free(s);
    return NULL;
}

void lv_sim_server_close(sim_server_t *s)
{
    if (s->closed)
        return;
    s->closed = true;
    uv_close((uv_handle_t *)&s->listener, NULL);
    uv_close((uv_handle_t *)&s->timer, NULL);
    while (s->conns)
        sim_conn_close(s->conns); /* unlinks it */
}

void lv_sim_server_free(sim_server_t *s)
{
    if (!s)
        return;
    while (s->slabs) {
        sim_slab_t *next = s->slabs->next;
        free(s->slabs);
        s->slabs = next;
    }
    free(s->heap);
    free(s->paths);
    free(s->body);
    free(s->scratch);
    free(s->step_ids);
    free(s);
}
