/* tls/tls.h: TLS with OpenSSL 3 over libuv: the contexts built from a config (listeners with
 * SNI, upstreams), the ticket keys shared by the workers, and the per-connection record glue. */
#ifndef LV_TLS_TLS_H
#define LV_TLS_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/config.h"
#include "proxy/buf.h"

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_session_st SSL_SESSION;

/* ---- ticket keys (tls/ctx.c) ---- */

/* The session ticket keys of the process: made and rotated by the main thread, read by every
 * worker's handshakes (under a read lock). A ticket made under the current key or the one
 * before resumes; one under the previous key is answered with a new ticket. */
typedef struct lv_tls_tickets lv_tls_tickets_t;
lv_tls_tickets_t *lv_tls_tickets_new(void);
void lv_tls_tickets_free(lv_tls_tickets_t *k);
/* A new current key; the current one becomes the previous one. Main thread. 0 or LV_EIO. */
int lv_tls_tickets_rotate(lv_tls_tickets_t *k);

/* ---- the handshake budget (one per worker; tls/ctx.c reads it in the ClientHello) ---- */

/* Full handshakes may use allow_ns of each window while enforce is set (the worker's loop is
 * saturated and serves requests: tls.handshake_cpu_percent). Worker thread only. */
typedef struct lv_tls_budget {
    uint64_t spent_ns; /* handshake time in this window */
    uint64_t allow_ns;
    bool enforce;
} lv_tls_budget_t;

/* ---- contexts built from one config (tls/ctx.c) ---- */

/* The SSL_CTXs of one config snapshot: per TLS listener one per certificate (with its SNI
 * names), per TLS service one client context. Built on the main thread, then read-only:
 * workers call SSL_new on them (which takes its own reference). */
typedef struct lv_tls_set lv_tls_set_t;

/* Builds the contexts cfg asks for, reading every certificate, key and CA file. Returns NULL
 * when cfg has no TLS at all (nothing to build: *err is ""), or when a file is missing,
 * malformed or a key does not match its certificate (*err says which and why; failed is set).
 * Main thread. */
lv_tls_set_t *lv_tls_set_new(const lv_config_t *cfg, lv_tls_tickets_t *tickets, bool *failed,
                             char *err, size_t err_len);
/* Frees the set (connections keep the contexts they use alive). */
void lv_tls_set_free(void *set);
/* The context a new connection on listener i starts with; NULL: plaintext listener. */
SSL_CTX *lv_tls_set_listener(const lv_tls_set_t *set, uint32_t i);
/* The client context of service i; NULL: plaintext upstreams. */
SSL_CTX *lv_tls_set_upstream(const lv_tls_set_t *set, uint32_t i);
/* Certificates and names loaded, for the reload log line. */
uint32_t lv_tls_set_n_certs(const lv_tls_set_t *set);

/* ---- ClientHello reading (tls/hello.c; pure, fuzzed) ---- */

/* The server_name extension's body (RFC 6066 3): the first host_name, lower-cased into name
 * (cap bytes, NUL-terminated). Returns its length, 0 when there is none, -1 when the
 * extension is malformed. */
int lv_tls_sni_parse(const unsigned char *ext, size_t len, char *name, size_t cap);
/* Whether a name matches a certificate name: exactly, or a "*.rest" pattern covering one
 * leftmost label (case-insensitive; both lower-case here). */
bool lv_tls_name_match(const char *pattern, const char *name);

/* ---- one TLS connection over a libuv stream (tls/conn.c) ---- */

typedef struct lv_tls_conn lv_tls_conn_t;

/* Hands a ciphertext write to the owner's stream (it takes w). Returns 0 or a uv error. */
typedef int (*lv_tls_send_fn)(void *owner, lv_wreq_t *w);

/* Why a handshake ended without a connection (metrics: levee_tls_handshakes_total). */
typedef enum {
    LV_TLS_FAIL_NONE = 0,
    LV_TLS_FAIL_PROTOCOL, /* not TLS, no common version or cipher, a bad record, an alert */
    LV_TLS_FAIL_LIMITED,  /* refused by the handshake budget */
    LV_TLS_FAIL_VERIFY,   /* (upstreams) the peer's certificate did not verify */
} lv_tls_fail_t;

/* A server (client side of levee) or client (upstream) connection on ctx. Ciphertext goes out
 * through send(owner, w), in order. budget: the worker's (servers), may be NULL. NULL when out
 * of memory. server_name: SNI and verified name for a client (NULL: ip_name's address). */
lv_tls_conn_t *lv_tls_conn_new(SSL_CTX *ctx, bool server, lv_buf_pool_t *pool, lv_tls_send_fn send,
                               void *owner, lv_tls_budget_t *budget);
/* SSL_SESSION_free for files that do not include OpenSSL (NULL is fine). */
void lv_tls_session_free(SSL_SESSION *s);
/* Client connections: where the sessions the server gives are kept (*slot, which holds one
 * reference; the previous one is freed), and the next connection resumes from it. The slot
 * must outlive the connection. */
void lv_tls_conn_keep_sessions(lv_tls_conn_t *t, SSL_SESSION **slot);
/* Client connections: what the peer's certificate must name (DNS name, else an IP address in
 * ip) and whether SNI is sent. 0 or LV_EINVAL. */
int lv_tls_conn_set_peer(lv_tls_conn_t *t, const char *server_name, const char *ip);
/* The same with the upstream's address text ("10.0.0.1:8443", "[::1]:8443"): its port is
 * dropped for the IP name. */
int lv_tls_conn_set_peer_addr(lv_tls_conn_t *t, const char *server_name, const char *addr);
void lv_tls_conn_free(lv_tls_conn_t *t);

/* Ciphertext from the socket: kept (a reference to ch) until OpenSSL has taken all of it. */
void lv_tls_conn_input(lv_tls_conn_t *t, lv_chunk_t *ch, const char *p, size_t n);
/* Whether bytes wait inside: unread ciphertext or decrypted plaintext. */
bool lv_tls_conn_has_input(const lv_tls_conn_t *t);

/* Runs the handshake on what has arrived. 1: done; 0: needs more input; -1: failed
 * (lv_tls_conn_failure says why). Output goes to send. */
int lv_tls_conn_handshake(lv_tls_conn_t *t);
bool lv_tls_conn_established(const lv_tls_conn_t *t);
bool lv_tls_conn_resumed(const lv_tls_conn_t *t);
lv_tls_fail_t lv_tls_conn_failure(const lv_tls_conn_t *t);
/* OpenSSL's reason for the failure ("wrong version number"), or "". */
const char *lv_tls_conn_error(const lv_tls_conn_t *t);

/* Plaintext into buf. >0: bytes; 0: needs more input; LV_TLS_EOF: the peer sent close_notify;
 * -1: a protocol error. */
#define LV_TLS_EOF (-2)
ssize_t lv_tls_conn_read(lv_tls_conn_t *t, char *buf, size_t cap);
/* Encrypts bufs (small ones are coalesced into full records) and sends the records.
 * 0, or a uv error from send (the connection is then broken). */
int lv_tls_conn_write(lv_tls_conn_t *t, const uv_buf_t *bufs, unsigned n);
/* Queues close_notify (once the handshake is done) and sends it. */
void lv_tls_conn_shutdown(lv_tls_conn_t *t);

/* The connection's SSL (tests; session reuse). */
SSL *lv_tls_conn_ssl(const lv_tls_conn_t *t);

/* "TLSv1.3" and "TLS_AES_128_GCM_SHA256" of an established connection ("" before). */
const char *lv_tls_conn_version(const lv_tls_conn_t *t);
const char *lv_tls_conn_cipher(const lv_tls_conn_t *t);

/* ---- between ctx.c and conn.c (module internals) ---- */

/* The budget of the connection behind s (NULL: none), for the ClientHello callback. */
lv_tls_budget_t *lv__tls_conn_budget(SSL *s);
/* The ClientHello callback refused s for the budget: its failure says so. */
void lv__tls_conn_limited(SSL *s);
/* OpenSSL's new-session callback of client contexts: keeps sess in the connection's slot.
 * Returns 1 when it took the reference. */
int lv__tls_conn_new_session(SSL *s, SSL_SESSION *sess);

#endif
