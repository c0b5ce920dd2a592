/* proxy/redis_uv.c: hiredis's event hooks on a libuv poll handle (proxy/redis_uv.h). hiredis's
 * own libuv adapter ignores a poll error, which would leave a broken connection unread; here the
 * error hands the connection to hiredis, which then sees the socket's error and disconnects. */
#include "proxy/redis_uv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    redisAsyncContext *ac; /* NULL once hiredis cleaned up */
    uv_poll_t poll;
    int events;
} redis_uv_t;

static void on_poll(uv_poll_t *h, int status, int events)
{
    redis_uv_t *p = h->data;
    if (status < 0)
        events = UV_READABLE | UV_WRITABLE;
    if (p->ac && (events & UV_READABLE))
        redisAsyncHandleRead(p->ac);
    if (p->ac && (events & UV_WRITABLE))
        redisAsyncHandleWrite(p->ac);
}

static void update(redis_uv_t *p, int events)
{
    p->events = events;
    if (events)
        uv_poll_start(&p->poll, events, on_poll);
    else
        uv_poll_stop(&p->poll);
}

static void add_read(void *d)
{
    redis_uv_t *p = d;
    update(p, p->events | UV_READABLE);
}

static void del_read(void *d)
{
    redis_uv_t *p = d;
    update(p, p->events & ~UV_READABLE);
}

static void add_write(void *d)
{
    redis_uv_t *p = d;
    update(p, p->events | UV_WRITABLE);
}

static void del_write(void *d)
{
    redis_uv_t *p = d;
    update(p, p->events & ~UV_WRITABLE);
}

static void on_closed(uv_handle_t *h)
{
    free(h->data);
}

static void cleanup(void *d)
{
    redis_uv_t *p = d;
    p->ac = NULL;
    uv_close((uv_handle_t *)&p->poll, on_closed);
}

redisAsyncContext *lv_redis_uv_connect(uv_loop_t *loop, const lv_redis_url_t *url, char *why_buf,
                                       size_t why_cap)
{
    redisAsyncContext *ac = url->unix_socket ? redisAsyncConnectUnix(url->host)
                                             : redisAsyncConnect(url->host, url->port);
    if (!ac) {
        snprintf(why_buf, why_cap, "out of memory");
        return NULL;
    }
    if (ac->err) {
        snprintf(why_buf, why_cap, "%s", ac->errstr);
        redisAsyncFree(ac);
        return NULL;
    }
    redis_uv_t *p = calloc(1, sizeof *p);
    if (!p || uv_poll_init(loop, &p->poll, ac->c.fd) != 0) {
        free(p);
        snprintf(why_buf, why_cap, "cannot poll the socket");
        redisAsyncFree(ac);
        return NULL;
    }
    p->ac = ac;
    p->poll.data = p;
    ac->ev.data = p;
    ac->ev.addRead = add_read;
    ac->ev.delRead = del_read;
    ac->ev.addWrite = add_write;
    ac->ev.delWrite = del_write;
    ac->ev.cleanup = cleanup;
    if (url->db) {
        char db[16];
        snprintf(db, sizeof db, "%d", url->db);
        redisAsyncCommand(ac, NULL, NULL, "SELECT %s", db);
    }
    return ac;
}
