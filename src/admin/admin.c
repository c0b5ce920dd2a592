/* admin/admin.c: the admin HTTP/1.1 listener: accepts, parses requests with llhttp (bounded
 * head and body, keep-alive, pipelining with backpressure), keeps the target (cache purges carry
 * a URL in it), the Authorization header and the small body of flag writes, writes endpoints.c's
 * answers; streams the dashboard's snapshot a second to GET /events watchers (Server-Sent
 * Events; dashboard.c builds it on this thread's timer). Owns the listener, its connections and
 * that timer. Main thread's loop only; never touches worker loops. */
#include "admin/admin.h"
#include "admin/dashboard.h"
#include "admin/endpoints.h"
#include "cache/key.h"
#include "core/clock.h"
#include "core/common.h"
#include "core/log.h"

#include <errno.h>
#include <inttypes.h>
#include <llhttp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Request line + header bytes (separators not counted); more -> 431. */
#define ADMIN_HEAD_MAX 16384
/* Request target; longer -> 414. Room for "/cache/purge?url=" and any URL the cache keys (at most
 * LV_CACHE_KEY_MAX bytes) fully percent-encoded. */
#define ADMIN_TARGET_MAX (3 * LV_CACHE_KEY_MAX + 64)
#define ADMIN_BODY_MAX LV_ADMIN_BODY_MAX /* a flag state or a fault's JSON; more -> 413 */
#define ADMIN_AUTH_MAX 512               /* Authorization value kept; longer never matches */
#define ADMIN_FIELD_MAX 16               /* header name bytes kept: "authorization" fits */
#define ADMIN_READ_BUF 4096              /* per connection, reused for every read */
#define ADMIN_MAX_PENDING 4              /* responses queued before the connection stops parsing */
#define ADMIN_BACKLOG 128
#define ADMIN_MAX_CONNS 64 /* more are accepted and closed at once (watchers not counted) */
/* A watcher with more than this unsent is not reading: dropped rather than buffered. */
#define ADMIN_WATCHER_BACKLOG_BYTES (256 * 1024)

typedef struct admin_conn admin_conn_t;

struct lv_admin {
    uv_loop_t *loop;
    uv_tcp_t listener;
    lv_admin_source_t src;
    char address[80];
    admin_conn_t *conns;   /* every open connection, for lv_admin_stop */
    uint32_t open_handles; /* listener + tick timer + connections not yet closed */
    uint32_t n_watchers;   /* connections streaming /events (src.watchers points here) */
    uint64_t watchers_dropped;
    uv_timer_t tick; /* the dashboard's sample a second */
    lv__dash_t *dash;
    bool stopping;
};

struct admin_conn {
    uv_tcp_t tcp;
    uv_shutdown_t shutdown_req;
    lv_admin_t *admin;
    admin_conn_t *prev, *next;
    llhttp_t parser;

    uint32_t head_bytes;
    uint64_t body_bytes;
    int error_status; /* set by a callback that refused the request (413, 414, 431) */
    char target[ADMIN_TARGET_MAX];
    size_t target_len;
    char field[ADMIN_FIELD_MAX]; /* current header name (lower-cased), cut at ADMIN_FIELD_MAX */
    size_t field_len;
    bool in_auth;   /* the current header value is Authorization's */
    bool auth_seen; /* an Authorization header was complete */
    bool auth_bad;  /* sent twice or too long */
    char auth[ADMIN_AUTH_MAX];
    size_t auth_len;
    char body[ADMIN_BODY_MAX];

    uint32_t pending_writes;
    bool parse_paused;      /* stopped between requests until writes drain */
    bool close_after_write; /* last response sent: shut down once it is written */
    bool closing;
    bool watcher; /* streaming /events: what it sends is ignored */

    char rbuf[ADMIN_READ_BUF];
    size_t rpos, rlen; /* unparsed bytes of rbuf while parse_paused */
};

typedef struct admin_write {
    uv_write_t req;
    admin_conn_t *conn;
    char *body;
    char head[384];
} admin_write_t;

static void conn_feed(admin_conn_t *c);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void maybe_free_admin(lv_admin_t *admin)
{
    if (admin->stopping && admin->open_handles == 0) {
        lv__dash_free(admin->dash);
        free(admin);
    }
}

static void on_conn_closed(uv_handle_t *h)
{
    admin_conn_t *c = h->data;
    lv_admin_t *admin = c->admin;
    if (c->prev)
        c->prev->next = c->next;
    else
        admin->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->watcher)
        admin->n_watchers--;
    free(c);
    admin->open_handles--;
    maybe_free_admin(admin);
}

static void conn_close(admin_conn_t *c)
{
    if (c->closing)
        return;
    c->closing = true;
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)status;
    conn_close(req->data);
}

/* After the last response: send FIN so the client sees the whole answer, then close. */
static void conn_finish(admin_conn_t *c)
{
    if (c->closing)
        return;
    c->shutdown_req.data = c;
    if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown) != 0)
        conn_close(c);
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Unknown";
    }
}

static void on_write(uv_write_t *req, int status)
{
    admin_write_t *w = LV_CONTAINER_OF(req, admin_write_t, req);
    admin_conn_t *c = w->conn;
    free(w->body);
    free(w);
    c->pending_writes--;
    if (c->closing)
        return;
    if (status < 0) {
        conn_close(c);
        return;
    }
    if (c->close_after_write) {
        if (c->pending_writes == 0)
            conn_finish(c);
        return;
    }
    if (c->parse_paused && c->pending_writes < ADMIN_MAX_PENDING) {
        c->parse_paused = false;
        llhttp_resume(&c->parser);
        conn_feed(c);
        if (!c->parse_paused && !c->closing && !c->close_after_write &&
            uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
            conn_close(c);
    }
}

/* Queues one response; takes ownership of body (heap or NULL). keep_alive_header adds
 * "Connection: keep-alive" for HTTP/1.0 clients that asked for it. */
static void conn_send(admin_conn_t *c, int status, const char *content_type, const char *allow,
                      bool www_authenticate, char *body, size_t body_len, bool close,
                      bool keep_alive_header)
{
    if (c->closing) {
        free(body);
        return;
    }
    admin_write_t *w = malloc(sizeof *w);
    if (w == NULL) {
        free(body);
        conn_close(c);
        return;
    }
    w->conn = c;
    w->body = body;
    int n = snprintf(w->head, sizeof w->head,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Cache-Control: no-store\r\n%s%s%s%s%s\r\n",
                     status, reason_phrase(status), content_type, body_len, allow ? "Allow: " : "",
                     allow ? allow : "", allow ? "\r\n" : "",
                     www_authenticate ? "WWW-Authenticate: Bearer realm=\"levee\"\r\n" : "",
                     close ? "Connection: close\r\n"
                           : (keep_alive_header ? "Connection: keep-alive\r\n" : ""));
    LV_ASSERT(n > 0 && (size_t)n < sizeof w->head);
    uv_buf_t bufs[2] = {uv_buf_init(w->head, (unsigned)n),
                        uv_buf_init(body ? body : w->head, (unsigned)body_len)};
    if (close)
        c->close_after_write = true;
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, bufs, body_len ? 2 : 1, on_write) != 0) {
        free(w->body);
        free(w);
        conn_close(c);
        return;
    }
    c->pending_writes++;
}

/* A request that could not be parsed or was refused by a bound: answer and close. */
static void conn_send_error(admin_conn_t *c, int status)
{
    char text[64];
    int n = snprintf(text, sizeof text, "%s\n", reason_phrase(status));
    char *body = malloc((size_t)n + 1);
    if (body)
        memcpy(body, text, (size_t)n + 1);
    conn_send(c, status, "text/plain; charset=utf-8", NULL, false, body, body ? (size_t)n : 0, true,
              false);
}

/* ---- GET /events: Server-Sent Events, one snapshot a second ---- */

/* One event's bytes, written to every watcher: freed by the last write that used it. */
typedef struct sse_buf {
    uint32_t refs;
    size_t len;
    char data[];
} sse_buf_t;

typedef struct sse_write {
    uv_write_t req;
    admin_conn_t *conn;
    sse_buf_t *buf;
} sse_write_t;

/* prefix, then (json != NULL) "event: <event>\n" if event, "data: <json>\n\n". One reference. */
static sse_buf_t *sse_buf_new(const char *prefix, const char *event, const char *json, size_t len)
{
    size_t plen = prefix ? strlen(prefix) : 0, elen = event ? strlen(event) + 8 : 0;
    size_t cap = plen + elen + (json ? len + 8 : 0) + 1;
    sse_buf_t *b = malloc(sizeof *b + cap);
    if (b == NULL)
        return NULL;
    b->refs = 1;
    int n = snprintf(b->data, cap, "%s", prefix ? prefix : "");
    if (json && event)
        n += snprintf(b->data + n, cap - (size_t)n, "event: %s\n", event);
    if (json) {
        n += snprintf(b->data + n, cap - (size_t)n, "data: ");
        memcpy(b->data + n, json, len);
        n += (int)len;
        memcpy(b->data + n, "\n\n", 2);
        n += 2;
    }
    b->len = (size_t)n;
    return b;
}

static void sse_buf_unref(sse_buf_t *b)
{
    if (b && --b->refs == 0)
        free(b);
}

static void on_sse_write(uv_write_t *req, int status)
{
    sse_write_t *w = LV_CONTAINER_OF(req, sse_write_t, req);
    admin_conn_t *c = w->conn;
    sse_buf_unref(w->buf);
    free(w);
    c->pending_writes--;
    if (status < 0 && !c->closing)
        conn_close(c);
}

/* Queues b to watcher c; drops c when it has not taken what it was sent before. */
static void sse_send(admin_conn_t *c, sse_buf_t *b)
{
    if (c->closing || b == NULL)
        return;
    size_t queued = uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
    if (queued > ADMIN_WATCHER_BACKLOG_BYTES) {
        c->admin->watchers_dropped++;
        lv_log_warn("admin",
                    "msg=\"dashboard watcher dropped: not reading\" unsent_bytes=%zu "
                    "dropped=%" PRIu64,
                    queued, c->admin->watchers_dropped);
        conn_close(c);
        return;
    }
    sse_write_t *w = malloc(sizeof *w);
    if (w == NULL) {
        conn_close(c);
        return;
    }
    w->conn = c;
    w->buf = b;
    b->refs++;
    uv_buf_t buf = uv_buf_init(b->data, (unsigned)b->len);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, on_sse_write) != 0) {
        sse_buf_unref(b);
        free(w);
        conn_close(c);
        return;
    }
    c->pending_writes++;
}

/* The stream's head, the history of the last 5 minutes (event: history) and the last snapshot.
 * Close-delimited: the body never ends while levee runs. */
static void events_start(admin_conn_t *c)
{
    lv_admin_t *admin = c->admin;
    c->watcher = true;
    admin->n_watchers++;
    static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                               "Cache-Control: no-store\r\nConnection: close\r\n"
                               "X-Accel-Buffering: no\r\n\r\nretry: 2000\n\n";
    size_t hlen = 0, slen = 0;
    char *hist = lv__dash_history_json(admin->dash, &admin->src, &hlen);
    char *snap = lv__dash_snapshot_json(admin->dash, &admin->src, lv_clock_wall_ms(), &slen);
    sse_buf_t *b = sse_buf_new(head, "history", hist, hlen);
    sse_send(c, b);
    sse_buf_unref(b);
    b = sse_buf_new(NULL, NULL, snap, slen);
    if (snap)
        sse_send(c, b);
    sse_buf_unref(b);
    free(hist);
    free(snap);
}

/* Whether the request is GET /events (any query), and if so starts it or refuses it. */
static bool events_try(admin_conn_t *c, llhttp_t *p)
{
    lv_admin_t *admin = c->admin;
    const char *q = memchr(c->target, '?', c->target_len);
    size_t plen = q ? (size_t)(q - c->target) : c->target_len;
    if (llhttp_get_method(p) != HTTP_GET || plen != 7 || memcmp(c->target, "/events", 7) != 0)
        return false;
    lv_config_t *cfg = admin->src.config ? admin->src.config(admin->src.ctx) : NULL;
    uint32_t max = cfg ? cfg->dashboard_watchers : 0;
    if (max == 0 || admin->n_watchers >= max || admin->stopping || admin->dash == NULL) {
        static const char off[] = "events off: admin.dashboard_watchers is 0\n";
        static const char full[] = "too many dashboard watchers (admin.dashboard_watchers)\n";
        const char *text = max == 0 ? off : full;
        char *body = strdup(text);
        conn_send(c, max == 0 ? 404 : 503, "text/plain; charset=utf-8", NULL, false, body,
                  body ? strlen(body) : 0, true, false);
        return true;
    }
    events_start(c);
    return true;
}

static void on_tick(uv_timer_t *t)
{
    lv_admin_t *admin = t->data;
    lv__dash_sample(admin->dash, &admin->src, lv_clock_now_ms());
    if (admin->n_watchers == 0)
        return;
    size_t len = 0;
    char *snap = lv__dash_snapshot_json(admin->dash, &admin->src, lv_clock_wall_ms(), &len);
    if (snap == NULL)
        return;
    sse_buf_t *b = sse_buf_new(NULL, NULL, snap, len);
    free(snap);
    for (admin_conn_t *c = admin->conns, *next; c; c = next) {
        next = c->next; /* sse_send may close c, which stays listed until its close callback */
        if (c->watcher)
            sse_send(c, b);
    }
    sse_buf_unref(b);
}

static admin_conn_t *conn_of(llhttp_t *p)
{
    return p->data;
}

static int count_head(admin_conn_t *c, size_t len)
{
    c->head_bytes += (uint32_t)LV_MIN(len, (size_t)ADMIN_HEAD_MAX + 1);
    if (c->head_bytes > ADMIN_HEAD_MAX) {
        c->error_status = 431;
        return -1;
    }
    return 0;
}

static int on_message_begin(llhttp_t *p)
{
    admin_conn_t *c = conn_of(p);
    c->head_bytes = 0;
    c->body_bytes = 0;
    c->target_len = 0;
    c->error_status = 0;
    c->field_len = 0;
    c->in_auth = c->auth_seen = c->auth_bad = false;
    c->auth_len = 0;
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    admin_conn_t *c = conn_of(p);
    if (count_head(c, len) != 0)
        return -1;
    if (len > sizeof c->target - c->target_len) {
        c->error_status = 414;
        return -1;
    }
    memcpy(c->target + c->target_len, at, len);
    c->target_len += len;
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    admin_conn_t *c = conn_of(p);
    if (count_head(c, len) != 0)
        return -1;
    for (size_t i = 0; i < len && c->field_len < sizeof c->field; i++) {
        char ch = at[i];
        c->field[c->field_len++] = ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
    }
    return 0;
}

static int on_header_field_complete(llhttp_t *p)
{
    admin_conn_t *c = conn_of(p);
    static const char auth[] = "authorization";
    c->in_auth = c->field_len == sizeof auth - 1 && memcmp(c->field, auth, sizeof auth - 1) == 0;
    c->field_len = 0;
    if (c->in_auth && c->auth_seen)
        c->auth_bad = true; /* two Authorization headers: trust neither */
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    admin_conn_t *c = conn_of(p);
    if (count_head(c, len) != 0)
        return -1;
    if (c->in_auth && !c->auth_bad) {
        if (len > sizeof c->auth - c->auth_len) {
            c->auth_bad = true;
        } else {
            memcpy(c->auth + c->auth_len, at, len);
            c->auth_len += len;
        }
    }
    return 0;
}

static int on_header_value_complete(llhttp_t *p)
{
    admin_conn_t *c = conn_of(p);
    if (c->in_auth)
        c->auth_seen = true;
    c->in_auth = false;
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    admin_conn_t *c = conn_of(p);
    if (len > ADMIN_BODY_MAX - c->body_bytes) {
        c->error_status = 413;
        return -1;
    }
    memcpy(c->body + c->body_bytes, at, len);
    c->body_bytes += len;
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    admin_conn_t *c = conn_of(p);
    lv_admin_t *admin = c->admin;
    /* An Upgrade we do not speak ends the connection after this answer. */
    bool keep_alive = llhttp_should_keep_alive(p) && !p->upgrade && !admin->stopping;
    if (events_try(c, p))
        return HPE_PAUSED; /* a stream, or a refusal that closes: nothing after it is parsed */
    lv__admin_reply_t r;
    lv__admin_request_t req = {
        .method = (uint8_t)llhttp_get_method(p),
        .target = c->target,
        .target_len = c->target_len,
        .authorization = c->auth_seen ? c->auth : NULL,
        .authorization_len = c->auth_len,
        .authorization_bad = c->auth_bad,
        .body = c->body_bytes ? c->body : NULL,
        .body_len = (size_t)c->body_bytes,
    };
    if (lv__admin_route(&admin->src, lv_clock_wall_ms(), &req, &r) != 0) {
        free(r.body);
        conn_send_error(c, 500);
        return HPE_PAUSED;
    }
    bool http10 = llhttp_get_http_major(p) == 1 && llhttp_get_http_minor(p) == 0;
    conn_send(c, r.status, r.content_type, r.allow, r.www_authenticate, r.body, r.body_len,
              !keep_alive, keep_alive && http10);
    if (!keep_alive || c->closing)
        return HPE_PAUSED; /* nothing after this request is parsed */
    if (c->pending_writes >= ADMIN_MAX_PENDING) {
        c->parse_paused = true;
        return HPE_PAUSED; /* resumed from on_write */
    }
    return 0;
}

static const llhttp_settings_t admin_http_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* Parses rbuf[rpos..rlen). On a pause for backpressure the rest stays in rbuf and reading
 * stops; on a final response or an error reading stops for good. */
static void conn_feed(admin_conn_t *c)
{
    if (c->rpos >= c->rlen) {
        c->rpos = c->rlen = 0;
        return;
    }
    const char *start = c->rbuf + c->rpos;
    llhttp_errno_t err = llhttp_execute(&c->parser, start, c->rlen - c->rpos);
    if (err == HPE_OK || c->watcher) {
        c->rpos = c->rlen = 0; /* a watcher keeps reading, to see it close, and ignores data */
        return;
    }
    uv_read_stop((uv_stream_t *)&c->tcp);
    if (err == HPE_PAUSED && c->parse_paused) {
        c->rpos += (size_t)(llhttp_get_error_pos(&c->parser) - start);
        return;
    }
    c->rpos = c->rlen = 0;
    if (c->closing)
        return;
    if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) {
        /* A final response is queued (or an Upgrade we do not speak): finish after it. */
        c->close_after_write = true;
        if (c->pending_writes == 0)
            conn_finish(c);
        return;
    }
    conn_send_error(c, c->error_status ? c->error_status : 400);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    admin_conn_t *c = h->data;
    *buf = uv_buf_init(c->rbuf, sizeof c->rbuf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    admin_conn_t *c = s->data;
    if (nread == 0)
        return;
    if (nread < 0) {
        /* EOF or reset: queued responses are cancelled by the close. */
        conn_close(c);
        return;
    }
    if (c->watcher)
        return;
    c->rpos = 0;
    c->rlen = (size_t)nread;
    conn_feed(c);
}

static void on_connection(uv_stream_t *server, int status)
{
    lv_admin_t *admin = server->data;
    if (status < 0) {
        lv_log_warn("admin", "msg=\"accept failed\" err=%s", uv_strerror(status));
        return;
    }
    admin_conn_t *c = calloc(1, sizeof *c);
    if (c == NULL) {
        /* Accept and drop would need a handle too: leave it in the backlog for next time. */
        lv_log_warn("admin", "msg=\"out of memory for a connection\"");
        return;
    }
    c->admin = admin;
    uv_tcp_init(admin->loop, &c->tcp);
    c->tcp.data = c;
    c->next = admin->conns;
    if (admin->conns)
        admin->conns->prev = c;
    admin->conns = c;
    admin->open_handles++;
    llhttp_init(&c->parser, HTTP_REQUEST, &admin_http_settings);
    c->parser.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 ||
        admin->open_handles - 2 - admin->n_watchers > ADMIN_MAX_CONNS ||
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
        conn_close(c);
}

static void on_tick_closed(uv_handle_t *h)
{
    lv_admin_t *admin = h->data;
    admin->open_handles--;
    maybe_free_admin(admin);
}

static void on_listener_closed(uv_handle_t *h)
{
    lv_admin_t *admin = h->data;
    admin->open_handles--;
    maybe_free_admin(admin);
}

static void format_address(const struct sockaddr_storage *ss, char *out, size_t cap)
{
    char ip[64] = "?";
    int port = 0;
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        uv_ip6_name(a, ip, sizeof ip);
        port = ntohs(a->sin6_port);
        snprintf(out, cap, "[%s]:%d", ip, port);
    } else {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        uv_ip4_name(a, ip, sizeof ip);
        port = ntohs(a->sin_port);
        snprintf(out, cap, "%s:%d", ip, port);
    }
}

/* A bound socket for addr, or a negative uv error code. SO_REUSEPORT like the client
 * listeners, so that a levee started with --takeover can bind it beside the running one; the
 * server refuses a second levee on it otherwise (core/listen_check.h). */
static int admin_socket(const lv_addr_t *addr)
{
    int fd = socket(addr->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (bind(fd, (const struct sockaddr *)&addr->sa, addr->sa_len) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

lv_admin_t *lv_admin_start(uv_loop_t *loop, const lv_addr_t *addr, int fd,
                           const lv_admin_source_t *src)
{
    lv_admin_t *admin = calloc(1, sizeof *admin);
    if (admin == NULL) {
        lv_log_error("admin", "msg=\"out of memory\"");
        return NULL;
    }
    admin->loop = loop;
    admin->src = *src;
    admin->src.watchers = &admin->n_watchers;
    snprintf(admin->address, sizeof admin->address, "%s", addr->text);
    uv_tcp_init(loop, &admin->listener);
    admin->listener.data = admin;
    admin->open_handles = 1;

    if (fd < 0)
        fd = admin_socket(addr);
    int rc = fd < 0 ? fd : uv_tcp_open(&admin->listener, fd);
    if (rc != 0 && fd >= 0)
        close(fd); /* the handle did not take it */
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&admin->listener, ADMIN_BACKLOG, on_connection);
    if (rc != 0) {
        lv_log_error("admin", "msg=\"cannot listen\" addr=%s err=%s", addr->text, uv_strerror(rc));
        admin->stopping = true;
        uv_close((uv_handle_t *)&admin->listener, on_listener_closed);
        return NULL;
    }
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getsockname(&admin->listener, (struct sockaddr *)&ss, &len) == 0)
        format_address(&ss, admin->address, sizeof admin->address);
    lv_log_info("admin", "msg=listening proto=admin addr=%s", admin->address);
    /* The dashboard samples even with nobody watching, so a page opened later has its history.
     * Without memory for it, /dashboard and /events still answer, with zeros. */
    admin->dash = lv__dash_new();
    uv_timer_init(loop, &admin->tick);
    admin->tick.data = admin;
    admin->open_handles++;
    if (admin->dash)
        uv_timer_start(&admin->tick, on_tick, 0, LV_DASH_INTERVAL_MS);
    return admin;
}

const char *lv_admin_address(const lv_admin_t *admin)
{
    return admin->address;
}

int lv_admin_fd(const lv_admin_t *admin)
{
    uv_os_fd_t fd;
    if (admin == NULL || admin->stopping ||
        uv_fileno((const uv_handle_t *)&admin->listener, &fd) != 0)
        return -1;
    return fd;
}

void lv_admin_unlisten(lv_admin_t *admin)
{
    if (admin == NULL || admin->stopping || uv_is_closing((uv_handle_t *)&admin->listener))
        return;
    uv_close((uv_handle_t *)&admin->listener, on_listener_closed);
}

void lv_admin_stop(lv_admin_t *admin)
{
    if (admin == NULL || admin->stopping)
        return;
    admin->stopping = true;
    if (!uv_is_closing((uv_handle_t *)&admin->listener))
        uv_close((uv_handle_t *)&admin->listener, on_listener_closed);
    uv_close((uv_handle_t *)&admin->tick, on_tick_closed);
    for (admin_conn_t *c = admin->conns; c; c = c->next)
        conn_close(c);
}
