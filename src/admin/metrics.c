/* admin/metrics.c: recording into a worker's metric shard (worker thread, single writer) and
 * the service slot registry plus the Prometheus exposition (main thread only). */
#include "admin/metrics.h"
#include "core/common.h"

#include <inttypes.h>
#include <llhttp.h>
#include <stdlib.h>
#include <string.h>

const double lv_metrics_bucket_le_ms[LV_METRICS_N_BUCKETS - 1] = {
    1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000};

/* The same bounds in microseconds, so that recording never touches floating point. */
static const uint64_t bucket_le_us[LV_METRICS_N_BUCKETS - 1] = {
    1000,   2500,    5000,    10000,   25000,    50000,    100000,  250000,
    500000, 1000000, 2500000, 5000000, 10000000, 30000000, 60000000};

static const char *const method_names[LV_METRICS_N_METHODS] = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE", "other"};

const char *const lv_metrics_refusal_names[LV_METRICS_N_REFUSALS] = {
    "flag", "storm", "premature", "breaker", "shed", "queue_timeout", "deadline", "body_timeout"};

static const char *const client_error_codes[6] = {"400", "408", "413", "414", "431", "other"};

static const char *const tls_hs_labels[LV_TLS_HS_N][2] = {
    {"ok", "full"},        {"ok", "resumed"},    {"failed", "protocol"},
    {"failed", "timeout"}, {"failed", "closed"}, {"limited", "cpu"},
};

const char *const lv_up_tls_results[LV_UP_TLS_N] = {"ok", "verify_failed", "failed"};
static const char *const ws_results[LV_WS_N] = {"closed", "idle_timeout", "total_timeout", "error",
                                                "refused"};

/* The registry: touched by the main thread only (config load, reload, scrape), which is why a
 * plain static table is safe here. Workers only ever see slot numbers, never these names. */
static char *slot_names[LV_METRICS_MAX_SERVICES];
static uint32_t n_slots;

unsigned lv_metrics_method_index(uint8_t llhttp_method)
{
    switch (llhttp_method) {
    case HTTP_GET:
        return 0;
    case HTTP_HEAD:
        return 1;
    case HTTP_POST:
        return 2;
    case HTTP_PUT:
        return 3;
    case HTTP_DELETE:
        return 4;
    case HTTP_PATCH:
        return 5;
    case HTTP_OPTIONS:
        return 6;
    case HTTP_CONNECT:
        return 7;
    case HTTP_TRACE:
        return 8;
    default:
        return 9;
    }
}

const char *lv_metrics_method_name(unsigned idx)
{
    LV_ASSERT(idx < LV_METRICS_N_METHODS);
    return method_names[idx];
}

void lv_metrics_record_request(lv_service_metrics_t *m, uint8_t llhttp_method, int status,
                               uint64_t total_us)
{
    /* Statuses outside 100..599 (e.g. 0 when the client left first) are clamped into the
     * nearest class rather than dropped, so requests_total always matches the histogram. */
    int cls = status / 100 - 1;
    if (cls < 0)
        cls = 0;
    if (cls >= LV_METRICS_N_CLASSES)
        cls = LV_METRICS_N_CLASSES - 1;
    lv_counter_add(&m->requests[lv_metrics_method_index(llhttp_method)][cls], 1);

    unsigned b = 0;
    while (b < LV_METRICS_N_BUCKETS - 1 && total_us > bucket_le_us[b])
        b++;
    lv_counter_add(&m->latency_buckets[b], 1);
    lv_counter_add(&m->latency_sum_us, total_us);
}

int lv_metrics_slot_for(const char *service_name)
{
    for (uint32_t i = 0; i < n_slots; i++)
        if (strcmp(slot_names[i], service_name) == 0)
            return (int)i;
    if (n_slots == LV_METRICS_MAX_SERVICES)
        return -1;
    slot_names[n_slots] = lv_xstrdup(service_name);
    return (int)n_slots++;
}

const char *lv_metrics_slot_name(uint32_t slot)
{
    return slot < n_slots ? slot_names[slot] : NULL;
}

uint32_t lv_metrics_n_slots(void)
{
    return n_slots;
}

void lv_metrics_registry_reset(void)
{
    for (uint32_t i = 0; i < n_slots; i++) {
        free(slot_names[i]);
        slot_names[i] = NULL;
    }
    n_slots = 0;
}

uint64_t lv_metrics_sum_service_requests(lv_metrics_shard_t *const *shards, uint32_t n_shards,
                                         uint32_t slot)
{
    uint64_t sum = 0;
    if (slot >= LV_METRICS_MAX_SERVICES)
        return 0;
    for (uint32_t s = 0; s < n_shards; s++)
        for (unsigned m = 0; m < LV_METRICS_N_METHODS; m++)
            for (unsigned c = 0; c < LV_METRICS_N_CLASSES; c++)
                sum += lv_counter_get(&shards[s]->services[slot].requests[m][c]);
    return sum;
}

uint64_t lv_metrics_sum_service_in_flight(lv_metrics_shard_t *const *shards, uint32_t n_shards,
                                          uint32_t slot)
{
    uint64_t sum = 0;
    if (slot >= LV_METRICS_MAX_SERVICES)
        return 0;
    for (uint32_t s = 0; s < n_shards; s++)
        sum += lv_counter_get(&shards[s]->services[slot].in_flight);
    return sum;
}

uint64_t lv_metrics_sum_connections_open(lv_metrics_shard_t *const *shards, uint32_t n_shards)
{
    uint64_t sum = 0;
    for (uint32_t s = 0; s < n_shards; s++)
        sum += lv_counter_get(&shards[s]->connections_open);
    return sum;
}

/* Label values: backslash, double quote and newline are escaped (text format 0.0.4). */
static void put_label_value(FILE *out, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\')
            fputs("\\\\", out);
        else if (*v == '"')
            fputs("\\\"", out);
        else if (*v == '\n')
            fputs("\\n", out);
        else
            fputc(*v, out);
    }
}

static void put_family(FILE *out, const char *name, const char *type, const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Sums one lv_counter_t field, found at byte offset `off` in each shard. */
static uint64_t sum_at(lv_metrics_shard_t *const *shards, uint32_t n_shards, size_t off)
{
    uint64_t sum = 0;
    for (uint32_t s = 0; s < n_shards; s++)
        sum += lv_counter_get((lv_counter_t *)((char *)shards[s] + off));
    return sum;
}

#define SHARD_OFF(field) offsetof(lv_metrics_shard_t, field)

/* Byte offset of a service's field (field_off is an offset inside lv_service_metrics_t). */
static size_t svc_off(uint32_t slot, size_t field_off)
{
    return offsetof(lv_metrics_shard_t, services) + (size_t)slot * sizeof(lv_service_metrics_t) +
           field_off;
}

#define COUNTER_AT(array_field, i)                                                                 \
    (offsetof(lv_service_metrics_t, array_field) + (size_t)(i) * sizeof(lv_counter_t))

static void put_scalar(FILE *out, lv_metrics_shard_t *const *shards, uint32_t n_shards,
                       const char *name, const char *type, const char *help, size_t off)
{
    put_family(out, name, type, help);
    fprintf(out, "%s %" PRIu64 "\n", name, sum_at(shards, n_shards, off));
}

/* One series per registered service for a per-service counter or gauge. */
static void put_per_service(FILE *out, lv_metrics_shard_t *const *shards, uint32_t n_shards,
                            const char *name, const char *type, const char *help, size_t field_off)
{
    put_family(out, name, type, help);
    for (uint32_t slot = 0; slot < n_slots; slot++) {
        size_t off = svc_off(slot, field_off);
        fprintf(out, "%s{service=\"", name);
        put_label_value(out, slot_names[slot]);
        fprintf(out, "\"} %" PRIu64 "\n", sum_at(shards, n_shards, off));
    }
}

static void put_requests(FILE *out, lv_metrics_shard_t *const *shards, uint32_t n_shards)
{
    put_family(out, "levee_requests_total", "counter",
               "Requests answered, by service, method and status class.");
    for (uint32_t slot = 0; slot < n_slots; slot++)
        for (unsigned m = 0; m < LV_METRICS_N_METHODS; m++)
            for (unsigned c = 0; c < LV_METRICS_N_CLASSES; c++) {
                uint64_t v =
                    sum_at(shards, n_shards,
                           svc_off(slot, COUNTER_AT(requests, m * LV_METRICS_N_CLASSES + c)));
                if (v == 0)
                    continue;
                fputs("levee_requests_total{service=\"", out);
                put_label_value(out, slot_names[slot]);
                fprintf(out, "\",method=\"%s\",code=\"%uxx\"} %" PRIu64 "\n", method_names[m],
                        c + 1, v);
            }
}

/* Largest value of one lv_counter_t field over the shards: gauges that are a state (pressure,
 * breaker), where the worst worker tells the truth and a sum would not mean anything. */
static uint64_t max_at(lv_metrics_shard_t *const *shards, uint32_t n_shards, size_t off)
{
    uint64_t max = 0;
    for (uint32_t s = 0; s < n_shards; s++)
        max = LV_MAX(max, lv_counter_get((lv_counter_t *)((char *)shards[s] + off)));
    return max;
}

/* A per-service gauge whose value is the maximum over workers. */
/* A per-service family with one more label: the counter array at array_off holds one counter
 * per value of that label (values[i]). */
static void put_per_service_by(FILE *out, lv_metrics_shard_t *const *shards, uint32_t n_shards,
                               const char *name, const char *help, const char *label,
                               const char *const *values, unsigned n_values, size_t array_off)
{
    put_family(out, name, "counter", help);
    for (uint32_t slot = 0; slot < n_slots; slot++)
        for (unsigned i = 0; i < n_values; i++) {
            fprintf(out, "%s{service=\"", name);
            put_label_value(out, slot_names[slot]);
            size_t off = array_off + (size_t)i * sizeof(lv_counter_t);
            fprintf(out, "\",%s=\"%s\"} %" PRIu64 "\n", label, values[i],
                    sum_at(shards, n_shards, svc_off(slot, off)));
        }
}

static void put_per_service_max(FILE *out, lv_metrics_shard_t *const *shards, uint32_t n_shards,
                                const char *name, const char *help, size_t field_off)
{
    put_family(out, name, "gauge", help);
    for (uint32_t slot = 0; slot < n_slots; slot++) {
        fprintf(out, "%s{service=\"", name);
        put_label_value(out, slot_names[slot]);
        fprintf(out, "\"} %" PRIu64 "\n", max_at(shards, n_shards, svc_off(slot, field_off)));
    }
}

/* A per-service histogram over the shared bucket bounds: buckets_off is the offset of the
 * lv_counter_t[LV_METRICS_N_BUCKETS] array, sum_off of the microsecond sum. */
static void put_histogram(FILE *out, lv_metrics_shard_t *const *shards, uint32_t n_shards,
                          const char *name, const char *help, size_t buckets_off, size_t sum_off)
{
    put_family(out, name, "histogram", help);
    for (uint32_t slot = 0; slot < n_slots; slot++) {
        uint64_t cum = 0;
        for (unsigned b = 0; b < LV_METRICS_N_BUCKETS; b++) {
            cum += sum_at(shards, n_shards,
                          svc_off(slot, buckets_off + (size_t)b * sizeof(lv_counter_t)));
            fprintf(out, "%s_bucket{service=\"", name);
            put_label_value(out, slot_names[slot]);
            if (b < LV_METRICS_N_BUCKETS - 1)
                fprintf(out, "\",le=\"%g\"} %" PRIu64 "\n", lv_metrics_bucket_le_ms[b] / 1000.0,
                        cum);
            else
                fprintf(out, "\",le=\"+Inf\"} %" PRIu64 "\n", cum);
        }
        uint64_t sum_us = sum_at(shards, n_shards, svc_off(slot, sum_off));
        fprintf(out, "%s_sum{service=\"", name);
        put_label_value(out, slot_names[slot]);
        /* Integer formatting keeps the sum exact (microsecond resolution). */
        fprintf(out, "\"} %" PRIu64 ".%06" PRIu64 "\n", sum_us / 1000000u, sum_us % 1000000u);
        fprintf(out, "%s_count{service=\"", name);
        put_label_value(out, slot_names[slot]);
        fprintf(out, "\"} %" PRIu64 "\n", cum);
    }
}

/* Every guard decision, one series per service and decision (zeros included, so rate() works
 * from the first scrape). */
static const struct {
    const char *decision;
    size_t off;
} guard_decisions[] = {
    {"admitted", offsetof(lv_service_metrics_t, guard_admitted)},
    {"queued", offsetof(lv_service_metrics_t, guard_queued)},
    {"dropped_wait", offsetof(lv_service_metrics_t, guard_dropped_wait)},
    {"dropped_deadline", offsetof(lv_service_metrics_t, guard_dropped_deadline)},
    {"dropped_client_gone", offsetof(lv_service_metrics_t, guard_dropped_client_gone)},
    {"shed", offsetof(lv_service_metrics_t, guard_shed)},
    {"storm_blocked", offsetof(lv_service_metrics_t, guard_storm_blocked)},
    {"premature_blocked", offsetof(lv_service_metrics_t, guard_premature_blocked)},
    {"orphaned", offsetof(lv_service_metrics_t, guard_orphaned)},
    {"joined", offsetof(lv_service_metrics_t, guard_joined)},
    {"join_resent", offsetof(lv_service_metrics_t, guard_join_resent)},
    {"breaker_rejected", offsetof(lv_service_metrics_t, guard_breaker_rejected)},
    {"fallback", offsetof(lv_service_metrics_t, guard_fallback_served)},
    {"retry_denied", offsetof(lv_service_metrics_t, guard_retries_denied)},
};

static void put_guard(FILE *out, lv_metrics_shard_t *const *shards, uint32_t n_shards)
{
    const char *name = "levee_guard_decisions_total";
    put_family(out, name, "counter", "Decisions of the overload guard, by service and decision.");
    for (uint32_t slot = 0; slot < n_slots; slot++)
        for (size_t d = 0; d < LV_ARRAY_LEN(guard_decisions); d++) {
            fprintf(out, "%s{service=\"", name);
            put_label_value(out, slot_names[slot]);
            fprintf(out, "\",decision=\"%s\"} %" PRIu64 "\n", guard_decisions[d].decision,
                    sum_at(shards, n_shards, svc_off(slot, guard_decisions[d].off)));
        }
    put_per_service_by(out, shards, n_shards, "levee_guard_refused_by_criticality_total",
                       "Requests the limit and queue refused (shed at once, or dropped after "
                       "waiting too long), by the request's criticality.",
                       "criticality", lv_criticality_names, LV_CRIT_COUNT,
                       offsetof(lv_service_metrics_t, guard_refused_by_crit));
    put_per_service_by(out, shards, n_shards, "levee_faults_injected_total",
                       "Requests that drew an injected fault, by kind (host_down: connections "
                       "refused to a host marked down). docs/faults.md.",
                       "kind", lv_fault_kind_names, LV_FAULT_KINDS,
                       offsetof(lv_service_metrics_t, faults_injected));
    put_per_service_by(out, shards, n_shards, "levee_refusals_total",
                       "Requests levee answered in the backend's place, by reason (flag: the "
                       "fallback of a flag off; queue_timeout and deadline: dropped from the "
                       "queue), counted when they end; a stale copy sent instead counts too.",
                       "reason", lv_metrics_refusal_names, LV_METRICS_N_REFUSALS,
                       offsetof(lv_service_metrics_t, refusals));
    put_per_service_max(out, shards, n_shards, "levee_guard_limit",
                        "Adaptive concurrency limit of the service's hosts (one limit shared by "
                        "the workers and by services with the same hosts).",
                        offsetof(lv_service_metrics_t, guard_limit));
    put_per_service(out, shards, n_shards, "levee_guard_queue_length", "gauge",
                    "Requests waiting in the guard's queue.",
                    offsetof(lv_service_metrics_t, guard_queue_len));
    put_per_service_max(out, shards, n_shards, "levee_guard_pressure",
                        "1 while the service is under pressure on any worker.",
                        offsetof(lv_service_metrics_t, guard_pressure));
    put_per_service_max(out, shards, n_shards, "levee_guard_breaker_state",
                        "Circuit breaker: 0 closed, 1 open, 2 half-open (worst worker).",
                        offsetof(lv_service_metrics_t, guard_breaker_state));
    put_per_service(out, shards, n_shards, "levee_guard_breaker_transitions_total", "counter",
                    "Circuit breaker state changes.",
                    offsetof(lv_service_metrics_t, guard_breaker_transitions));
    put_per_service(out, shards, n_shards, "levee_guard_wait_pages_total", "counter",
                    "Refusals answered with the HTML wait page.",
                    offsetof(lv_service_metrics_t, guard_wait_pages));
    put_histogram(out, shards, n_shards, "levee_guard_queue_wait_seconds",
                  "Time requests waited in the guard's queue before being served, by service.",
                  offsetof(lv_service_metrics_t, queue_wait_buckets),
                  offsetof(lv_service_metrics_t, queue_wait_sum_us));
}

void lv_metrics_write_prometheus(FILE *out, lv_metrics_shard_t *const *shards, uint32_t n_shards)
{
    put_family(out, "levee_build_info", "gauge", "Build information; always 1.");
    fputs("levee_build_info{version=\"", out);
    put_label_value(out, LV_VERSION);
    fputs("\"} 1\n", out);

    put_scalar(out, shards, n_shards, "levee_connections_open", "gauge",
               "Client connections open now.", SHARD_OFF(connections_open));
    put_scalar(out, shards, n_shards, "levee_connections_accepted_total", "counter",
               "Client connections accepted.", SHARD_OFF(connections_accepted));
    put_scalar(out, shards, n_shards, "levee_connections_refused_total", "counter",
               "Client connections refused over limits.connections.",
               SHARD_OFF(connections_refused));

    put_family(out, "levee_client_errors_total", "counter",
               "Requests rejected while parsing, by status.");
    for (unsigned i = 0; i < LV_ARRAY_LEN(client_error_codes); i++)
        fprintf(out, "levee_client_errors_total{code=\"%s\"} %" PRIu64 "\n", client_error_codes[i],
                sum_at(shards, n_shards, SHARD_OFF(client_errors) + i * sizeof(lv_counter_t)));

    put_scalar(out, shards, n_shards, "levee_requests_unrouted_total", "counter",
               "Requests that matched no route (404).", SHARD_OFF(requests_unrouted));
    put_scalar(out, shards, n_shards, "levee_request_body_timeouts_total", "counter",
               "Requests answered 408 because their body was too slow (timeouts.body_ms, "
               "timeouts.body_idle_ms); also counted in levee_client_errors_total.",
               SHARD_OFF(body_timeouts));
    put_scalar(out, shards, n_shards, "levee_proxy_protocol_errors_total", "counter",
               "Client connections closed because they did not start with a valid PROXY "
               "protocol header (proxy_protocol: true).",
               SHARD_OFF(proxy_protocol_errors));

    put_family(out, "levee_tls_handshakes_total", "counter",
               "TLS handshakes with clients, by result (ok, failed, limited) and reason (full, "
               "resumed; protocol, timeout, closed; cpu: refused by tls.handshake_cpu_percent).");
    for (unsigned i = 0; i < LV_TLS_HS_N; i++)
        fprintf(out, "levee_tls_handshakes_total{result=\"%s\",reason=\"%s\"} %" PRIu64 "\n",
                tls_hs_labels[i][0], tls_hs_labels[i][1],
                sum_at(shards, n_shards, SHARD_OFF(tls_handshakes) + i * sizeof(lv_counter_t)));
    uint64_t hs_us = sum_at(shards, n_shards, SHARD_OFF(tls_handshake_us));
    put_family(out, "levee_tls_handshake_seconds_total", "counter",
               "Time the workers spent in TLS handshakes with clients.");
    fprintf(out, "levee_tls_handshake_seconds_total %" PRIu64 ".%06" PRIu64 "\n", hs_us / 1000000u,
            hs_us % 1000000u);
    put_scalar(out, shards, n_shards, "levee_tls_handshakes_yielded_total", "counter",
               "Handshake steps put off to the next turn of the worker's loop: after every "
               "millisecond of handshakes, a worker serves its other connections first.",
               SHARD_OFF(tls_handshakes_yielded));

    put_family(out, "levee_client_bytes_total", "counter",
               "Bytes received from and sent to clients.");
    fprintf(out, "levee_client_bytes_total{direction=\"in\"} %" PRIu64 "\n",
            sum_at(shards, n_shards, SHARD_OFF(bytes_in)));
    fprintf(out, "levee_client_bytes_total{direction=\"out\"} %" PRIu64 "\n",
            sum_at(shards, n_shards, SHARD_OFF(bytes_out)));

    put_requests(out, shards, n_shards);
    put_histogram(out, shards, n_shards, "levee_request_duration_seconds",
                  "Time from the first request byte to the last response byte, by service.",
                  offsetof(lv_service_metrics_t, latency_buckets),
                  offsetof(lv_service_metrics_t, latency_sum_us));

    put_per_service(out, shards, n_shards, "levee_upstream_connects_total", "counter",
                    "New upstream TCP connections opened.",
                    offsetof(lv_service_metrics_t, upstream_connects));
    put_per_service(out, shards, n_shards, "levee_upstream_reuses_total", "counter",
                    "Requests sent on a kept-alive upstream connection.",
                    offsetof(lv_service_metrics_t, upstream_reuses));
    put_per_service(out, shards, n_shards, "levee_upstream_connect_errors_total", "counter",
                    "Upstream connection attempts that failed.",
                    offsetof(lv_service_metrics_t, upstream_connect_errors));
    put_per_service(out, shards, n_shards, "levee_upstream_connect_stalls_total", "counter",
                    "Upstream connects still pending after a tenth of connect_timeout_ms: the "
                    "request gave its concurrency slot back (a host that leaves SYNs unanswered "
                    "is not the backend's load).",
                    offsetof(lv_service_metrics_t, upstream_connect_stalls));
    put_per_service(out, shards, n_shards, "levee_upstream_errors_total", "counter",
                    "Upstream exchanges that failed (reset, bad response, closed early).",
                    offsetof(lv_service_metrics_t, upstream_errors));
    put_per_service(out, shards, n_shards, "levee_upstream_timeouts_total", "counter",
                    "Upstream reads that timed out.",
                    offsetof(lv_service_metrics_t, upstream_timeouts));
    put_per_service(out, shards, n_shards, "levee_upstream_retries_total", "counter",
                    "Connect failures retried on the next upstream host.",
                    offsetof(lv_service_metrics_t, upstream_retries));
    put_per_service_by(out, shards, n_shards, "levee_upstream_tls_handshakes_total",
                       "TLS handshakes with the service's upstreams (services[].tls), by result: "
                       "ok, verify_failed (the certificate or its name), failed (any other).",
                       "result", lv_up_tls_results, LV_UP_TLS_N,
                       offsetof(lv_service_metrics_t, upstream_tls));
    put_per_service(out, shards, n_shards, "levee_upstream_in_flight", "gauge",
                    "Requests sent upstream and not yet answered.",
                    offsetof(lv_service_metrics_t, in_flight));
    put_per_service(out, shards, n_shards, "levee_websocket_tunnels", "gauge",
                    "Websocket tunnels open (routes[].websocket): from the upstream's 101 until "
                    "both sides closed, a timeout or an error; a tunnel holds no concurrency "
                    "slot.",
                    offsetof(lv_service_metrics_t, ws_tunnels));
    put_per_service_by(out, shards, n_shards, "levee_websocket_tunnels_total",
                       "Websocket tunnels ended, by result: closed (both sides closed, or a "
                       "drain), idle_timeout (routes[].websocket_idle_ms), total_timeout "
                       "(routes[].websocket_max_ms), error (a reset, a failed write, a stalled "
                       "peer); refused: handshakes answered 503 over "
                       "services[].websocket_max_tunnels.",
                       "result", ws_results, LV_WS_N,
                       offsetof(lv_service_metrics_t, ws_tunnels_end));
    put_guard(out, shards, n_shards);
}
