/* http/errors.c: the complete error responses levee sends by itself, and reason phrases.
 * Owns one static table built once (pthread_once) and read-only afterwards; any thread. */
#include "http/errors.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

typedef struct lv_err_def {
    int status;
    const char *body; /* one line, ends with '\n' */
} lv_err_def_t;

static const lv_err_def_t lv_err_defs[] = {
    {400, "bad request\n"},
    {404, "no route\n"},
    {405, "method not allowed\n"},
    {408, "request timeout\n"},
    {413, "request body too large\n"},
    {414, "request target too long\n"},
    {417, "expectation failed\n"},
    {429, "too many requests\n"},
    {431, "request header fields too large\n"},
    {500, "internal error\n"},
    {501, "not implemented\n"},
    {502, "bad gateway\n"},
    {503, "service unavailable\n"},
    {504, "gateway timeout\n"},
    {505, "http version not supported\n"},
};

#define LV_ERR_N (sizeof(lv_err_defs) / sizeof(lv_err_defs[0]))
#define LV_ERR_MAX_BYTES 256

/* [status index][0 = keep-alive, 1 = close]; written once under pthread_once. */
static char lv_err_buf[LV_ERR_N][2][LV_ERR_MAX_BYTES];
static size_t lv_err_len[LV_ERR_N][2];
static pthread_once_t lv_err_once = PTHREAD_ONCE_INIT;

static void lv_http_errors_build(void)
{
    for (size_t i = 0; i < LV_ERR_N; i++) {
        const lv_err_def_t *d = &lv_err_defs[i];
        bool retry = d->status == 502 || d->status == 503 || d->status == 504;
        for (int c = 0; c < 2; c++) {
            int n =
                snprintf(lv_err_buf[i][c], LV_ERR_MAX_BYTES,
                         "HTTP/1.1 %d %s\r\n"
                         "Content-Type: text/plain\r\n"
                         "Content-Length: %zu\r\n"
                         "%s"
                         "Connection: %s\r\n"
                         "\r\n"
                         "%s",
                         d->status, lv_http_reason(d->status), strlen(d->body),
                         retry ? "Retry-After: 1\r\n" : "", c ? "close" : "keep-alive", d->body);
            LV_ASSERT(n > 0 && n < LV_ERR_MAX_BYTES);
            lv_err_len[i][c] = (size_t)n;
        }
    }
}

static size_t lv_http_errors_index(int status)
{
    size_t fallback = 0;
    for (size_t i = 0; i < LV_ERR_N; i++) {
        if (lv_err_defs[i].status == status)
            return i;
        if (lv_err_defs[i].status == 500)
            fallback = i;
    }
    return fallback;
}

lv_str_t lv_http_error_response(int status, bool close)
{
    pthread_once(&lv_err_once, lv_http_errors_build);
    size_t i = lv_http_errors_index(status);
    int c = close ? 1 : 0;
    return (lv_str_t){lv_err_buf[i][c], lv_err_len[i][c]};
}

const char *lv_http_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 101:
        return "Switching Protocols";
    case 103:
        return "Early Hints";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 203:
        return "Non-Authoritative Information";
    case 204:
        return "No Content";
    case 205:
        return "Reset Content";
    case 206:
        return "Partial Content";
    case 300:
        return "Multiple Choices";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 402:
        return "Payment Required";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 407:
        return "Proxy Authentication Required";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 411:
        return "Length Required";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 416:
        return "Range Not Satisfiable";
    case 417:
        return "Expectation Failed";
    case 421:
        return "Misdirected Request";
    case 422:
        return "Unprocessable Content";
    case 425:
        return "Too Early";
    case 426:
        return "Upgrade Required";
    case 428:
        return "Precondition Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}
