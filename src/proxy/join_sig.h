/* proxy/join_sig.h: the signature of a request for F5 joins: two requests may share one
 * upstream answer only when their signatures are byte for byte the same. */
#ifndef LV_PROXY_JOIN_SIG_H
#define LV_PROXY_JOIN_SIG_H

#include <stdbool.h>
#include <stddef.h>

#include "http/parser.h"

/* Request headers a join does not compare: hop-by-hop ones (never forwarded) and the request's
 * freshness directives (Cache-Control, Pragma: a browser's F5 adds "Cache-Control: max-age=0";
 * the answer taken over comes from the origin, so it satisfies them). */
bool lv_join_ignores(lv_str_t name, lv_str_t connection);

/* Bytes lv_join_signature may write for h and a client identity of who_len bytes. */
size_t lv_join_signature_bound(const lv_http_head_t *h, size_t who_len);

/* Writes the signature: the client's identity, host, target and every end-to-end header line
 * (name and value, in order) but those lv_join_ignores, one per line. Injective: no part may
 * hold a newline (the parser refuses one in a head, and identities come from the head or the
 * peer address), so equal signatures mean equal requests. Returns the length, or 0 when it
 * does not fit in cap. */
size_t lv_join_signature(const lv_http_head_t *h, lv_str_t who, char *out, size_t cap);

#endif
