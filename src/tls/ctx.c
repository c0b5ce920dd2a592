/* tls/ctx.c: the SSL_CTXs of a config (one per listener certificate, chosen by SNI in the
 * ClientHello; one client context per TLS service) and the ticket keys. Built on the main
 * thread, read-only afterwards; the ClientHello and ticket callbacks run on the workers. */
#include "tls/tls.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "core/common.h"

/* ALPN protocols levee speaks, in its order of preference (h2 would go first). */
static const unsigned char alpn_server[] = "\x08http/1.1";

/* ---- ticket keys ---- */

typedef struct ticket_key {
    unsigned char name[16];
    unsigned char aes[32];
    unsigned char hmac[32];
} ticket_key_t;

struct lv_tls_tickets {
    uv_rwlock_t lock;
    ticket_key_t cur, prev;
    bool has_prev;
};

lv_tls_tickets_t *lv_tls_tickets_new(void)
{
    lv_tls_tickets_t *k = calloc(1, sizeof *k);
    if (!k)
        return NULL;
    if (uv_rwlock_init(&k->lock) != 0) {
        free(k);
        return NULL;
    }
    if (RAND_bytes((unsigned char *)&k->cur, sizeof k->cur) != 1) {
        lv_tls_tickets_free(k);
        return NULL;
    }
    return k;
}

void lv_tls_tickets_free(lv_tls_tickets_t *k)
{
    if (!k)
        return;
    OPENSSL_cleanse(&k->cur, sizeof k->cur);
    OPENSSL_cleanse(&k->prev, sizeof k->prev);
    uv_rwlock_destroy(&k->lock);
    free(k);
}

int lv_tls_tickets_rotate(lv_tls_tickets_t *k)
{
    ticket_key_t next;
    if (RAND_bytes((unsigned char *)&next, sizeof next) != 1)
        return LV_EIO;
    uv_rwlock_wrlock(&k->lock);
    k->prev = k->cur;
    k->has_prev = true;
    k->cur = next;
    uv_rwlock_wrunlock(&k->lock);
    OPENSSL_cleanse(&next, sizeof next);
    return 0;
}

static char digest_sha256[] = "SHA256";

/* OpenSSL's ticket callback: AES-256-CBC + HMAC-SHA256 under the current key; the previous
 * key still decrypts (2: the client gets a new ticket). */
static int ticket_cb(SSL *s, unsigned char key_name[16], unsigned char iv[EVP_MAX_IV_LENGTH],
                     EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
    lv_tls_tickets_t *k = SSL_CTX_get_app_data(SSL_get_SSL_CTX(s));
    if (!k)
        return 0;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_sha256, 0),
        OSSL_PARAM_construct_end(),
    };
    ticket_key_t key;
    int rc = 1;
    uv_rwlock_rdlock(&k->lock);
    if (enc) {
        key = k->cur;
    } else if (memcmp(key_name, k->cur.name, 16) == 0) {
        key = k->cur;
    } else if (k->has_prev && memcmp(key_name, k->prev.name, 16) == 0) {
        key = k->prev;
        rc = 2;
    } else {
        rc = 0; /* unknown key: a full handshake */
    }
    uv_rwlock_rdunlock(&k->lock);
    if (rc == 0)
        return 0;
    if (enc) {
        if (RAND_bytes(iv, 16) != 1)
            rc = -1;
        memcpy(key_name, key.name, 16);
        if (rc > 0 && EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, key.aes, iv) != 1)
            rc = -1;
    } else if (EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, key.aes, iv) != 1) {
        rc = -1;
    }
    if (rc > 0 && EVP_MAC_init(hctx, key.hmac, sizeof key.hmac, params) != 1)
        rc = -1;
    OPENSSL_cleanse(&key, sizeof key);
    return rc;
}

/* ---- a listener: its contexts and their names ---- */

typedef struct sni_name {
    char *name; /* lower-case; "*.example.com" for a wildcard */
    uint32_t ctx;
} sni_name_t;

/* Owned by the listener's first context (ex_data, freed with it), so that a handshake that
 * began before a reload still finds it; holds a reference to each other context. */
typedef struct sni_table {
    SSL_CTX **ctxs;
    uint32_t n_ctxs;
    sni_name_t *names;
    uint32_t n_names;
} sni_table_t;

static int sni_index = -1;
static uv_once_t sni_once = UV_ONCE_INIT;

static void sni_table_free(sni_table_t *tab)
{
    if (!tab)
        return;
    for (uint32_t i = 1; i < tab->n_ctxs; i++)
        SSL_CTX_free(tab->ctxs[i]);
    for (uint32_t i = 0; i < tab->n_names; i++)
        free(tab->names[i].name);
    free(tab->names);
    free(tab->ctxs);
    free(tab);
}

static void sni_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    sni_table_free(ptr);
}

static void sni_index_init(void)
{
    sni_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, sni_ex_free);
}

/* Exact names first, then wildcards; -1: none (the first context answers). */
static int sni_lookup(const sni_table_t *tab, const char *name)
{
    for (uint32_t i = 0; i < tab->n_names; i++)
        if (tab->names[i].name[0] != '*' && strcmp(tab->names[i].name, name) == 0)
            return (int)tab->names[i].ctx;
    for (uint32_t i = 0; i < tab->n_names; i++)
        if (tab->names[i].name[0] == '*' && lv_tls_name_match(tab->names[i].name, name))
            return (int)tab->names[i].ctx;
    return -1;
}

/* Whether the ClientHello offers to resume: a TLS 1.3 PSK, a TLS 1.2 ticket, or (from a TLS
 * 1.2-only client) a session id. A TLS 1.3 client's legacy session id is random: not one. */
static bool hello_resumes(SSL *s)
{
    const unsigned char *e;
    size_t len;
    if (SSL_client_hello_get0_ext(s, 41 /* pre_shared_key */, &e, &len) == 1)
        return true;
    if (SSL_client_hello_get0_ext(s, TLSEXT_TYPE_session_ticket, &e, &len) == 1 && len > 0)
        return true;
    return SSL_client_hello_get0_ext(s, 43 /* supported_versions */, &e, &len) != 1 &&
           SSL_client_hello_get0_session_id(s, &e) > 0;
}

static int hello_cb(SSL *s, int *al, void *arg)
{
    const sni_table_t *tab = arg;
    lv_tls_budget_t *b = lv__tls_conn_budget(s);
    if (b && b->enforce && b->spent_ns >= b->allow_ns && !hello_resumes(s)) {
        lv__tls_conn_limited(s);
        *al = SSL_AD_HANDSHAKE_FAILURE;
        return SSL_CLIENT_HELLO_ERROR;
    }
    const unsigned char *ext;
    size_t len;
    if (tab->n_ctxs > 1 && SSL_client_hello_get0_ext(s, TLSEXT_TYPE_server_name, &ext, &len) == 1) {
        char name[256];
        int n = lv_tls_sni_parse(ext, len, name, sizeof name);
        if (n < 0) {
            *al = SSL_AD_DECODE_ERROR;
            return SSL_CLIENT_HELLO_ERROR;
        }
        int i = n > 0 ? sni_lookup(tab, name) : -1;
        if (i > 0 && !SSL_set_SSL_CTX(s, tab->ctxs[i])) {
            *al = SSL_AD_INTERNAL_ERROR;
            return SSL_CLIENT_HELLO_ERROR;
        }
    }
    return SSL_CLIENT_HELLO_SUCCESS;
}

static int alpn_cb(SSL *s, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg)
{
    (void)s, (void)arg;
    unsigned char *sel = NULL;
    if (SSL_select_next_proto(&sel, outlen, alpn_server, sizeof alpn_server - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL; /* RFC 7301 3.2: no_application_protocol */
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

/* OpenSSL's reasons queued by the failed call, the last first, into err. */
static void ssl_reason(char *buf, size_t len)
{
    unsigned long e, last = 0;
    while ((e = ERR_get_error()) != 0)
        last = e;
    const char *r = last ? ERR_reason_error_string(last) : NULL;
    snprintf(buf, len, "%s", r ? r : "unknown error");
}

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t len, const char *fmt,
                                                          ...)
{
    char reason[256];
    ssl_reason(reason, sizeof reason);
    char what[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(err, len, "%s: %s", what, reason);
}

/* A file that cannot be opened is named with the system's reason (OpenSSL's is vaguer). */
static bool readable(const char *path, const char *what, const char *key, char *err, size_t len)
{
    FILE *f = fopen(path, "rb");
    if (f) {
        fclose(f);
        return true;
    }
    snprintf(err, len, "%s: %s %s: %s", key, what, path, strerror(errno));
    return false;
}

/* The names a certificate answers for: its DNS subjectAltNames, else its common name. */
static int cert_names(sni_table_t *tab, SSL_CTX *ctx, uint32_t idx)
{
    X509 *x = SSL_CTX_get0_certificate(ctx);
    if (!x)
        return 0;
    char buf[256];
    uint32_t before = tab->n_names;
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    int n = gens ? sk_GENERAL_NAME_num(gens) : 0;
    for (int i = 0; i <= n; i++) {
        const unsigned char *p = NULL;
        int len = 0;
        if (i < n) {
            const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
            if (g->type != GEN_DNS)
                continue;
            p = ASN1_STRING_get0_data(g->d.dNSName);
            len = ASN1_STRING_length(g->d.dNSName);
        } else if (tab->n_names == before) { /* no DNS name: the common name */
            int cn = X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, buf,
                                               sizeof buf);
            if (cn <= 0)
                break;
            p = (const unsigned char *)buf;
            len = cn;
        } else {
            break;
        }
        if (len <= 0 || len >= 256)
            continue;
        sni_name_t *names = realloc(tab->names, (tab->n_names + 1) * sizeof *names);
        if (!names) {
            GENERAL_NAMES_free(gens);
            return LV_ENOMEM;
        }
        tab->names = names;
        char *s = malloc((size_t)len + 1);
        if (!s) {
            GENERAL_NAMES_free(gens);
            return LV_ENOMEM;
        }
        for (int j = 0; j < len; j++)
            s[j] = (char)tolower(p[j]);
        s[len] = '\0';
        tab->names[tab->n_names++] = (sni_name_t){s, idx};
    }
    GENERAL_NAMES_free(gens);
    return 0;
}

/* A context with what both sides share: TLS 1.2 at least, no renegotiation nor compression,
 * record buffers given back while idle (memory per idle connection). */
static SSL_CTX *ctx_new(const SSL_METHOD *method, int min_version, const char *key, char *err,
                        size_t len)
{
    SSL_CTX *ctx = SSL_CTX_new(method);
    if (!ctx) {
        set_err(err, len, "%s: cannot make a TLS context", key);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, min_version);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    return ctx;
}

/* A certificate chain and its key (key_file, else in the chain's file), which must match. */
static bool use_chain_and_key(SSL_CTX *ctx, const char *cert, const char *key_file, const char *key,
                              char *err, size_t len)
{
    const char *kf = key_file ? key_file : cert;
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        set_err(err, len, "%s: cannot load the certificate chain %s", key, cert);
        return false;
    }
    bool loaded = SSL_CTX_use_PrivateKey_file(ctx, kf, SSL_FILETYPE_PEM) == 1;
    if (!loaded && ERR_GET_REASON(ERR_peek_last_error()) != X509_R_KEY_VALUES_MISMATCH) {
        set_err(err, len, "%s: cannot load the private key %s", key, kf);
        return false;
    }
    if (!loaded || SSL_CTX_check_private_key(ctx) != 1) {
        set_err(err, len, "%s: the key %s does not match the certificate %s", key, kf, cert);
        return false;
    }
    return true;
}

static SSL_CTX *server_ctx(const lv_listener_conf_t *l, uint32_t li, uint32_t ci,
                           lv_tls_tickets_t *tickets, uint32_t rotate_ms, char *err, size_t len)
{
    const lv_tls_cert_conf_t *c = &l->certs[ci];
    char key[96];
    snprintf(key, sizeof key, "listeners[%u].tls.certificates[%u]", li, ci);
    if (!readable(c->cert, "cannot read certificate", key, err, len) ||
        (c->key && !readable(c->key, "cannot read key", key, err, len)))
        return NULL;
    SSL_CTX *ctx = ctx_new(TLS_server_method(),
                           l->tls_min_version ? TLS1_3_VERSION : TLS1_2_VERSION, key, err, len);
    if (!ctx)
        return NULL;
    SSL_CTX_set_options(ctx,
                        SSL_OP_CIPHER_SERVER_PREFERENCE | (l->tls_tickets ? 0 : SSL_OP_NO_TICKET));
    if (SSL_CTX_set_cipher_list(ctx, l->tls_ciphers) != 1) {
        set_err(err, len, "listeners[%u].tls.ciphers: \"%s\"", li, l->tls_ciphers);
        goto fail;
    }
    if (SSL_CTX_set_ciphersuites(ctx, l->tls_ciphersuites) != 1) {
        set_err(err, len, "listeners[%u].tls.ciphersuites: \"%s\"", li, l->tls_ciphersuites);
        goto fail;
    }
    if (!use_chain_and_key(ctx, c->cert, c->key, key, err, len))
        goto fail;
    /* The same context id for every certificate and generation of a listener: a session (or
     * ticket) stays resumable across SNI contexts and reloads. */
    char sid[32];
    int n = snprintf(sid, sizeof sid, "levee-%u", li);
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)sid, (unsigned)n);
    if (l->tls_session_cache) {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
        SSL_CTX_sess_set_cache_size(ctx, l->tls_session_cache);
    } else {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    }
    SSL_CTX_set_timeout(ctx, (long)(rotate_ms / 1000u));
    SSL_CTX_set_num_tickets(ctx, 1);
    if (l->tls_tickets) {
        SSL_CTX_set_app_data(ctx, tickets);
        SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
    }
    SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, NULL);
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

/* The listener's first context, owning the SNI table of all of them. */
static SSL_CTX *listener_ctx(const lv_listener_conf_t *l, uint32_t li, lv_tls_tickets_t *tickets,
                             uint32_t rotate_ms, char *err, size_t len)
{
    uv_once(&sni_once, sni_index_init);
    sni_table_t *tab = calloc(1, sizeof *tab);
    if (!tab || !(tab->ctxs = calloc(l->n_certs, sizeof *tab->ctxs))) {
        free(tab);
        snprintf(err, len, "listeners[%u].tls: out of memory", li);
        return NULL;
    }
    for (uint32_t i = 0; i < l->n_certs; i++) {
        SSL_CTX *ctx = server_ctx(l, li, i, tickets, rotate_ms, err, len);
        if (!ctx)
            goto fail;
        tab->ctxs[tab->n_ctxs++] = ctx;
        if (cert_names(tab, ctx, i) < 0) {
            snprintf(err, len, "listeners[%u].tls: out of memory", li);
            goto fail;
        }
    }
    SSL_CTX *first = tab->ctxs[0];
    if (SSL_CTX_set_ex_data(first, sni_index, tab) != 1) {
        snprintf(err, len, "listeners[%u].tls: out of memory", li);
        goto fail;
    }
    SSL_CTX_set_client_hello_cb(first, hello_cb, tab);
    return first; /* the table (and the other contexts) goes with it */
fail:
    if (tab->n_ctxs)
        SSL_CTX_free(tab->ctxs[0]);
    sni_table_free(tab);
    return NULL;
}

static SSL_CTX *client_ctx(const lv_service_conf_t *svc, uint32_t si, char *err, size_t len)
{
    const lv_upstream_tls_conf_t *t = &svc->tls;
    char key[64];
    snprintf(key, sizeof key, "services[%u].tls", si);
    if ((t->ca_file && !readable(t->ca_file, "cannot read ca_file", key, err, len)) ||
        (t->cert && !readable(t->cert, "cannot read cert", key, err, len)) ||
        (t->key && !readable(t->key, "cannot read key", key, err, len)))
        return NULL;
    SSL_CTX *ctx = ctx_new(TLS_client_method(), TLS1_2_VERSION, key, err, len);
    if (!ctx)
        return NULL;
    if (t->verify) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        int ok = t->ca_file ? SSL_CTX_load_verify_locations(ctx, t->ca_file, NULL)
                            : SSL_CTX_set_default_verify_paths(ctx);
        if (ok != 1) {
            set_err(err, len, "%s: cannot load the authorities %s", key,
                    t->ca_file ? t->ca_file : "of the system store");
            goto fail;
        }
    }
    if (t->cert && !use_chain_and_key(ctx, t->cert, t->key, key, err, len))
        goto fail;
    /* Sessions are kept per upstream host by the connections (tls/conn.c), not by OpenSSL. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, lv__tls_conn_new_session);
    if (SSL_CTX_set_alpn_protos(ctx, alpn_server, sizeof alpn_server - 1) != 0) {
        set_err(err, len, "%s: cannot set ALPN", key);
        goto fail;
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

/* ---- the set ---- */

struct lv_tls_set {
    SSL_CTX **listeners; /* n_listeners; NULL: plaintext */
    uint32_t n_listeners;
    SSL_CTX **upstreams; /* n_services; NULL: plaintext */
    uint32_t n_services;
    uint32_t n_certs;
};

lv_tls_set_t *lv_tls_set_new(const lv_config_t *cfg, lv_tls_tickets_t *tickets, bool *failed,
                             char *err, size_t err_len)
{
    *failed = false;
    err[0] = '\0';
    bool any = false;
    for (uint32_t i = 0; cfg->listener_confs && i < cfg->n_listeners; i++)
        any |= cfg->listener_confs[i].n_certs > 0;
    for (uint32_t i = 0; i < cfg->n_services; i++)
        any |= cfg->services[i].tls.enabled;
    if (!any)
        return NULL;
    ERR_clear_error();
    lv_tls_set_t *set = calloc(1, sizeof *set);
    if (!set || !(set->listeners = calloc(cfg->n_listeners, sizeof *set->listeners)) ||
        !(set->upstreams = calloc(cfg->n_services ? cfg->n_services : 1, sizeof(SSL_CTX *)))) {
        snprintf(err, err_len, "tls: out of memory");
        goto fail;
    }
    set->n_listeners = cfg->n_listeners;
    set->n_services = cfg->n_services;
    uint32_t rotate_ms = cfg->tls_ticket_rotate_ms ? cfg->tls_ticket_rotate_ms : 3600000u;
    for (uint32_t i = 0; cfg->listener_confs && i < cfg->n_listeners; i++) {
        const lv_listener_conf_t *l = &cfg->listener_confs[i];
        if (!l->n_certs)
            continue;
        if (!(set->listeners[i] = listener_ctx(l, i, tickets, rotate_ms, err, err_len)))
            goto fail;
        set->n_certs += l->n_certs;
    }
    for (uint32_t i = 0; i < cfg->n_services; i++)
        if (cfg->services[i].tls.enabled &&
            !(set->upstreams[i] = client_ctx(&cfg->services[i], i, err, err_len)))
            goto fail;
    return set;
fail:
    *failed = true;
    ERR_clear_error();
    lv_tls_set_free(set);
    return NULL;
}

void lv_tls_set_free(void *p)
{
    lv_tls_set_t *set = p;
    if (!set)
        return;
    for (uint32_t i = 0; set->listeners && i < set->n_listeners; i++)
        SSL_CTX_free(set->listeners[i]);
    for (uint32_t i = 0; set->upstreams && i < set->n_services; i++)
        SSL_CTX_free(set->upstreams[i]);
    free(set->listeners);
    free(set->upstreams);
    free(set);
}

SSL_CTX *lv_tls_set_listener(const lv_tls_set_t *set, uint32_t i)
{
    return set && i < set->n_listeners ? set->listeners[i] : NULL;
}

SSL_CTX *lv_tls_set_upstream(const lv_tls_set_t *set, uint32_t i)
{
    return set && i < set->n_services ? set->upstreams[i] : NULL;
}

uint32_t lv_tls_set_n_certs(const lv_tls_set_t *set)
{
    return set ? set->n_certs : 0;
}
