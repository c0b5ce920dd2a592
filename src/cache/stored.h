/* cache/stored.h: how a response is kept in the store: the head bytes levee replays (status
 * line and end-to-end headers, Via and Date already in place) and the metadata blob that the
 * rules need to judge it later. Pure functions over bytes; any thread.
 *
 * Head: "HTTP/1.1 SSS Reason\r\n" then "Name: value\r\n" lines, without the final CRLF, with
 * hop-by-hop fields, Content-Length, Transfer-Encoding and Age removed (they are written per
 * answer). Meta: an lv_cache_stored_t copied as bytes, then the Vary names joined by '\n'. */
#ifndef LV_CACHE_STORED_H
#define LV_CACHE_STORED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/rules.h"
#include "core/common.h"
#include "http/parser.h"

/* Most tags (Surrogate-Key, Cache-Tag members) kept per response. */
#define LV_CACHE_TAGS_MAX 16
/* Most header lines of a stored head (parse and merge). */
#define LV_CACHE_STORED_HEADERS_MAX 128

typedef struct lv_cache_stored {
    lv_cache_meta_t m;      /* spans re-pointed by lv_cache_stored_decode */
    int64_t content_length; /* the origin's Content-Length, -1 when it sent none */
    uint32_t etag_off, etag_len, lm_off, lm_len; /* values inside the stored head */
    uint32_t vary_bytes;                         /* names after the struct in the blob */
    bool marker; /* a Vary marker: points to variants, has no head or body of its own */
} lv_cache_stored_t;

/* Writes the head to keep for resp into buf and fills *out's offsets (ETag, Last-Modified).
 * Adds "Via: 1.1 levee" (or extends the origin's Via) when add_via; adds a Date from now_s when
 * resp has none. Returns the length or LV_ELIMIT. */
int lv_cache_stored_head(const lv_http_head_t *resp, uint64_t now_s, bool add_via, char *buf,
                         size_t cap, lv_cache_stored_t *out);

/* The meta blob for *st (its m.vary names are copied from st->m.vary). Returns the length or
 * LV_ELIMIT. */
int lv_cache_stored_encode(const lv_cache_stored_t *st, char *buf, size_t cap);
/* Reads a meta blob back; spans point into head and meta (valid while the entry is held).
 * Returns 0 or LV_EINVAL (not a blob of this version). */
int lv_cache_stored_decode(lv_str_t head, lv_str_t meta, lv_cache_stored_t *out);

/* Splits a stored head into status and headers (spans into head). Returns 0 or LV_EINVAL. */
int lv_cache_stored_parse(lv_str_t head, lv_http_head_t *out, lv_http_header_t *headers,
                          size_t cap);
/* RFC 9111 4.3.4: the stored head's fields updated by a 304's (fields named in the 304
 * replace the stored ones; framing, hop-by-hop and Age are never taken). *out gets the stored
 * status and the merged fields; headers is its storage. Returns 0 or LV_ELIMIT. */
int lv_cache_stored_merge(const lv_http_head_t *stored, const lv_http_head_t *not_modified,
                          lv_http_head_t *out, lv_http_header_t *headers, size_t cap);

/* Tags of a response: Surrogate-Key members (space-separated) and Cache-Tag members
 * (comma-separated), at most LV_CACHE_TAGS_MAX. Returns how many were written to tags. */
size_t lv_cache_stored_tags(const lv_http_head_t *resp, lv_str_t *tags, size_t cap);

#endif
