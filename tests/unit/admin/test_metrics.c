/* tests/unit/admin/test_metrics.c: recording into shards, the slot registry, and the exact
 * Prometheus exposition of two summed shards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/metrics.h"

static int reset_registry(void **state)
{
    (void)state;
    lv_metrics_registry_reset();
    return 0;
}

static char *expose(lv_metrics_shard_t *const *shards, uint32_t n)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    lv_metrics_write_prometheus(f, shards, n);
    fclose(f);
    return text;
}

static void test_lv_metrics_method_index_maps_known_and_other(void **state)
{
    (void)state;
    assert_int_equal(lv_metrics_method_index(HTTP_GET), 0);
    assert_int_equal(lv_metrics_method_index(HTTP_HEAD), 1);
    assert_int_equal(lv_metrics_method_index(HTTP_POST), 2);
    assert_int_equal(lv_metrics_method_index(HTTP_PUT), 3);
    assert_int_equal(lv_metrics_method_index(HTTP_DELETE), 4);
    assert_int_equal(lv_metrics_method_index(HTTP_PATCH), 5);
    assert_int_equal(lv_metrics_method_index(HTTP_OPTIONS), 6);
    assert_int_equal(lv_metrics_method_index(HTTP_CONNECT), 7);
    assert_int_equal(lv_metrics_method_index(HTTP_TRACE), 8);
    assert_int_equal(lv_metrics_method_index(HTTP_PURGE), 9);
    assert_string_equal(lv_metrics_method_name(9), "other");
    assert_string_equal(lv_metrics_method_name(0), "GET");
}

static void test_lv_metrics_record_request_bucket_bounds_inclusive(void **state)
{
    (void)state;
    lv_service_metrics_t *m = calloc(1, sizeof *m);
    lv_metrics_record_request(m, HTTP_GET, 200, 0);        /* le 1 ms */
    lv_metrics_record_request(m, HTTP_GET, 200, 1000);     /* le 1 ms: bounds are inclusive */
    lv_metrics_record_request(m, HTTP_GET, 200, 1001);     /* le 2.5 ms */
    lv_metrics_record_request(m, HTTP_GET, 200, 60000000); /* le 60 s */
    lv_metrics_record_request(m, HTTP_GET, 200, 60000001); /* +Inf */
    assert_int_equal(lv_counter_get(&m->latency_buckets[0]), 2);
    assert_int_equal(lv_counter_get(&m->latency_buckets[1]), 1);
    assert_int_equal(lv_counter_get(&m->latency_buckets[14]), 1);
    assert_int_equal(lv_counter_get(&m->latency_buckets[15]), 1);
    assert_int_equal(lv_counter_get(&m->latency_sum_us), 0 + 1000 + 1001 + 60000000 + 60000001);
    assert_int_equal(lv_counter_get(&m->requests[0][1]), 5);
    free(m);
}

static void test_lv_metrics_record_request_status_classes_clamped(void **state)
{
    (void)state;
    lv_service_metrics_t *m = calloc(1, sizeof *m);
    lv_metrics_record_request(m, HTTP_POST, 101, 1);
    lv_metrics_record_request(m, HTTP_POST, 302, 1);
    lv_metrics_record_request(m, HTTP_POST, 404, 1);
    lv_metrics_record_request(m, HTTP_POST, 599, 1);
    lv_metrics_record_request(m, HTTP_POST, 0, 1);   /* clamped to 1xx */
    lv_metrics_record_request(m, HTTP_POST, 999, 1); /* clamped to 5xx */
    assert_int_equal(lv_counter_get(&m->requests[2][0]), 2);
    assert_int_equal(lv_counter_get(&m->requests[2][1]), 0);
    assert_int_equal(lv_counter_get(&m->requests[2][2]), 1);
    assert_int_equal(lv_counter_get(&m->requests[2][3]), 1);
    assert_int_equal(lv_counter_get(&m->requests[2][4]), 2);
    free(m);
}

static void test_lv_metrics_slot_for_reuses_name(void **state)
{
    (void)state;
    assert_int_equal(lv_metrics_n_slots(), 0);
    assert_int_equal(lv_metrics_slot_for("a"), 0);
    assert_int_equal(lv_metrics_slot_for("b"), 1);
    assert_int_equal(lv_metrics_slot_for("a"), 0);
    assert_int_equal(lv_metrics_n_slots(), 2);
    assert_string_equal(lv_metrics_slot_name(1), "b");
    assert_null(lv_metrics_slot_name(2));
}

static void test_lv_metrics_slot_for_full_registry(void **state)
{
    (void)state;
    char name[32];
    for (int i = 0; i < LV_METRICS_MAX_SERVICES; i++) {
        snprintf(name, sizeof name, "svc%d", i);
        assert_int_equal(lv_metrics_slot_for(name), i);
    }
    assert_int_equal(lv_metrics_slot_for("one-too-many"), -1);
    assert_int_equal(lv_metrics_slot_for("svc7"), 7); /* existing names still resolve */
    assert_int_equal(lv_metrics_n_slots(), LV_METRICS_MAX_SERVICES);
}

static const char expected_two_shards[] =
    "# HELP levee_build_info Build information; always 1.\n"
    "# TYPE levee_build_info gauge\n"
    "levee_build_info{version=\"" LV_VERSION "\"} 1\n"
    "# HELP levee_connections_open Client connections open now.\n"
    "# TYPE levee_connections_open gauge\n"
    "levee_connections_open 3\n"
    "# HELP levee_connections_accepted_total Client connections accepted.\n"
    "# TYPE levee_connections_accepted_total counter\n"
    "levee_connections_accepted_total 8\n"
    "# HELP levee_connections_refused_total Client connections refused over "
    "limits.connections.\n"
    "# TYPE levee_connections_refused_total counter\n"
    "levee_connections_refused_total 1\n"
    "# HELP levee_client_errors_total Requests rejected while parsing, by status.\n"
    "# TYPE levee_client_errors_total counter\n"
    "levee_client_errors_total{code=\"400\"} 1\n"
    "levee_client_errors_total{code=\"408\"} 0\n"
    "levee_client_errors_total{code=\"413\"} 0\n"
    "levee_client_errors_total{code=\"414\"} 0\n"
    "levee_client_errors_total{code=\"431\"} 2\n"
    "levee_client_errors_total{code=\"other\"} 0\n"
    "# HELP levee_requests_unrouted_total Requests that matched no route (404).\n"
    "# TYPE levee_requests_unrouted_total counter\n"
    "levee_requests_unrouted_total 1\n"
    "# HELP levee_request_body_timeouts_total Requests answered 408 because their body was too "
    "slow (timeouts.body_ms, timeouts.body_idle_ms); also counted in levee_client_errors_total.\n"
    "# TYPE levee_request_body_timeouts_total counter\n"
    "levee_request_body_timeouts_total 0\n"
    "# HELP levee_proxy_protocol_errors_total Client connections closed because they did not "
    "start with a valid PROXY protocol header (proxy_protocol: true).\n"
    "# TYPE levee_proxy_protocol_errors_total counter\n"
    "levee_proxy_protocol_errors_total 0\n"
    "# HELP levee_tls_handshakes_total TLS handshakes with clients, by result (ok, failed, "
    "limited) and reason (full, resumed; protocol, timeout, closed; cpu: refused by "
    "tls.handshake_cpu_percent).\n"
    "# TYPE levee_tls_handshakes_total counter\n"
    "levee_tls_handshakes_total{result=\"ok\",reason=\"full\"} 3\n"
    "levee_tls_handshakes_total{result=\"ok\",reason=\"resumed\"} 2\n"
    "levee_tls_handshakes_total{result=\"failed\",reason=\"protocol\"} 0\n"
    "levee_tls_handshakes_total{result=\"failed\",reason=\"timeout\"} 0\n"
    "levee_tls_handshakes_total{result=\"failed\",reason=\"closed\"} 0\n"
    "levee_tls_handshakes_total{result=\"limited\",reason=\"cpu\"} 4\n"
    "# HELP levee_tls_handshake_seconds_total Time the workers spent in TLS handshakes with "
    "clients.\n"
    "# TYPE levee_tls_handshake_seconds_total counter\n"
    "levee_tls_handshake_seconds_total 1.000250\n"
    "# HELP levee_tls_handshakes_yielded_total Handshake steps put off to the next turn of the "
    "worker's loop: after every millisecond of handshakes, a worker serves its other "
    "connections first.\n"
    "# TYPE levee_tls_handshakes_yielded_total counter\n"
    "levee_tls_handshakes_yielded_total 0\n"
    "# HELP levee_client_bytes_total Bytes received from and sent to clients.\n"
    "# TYPE levee_client_bytes_total counter\n"
    "levee_client_bytes_total{direction=\"in\"} 150\n"
    "levee_client_bytes_total{direction=\"out\"} 1500\n"
    "# HELP levee_requests_total Requests answered, by service, method and status class.\n"
    "# TYPE levee_requests_total counter\n"
    "levee_requests_total{service=\"demo\",method=\"GET\",code=\"2xx\"} 3\n"
    "levee_requests_total{service=\"demo\",method=\"POST\",code=\"5xx\"} 1\n"
    "# HELP levee_request_duration_seconds Time from the first request byte to the last "
    "response byte, by service.\n"
    "# TYPE levee_request_duration_seconds histogram\n"
    "levee_request_duration_seconds_bucket{service=\"demo\",le=\"0.001\"} 2\n"
    "levee_request_duration_seconds_bucket{service=\"demo\",le=\"0.0025\"} 2\n"
    "levee_request_duration_seconds_bucket{service=\"demo\",le=\"0.005\"} 3\n"
    "levee_request_duration_seconds_bucket{service=\"demo\",le=\"0.01\"} 3\n"
    "levee_request_duration_seconds_bucket{service=\"demo\",le=\"0.025\"} 3\n"
    "levee_request_duration_seconds_bucket{service=\"demo\",le=\"0.05\"} 3\n"
    "levee_request_duration_seconds_bucket{service=\"demo\",le=\"0.1\"} 3\n"
    "levee_request_duration_seconds_bucket{service=\"demo\",le=\"0.25\"} 3\n"
    "levee_request_duration_seconds_bucket{service=\"demo\",le=\"0.5\"} 3\n"
    "levee_request_duration_seconds_bucket{service=\"demo\",le=\"1\"} 3\n"
    "levee_request_duration_seconds_bucket{service=\"demo\",le=\"2.5\"} 3\n"
    "levee_request_duration_seconds_bucket{service=\"demo\",le=\"5\"} 3\n"
    "levee_request_duration_seconds_bucket{service=\"demo\",le=\"10\"} 3\n"
    "levee_request_duration_seconds_bucket{service=\"demo\",le=\"30\"} 3\n"
    "levee_request_duration_seconds_bucket{service=\"demo\",le=\"60\"} 3\n"
    "levee_request_duration_seconds_bucket{service=\"demo\",le=\"+Inf\"} 4\n"
    "levee_request_duration_seconds_sum{service=\"demo\"} 70.004500\n"
    "levee_request_duration_seconds_count{service=\"demo\"} 4\n"
    "levee_request_duration_seconds_bucket{service=\"api\",le=\"0.001\"} 0\n"
    "levee_request_duration_seconds_bucket{service=\"api\",le=\"0.0025\"} 0\n"
    "levee_request_duration_seconds_bucket{service=\"api\",le=\"0.005\"} 0\n"
    "levee_request_duration_seconds_bucket{service=\"api\",le=\"0.01\"} 0\n"
    "levee_request_duration_seconds_bucket{service=\"api\",le=\"0.025\"} 0\n"
    "levee_request_duration_seconds_bucket{service=\"api\",le=\"0.05\"} 0\n"
    "levee_request_duration_seconds_bucket{service=\"api\",le=\"0.1\"} 0\n"
    "levee_request_duration_seconds_bucket{service=\"api\",le=\"0.25\"} 0\n"
    "levee_request_duration_seconds_bucket{service=\"api\",le=\"0.5\"} 0\n"
    "levee_request_duration_seconds_bucket{service=\"api\",le=\"1\"} 0\n"
    "levee_request_duration_seconds_bucket{service=\"api\",le=\"2.5\"} 0\n"
    "levee_request_duration_seconds_bucket{service=\"api\",le=\"5\"} 0\n"
    "levee_request_duration_seconds_bucket{service=\"api\",le=\"10\"} 0\n"
    "levee_request_duration_seconds_bucket{service=\"api\",le=\"30\"} 0\n"
    "levee_request_duration_seconds_bucket{service=\"api\",le=\"60\"} 0\n"
    "levee_request_duration_seconds_bucket{service=\"api\",le=\"+Inf\"} 0\n"
    "levee_request_duration_seconds_sum{service=\"api\"} 0.000000\n"
    "levee_request_duration_seconds_count{service=\"api\"} 0\n"
    "# HELP levee_upstream_connects_total New upstream TCP connections opened.\n"
    "# TYPE levee_upstream_connects_total counter\n"
    "levee_upstream_connects_total{service=\"demo\"} 1\n"
    "levee_upstream_connects_total{service=\"api\"} 0\n"
    "# HELP levee_upstream_reuses_total Requests sent on a kept-alive upstream connection.\n"
    "# TYPE levee_upstream_reuses_total counter\n"
    "levee_upstream_reuses_total{service=\"demo\"} 1\n"
    "levee_upstream_reuses_total{service=\"api\"} 0\n"
    "# HELP levee_upstream_connect_errors_total Upstream connection attempts that failed.\n"
    "# TYPE levee_upstream_connect_errors_total counter\n"
    "levee_upstream_connect_errors_total{service=\"demo\"} 0\n"
    "levee_upstream_connect_errors_total{service=\"api\"} 2\n"
    "# HELP levee_upstream_connect_stalls_total Upstream connects still pending after a tenth of "
    "connect_timeout_ms: the request gave its concurrency slot back (a host that leaves SYNs "
    "unanswered is not the backend's load).\n"
    "# TYPE levee_upstream_connect_stalls_total counter\n"
    "levee_upstream_connect_stalls_total{service=\"demo\"} 0\n"
    "levee_upstream_connect_stalls_total{service=\"api\"} 0\n"
    "# HELP levee_upstream_errors_total Upstream exchanges that failed (reset, bad response, "
    "closed early).\n"
    "# TYPE levee_upstream_errors_total counter\n"
    "levee_upstream_errors_total{service=\"demo\"} 0\n"
    "levee_upstream_errors_total{service=\"api\"} 0\n"
    "# HELP levee_upstream_timeouts_total Upstream reads that timed out.\n"
    "# TYPE levee_upstream_timeouts_total counter\n"
    "levee_upstream_timeouts_total{service=\"demo\"} 1\n"
    "levee_upstream_timeouts_total{service=\"api\"} 0\n"
    "# HELP levee_upstream_retries_total Connect failures retried on the next upstream host.\n"
    "# TYPE levee_upstream_retries_total counter\n"
    "levee_upstream_retries_total{service=\"demo\"} 0\n"
    "levee_upstream_retries_total{service=\"api\"} 1\n"
    "# HELP levee_upstream_tls_handshakes_total TLS handshakes with the service's upstreams "
    "(services[].tls), by result: ok, verify_failed (the certificate or its name), failed (any "
    "other).\n"
    "# TYPE levee_upstream_tls_handshakes_total counter\n"
    "levee_upstream_tls_handshakes_total{service=\"demo\",result=\"ok\"} 0\n"
    "levee_upstream_tls_handshakes_total{service=\"demo\",result=\"verify_failed\"} 0\n"
    "levee_upstream_tls_handshakes_total{service=\"demo\",result=\"failed\"} 0\n"
    "levee_upstream_tls_handshakes_total{service=\"api\",result=\"ok\"} 7\n"
    "levee_upstream_tls_handshakes_total{service=\"api\",result=\"verify_failed\"} 1\n"
    "levee_upstream_tls_handshakes_total{service=\"api\",result=\"failed\"} 0\n"
    "# HELP levee_upstream_in_flight Requests sent upstream and not yet answered.\n"
    "# TYPE levee_upstream_in_flight gauge\n"
    "levee_upstream_in_flight{service=\"demo\"} 1\n"
    "levee_upstream_in_flight{service=\"api\"} 0\n"
    "# HELP levee_websocket_tunnels Websocket tunnels open (routes[].websocket): from the "
    "upstream's 101 until both sides closed, a timeout or an error; a tunnel holds no concurrency "
    "slot.\n"
    "# TYPE levee_websocket_tunnels gauge\n"
    "levee_websocket_tunnels{service=\"demo\"} 0\n"
    "levee_websocket_tunnels{service=\"api\"} 0\n"
    "# HELP levee_websocket_tunnels_total Websocket tunnels ended, by result: closed (both sides "
    "closed, or a drain), idle_timeout (routes[].websocket_idle_ms), total_timeout "
    "(routes[].websocket_max_ms), error (a reset, a failed write, a stalled peer); refused: "
    "handshakes answered 503 over services[].websocket_max_tunnels.\n"
    "# TYPE levee_websocket_tunnels_total counter\n"
    "levee_websocket_tunnels_total{service=\"demo\",result=\"closed\"} 0\n"
    "levee_websocket_tunnels_total{service=\"demo\",result=\"idle_timeout\"} 0\n"
    "levee_websocket_tunnels_total{service=\"demo\",result=\"total_timeout\"} 0\n"
    "levee_websocket_tunnels_total{service=\"demo\",result=\"error\"} 0\n"
    "levee_websocket_tunnels_total{service=\"demo\",result=\"refused\"} 0\n"
    "levee_websocket_tunnels_total{service=\"api\",result=\"closed\"} 0\n"
    "levee_websocket_tunnels_total{service=\"api\",result=\"idle_timeout\"} 0\n"
    "levee_websocket_tunnels_total{service=\"api\",result=\"total_timeout\"} 0\n"
    "levee_websocket_tunnels_total{service=\"api\",result=\"error\"} 0\n"
    "levee_websocket_tunnels_total{service=\"api\",result=\"refused\"} 0\n"
    "# HELP levee_guard_decisions_total Decisions of the overload guard, by service and decision.\n"
    "# TYPE levee_guard_decisions_total counter\n"
    "levee_guard_decisions_total{service=\"demo\",decision=\"admitted\"} 8\n"
    "levee_guard_decisions_total{service=\"demo\",decision=\"queued\"} 2\n"
    "levee_guard_decisions_total{service=\"demo\",decision=\"dropped_wait\"} 0\n"
    "levee_guard_decisions_total{service=\"demo\",decision=\"dropped_deadline\"} 0\n"
    "levee_guard_decisions_total{service=\"demo\",decision=\"dropped_client_gone\"} 0\n"
    "levee_guard_decisions_total{service=\"demo\",decision=\"shed\"} 4\n"
    "levee_guard_decisions_total{service=\"demo\",decision=\"storm_blocked\"} 0\n"
    "levee_guard_decisions_total{service=\"demo\",decision=\"premature_blocked\"} 0\n"
    "levee_guard_decisions_total{service=\"demo\",decision=\"orphaned\"} 0\n"
    "levee_guard_decisions_total{service=\"demo\",decision=\"joined\"} 0\n"
    "levee_guard_decisions_total{service=\"demo\",decision=\"join_resent\"} 0\n"
    "levee_guard_decisions_total{service=\"demo\",decision=\"breaker_rejected\"} 0\n"
    "levee_guard_decisions_total{service=\"demo\",decision=\"fallback\"} 0\n"
    "levee_guard_decisions_total{service=\"demo\",decision=\"retry_denied\"} 0\n"
    "levee_guard_decisions_total{service=\"api\",decision=\"admitted\"} 0\n"
    "levee_guard_decisions_total{service=\"api\",decision=\"queued\"} 0\n"
    "levee_guard_decisions_total{service=\"api\",decision=\"dropped_wait\"} 0\n"
    "levee_guard_decisions_total{service=\"api\",decision=\"dropped_deadline\"} 0\n"
    "levee_guard_decisions_total{service=\"api\",decision=\"dropped_client_gone\"} 0\n"
    "levee_guard_decisions_total{service=\"api\",decision=\"shed\"} 0\n"
    "levee_guard_decisions_total{service=\"api\",decision=\"storm_blocked\"} 7\n"
    "levee_guard_decisions_total{service=\"api\",decision=\"premature_blocked\"} 1\n"
    "levee_guard_decisions_total{service=\"api\",decision=\"orphaned\"} 3\n"
    "levee_guard_decisions_total{service=\"api\",decision=\"joined\"} 2\n"
    "levee_guard_decisions_total{service=\"api\",decision=\"join_resent\"} 0\n"
    "levee_guard_decisions_total{service=\"api\",decision=\"breaker_rejected\"} 0\n"
    "levee_guard_decisions_total{service=\"api\",decision=\"fallback\"} 2\n"
    "levee_guard_decisions_total{service=\"api\",decision=\"retry_denied\"} 1\n"
    "# HELP levee_guard_refused_by_criticality_total Requests the limit and queue refused (shed "
    "at once, or dropped after waiting too long), by the request's criticality.\n"
    "# TYPE levee_guard_refused_by_criticality_total counter\n"
    "levee_guard_refused_by_criticality_total{service=\"demo\",criticality=\"critical\"} 0\n"
    "levee_guard_refused_by_criticality_total{service=\"demo\",criticality=\"default\"} 1\n"
    "levee_guard_refused_by_criticality_total{service=\"demo\",criticality=\"sheddable\"} 4\n"
    "levee_guard_refused_by_criticality_total{service=\"api\",criticality=\"critical\"} 2\n"
    "levee_guard_refused_by_criticality_total{service=\"api\",criticality=\"default\"} 0\n"
    "levee_guard_refused_by_criticality_total{service=\"api\",criticality=\"sheddable\"} 0\n"
    "# HELP levee_faults_injected_total Requests that drew an injected fault, by kind (host_down: "
    "connections refused to a host marked down). docs/faults.md.\n"
    "# TYPE levee_faults_injected_total counter\n"
    "levee_faults_injected_total{service=\"demo\",kind=\"latency\"} 0\n"
    "levee_faults_injected_total{service=\"demo\",kind=\"abort\"} 0\n"
    "levee_faults_injected_total{service=\"demo\",kind=\"reset\"} 0\n"
    "levee_faults_injected_total{service=\"demo\",kind=\"blackhole\"} 0\n"
    "levee_faults_injected_total{service=\"demo\",kind=\"bandwidth\"} 0\n"
    "levee_faults_injected_total{service=\"demo\",kind=\"host_down\"} 0\n"
    "levee_faults_injected_total{service=\"api\",kind=\"latency\"} 0\n"
    "levee_faults_injected_total{service=\"api\",kind=\"abort\"} 2\n"
    "levee_faults_injected_total{service=\"api\",kind=\"reset\"} 0\n"
    "levee_faults_injected_total{service=\"api\",kind=\"blackhole\"} 0\n"
    "levee_faults_injected_total{service=\"api\",kind=\"bandwidth\"} 0\n"
    "levee_faults_injected_total{service=\"api\",kind=\"host_down\"} 0\n"
    "# HELP levee_refusals_total Requests levee answered in the backend's place, by reason "
    "(flag: the fallback of a flag off; queue_timeout and deadline: dropped from the queue), "
    "counted when they end; a stale copy sent instead counts too.\n"
    "# TYPE levee_refusals_total counter\n"
    "levee_refusals_total{service=\"demo\",reason=\"flag\"} 0\n"
    "levee_refusals_total{service=\"demo\",reason=\"storm\"} 0\n"
    "levee_refusals_total{service=\"demo\",reason=\"premature\"} 0\n"
    "levee_refusals_total{service=\"demo\",reason=\"breaker\"} 0\n"
    "levee_refusals_total{service=\"demo\",reason=\"shed\"} 3\n"
    "levee_refusals_total{service=\"demo\",reason=\"queue_timeout\"} 0\n"
    "levee_refusals_total{service=\"demo\",reason=\"deadline\"} 0\n"
    "levee_refusals_total{service=\"demo\",reason=\"body_timeout\"} 0\n"
    "levee_refusals_total{service=\"api\",reason=\"flag\"} 1\n"
    "levee_refusals_total{service=\"api\",reason=\"storm\"} 0\n"
    "levee_refusals_total{service=\"api\",reason=\"premature\"} 0\n"
    "levee_refusals_total{service=\"api\",reason=\"breaker\"} 0\n"
    "levee_refusals_total{service=\"api\",reason=\"shed\"} 0\n"
    "levee_refusals_total{service=\"api\",reason=\"queue_timeout\"} 0\n"
    "levee_refusals_total{service=\"api\",reason=\"deadline\"} 0\n"
    "levee_refusals_total{service=\"api\",reason=\"body_timeout\"} 0\n"
    "# HELP levee_guard_limit Adaptive concurrency limit of the service's hosts (one limit "
    "shared by the workers and by services with the same hosts).\n"
    "# TYPE levee_guard_limit gauge\n"
    "levee_guard_limit{service=\"demo\"} 12\n"
    "levee_guard_limit{service=\"api\"} 20\n"
    "# HELP levee_guard_queue_length Requests waiting in the guard's queue.\n"
    "# TYPE levee_guard_queue_length gauge\n"
    "levee_guard_queue_length{service=\"demo\"} 1\n"
    "levee_guard_queue_length{service=\"api\"} 0\n"
    "# HELP levee_guard_pressure 1 while the service is under pressure on any worker.\n"
    "# TYPE levee_guard_pressure gauge\n"
    "levee_guard_pressure{service=\"demo\"} 1\n"
    "levee_guard_pressure{service=\"api\"} 0\n"
    "# HELP levee_guard_breaker_state Circuit breaker: 0 closed, 1 open, 2 half-open (worst "
    "worker).\n"
    "# TYPE levee_guard_breaker_state gauge\n"
    "levee_guard_breaker_state{service=\"demo\"} 2\n"
    "levee_guard_breaker_state{service=\"api\"} 0\n"
    "# HELP levee_guard_breaker_transitions_total Circuit breaker state changes.\n"
    "# TYPE levee_guard_breaker_transitions_total counter\n"
    "levee_guard_breaker_transitions_total{service=\"demo\"} 0\n"
    "levee_guard_breaker_transitions_total{service=\"api\"} 3\n"
    "# HELP levee_guard_wait_pages_total Refusals answered with the HTML wait page.\n"
    "# TYPE levee_guard_wait_pages_total counter\n"
    "levee_guard_wait_pages_total{service=\"demo\"} 4\n"
    "levee_guard_wait_pages_total{service=\"api\"} 6\n"
    "# HELP levee_guard_queue_wait_seconds Time requests waited in the guard's queue before being "
    "served, by service.\n"
    "# TYPE levee_guard_queue_wait_seconds histogram\n"
    "levee_guard_queue_wait_seconds_bucket{service=\"demo\",le=\"0.001\"} 1\n"
    "levee_guard_queue_wait_seconds_bucket{service=\"demo\",le=\"0.0025\"} 1\n"
    "levee_guard_queue_wait_seconds_bucket{service=\"demo\",le=\"0.005\"} 2\n"
    "levee_guard_queue_wait_seconds_bucket{service=\"demo\",le=\"0.01\"} 2\n"
    "levee_guard_queue_wait_seconds_bucket{service=\"demo\",le=\"0.025\"} 2\n"
    "levee_guard_queue_wait_seconds_bucket{service=\"demo\",le=\"0.05\"} 2\n"
    "levee_guard_queue_wait_seconds_bucket{service=\"demo\",le=\"0.1\"} 2\n"
    "levee_guard_queue_wait_seconds_bucket{service=\"demo\",le=\"0.25\"} 2\n"
    "levee_guard_queue_wait_seconds_bucket{service=\"demo\",le=\"0.5\"} 2\n"
    "levee_guard_queue_wait_seconds_bucket{service=\"demo\",le=\"1\"} 2\n"
    "levee_guard_queue_wait_seconds_bucket{service=\"demo\",le=\"2.5\"} 2\n"
    "levee_guard_queue_wait_seconds_bucket{service=\"demo\",le=\"5\"} 2\n"
    "levee_guard_queue_wait_seconds_bucket{service=\"demo\",le=\"10\"} 2\n"
    "levee_guard_queue_wait_seconds_bucket{service=\"demo\",le=\"30\"} 2\n"
    "levee_guard_queue_wait_seconds_bucket{service=\"demo\",le=\"60\"} 2\n"
    "levee_guard_queue_wait_seconds_bucket{service=\"demo\",le=\"+Inf\"} 2\n"
    "levee_guard_queue_wait_seconds_sum{service=\"demo\"} 0.004500\n"
    "levee_guard_queue_wait_seconds_count{service=\"demo\"} 2\n"
    "levee_guard_queue_wait_seconds_bucket{service=\"api\",le=\"0.001\"} 0\n"
    "levee_guard_queue_wait_seconds_bucket{service=\"api\",le=\"0.0025\"} 0\n"
    "levee_guard_queue_wait_seconds_bucket{service=\"api\",le=\"0.005\"} 0\n"
    "levee_guard_queue_wait_seconds_bucket{service=\"api\",le=\"0.01\"} 0\n"
    "levee_guard_queue_wait_seconds_bucket{service=\"api\",le=\"0.025\"} 0\n"
    "levee_guard_queue_wait_seconds_bucket{service=\"api\",le=\"0.05\"} 0\n"
    "levee_guard_queue_wait_seconds_bucket{service=\"api\",le=\"0.1\"} 0\n"
    "levee_guard_queue_wait_seconds_bucket{service=\"api\",le=\"0.25\"} 0\n"
    "levee_guard_queue_wait_seconds_bucket{service=\"api\",le=\"0.5\"} 0\n"
    "levee_guard_queue_wait_seconds_bucket{service=\"api\",le=\"1\"} 0\n"
    "levee_guard_queue_wait_seconds_bucket{service=\"api\",le=\"2.5\"} 0\n"
    "levee_guard_queue_wait_seconds_bucket{service=\"api\",le=\"5\"} 0\n"
    "levee_guard_queue_wait_seconds_bucket{service=\"api\",le=\"10\"} 0\n"
    "levee_guard_queue_wait_seconds_bucket{service=\"api\",le=\"30\"} 0\n"
    "levee_guard_queue_wait_seconds_bucket{service=\"api\",le=\"60\"} 0\n"
    "levee_guard_queue_wait_seconds_bucket{service=\"api\",le=\"+Inf\"} 0\n"
    "levee_guard_queue_wait_seconds_sum{service=\"api\"} 0.000000\n"
    "levee_guard_queue_wait_seconds_count{service=\"api\"} 0\n";

static void test_lv_metrics_write_prometheus_sums_two_shards(void **state)
{
    (void)state;
    assert_int_equal(lv_metrics_slot_for("demo"), 0);
    assert_int_equal(lv_metrics_slot_for("api"), 1);
    lv_metrics_shard_t *a = calloc(1, sizeof *a);
    lv_metrics_shard_t *b = calloc(1, sizeof *b);

    lv_counter_add(&a->connections_open, 2);
    lv_counter_add(&a->connections_accepted, 5);
    lv_counter_add(&a->connections_refused, 1);
    lv_counter_add(&a->client_errors[LV_CERR_400], 1);
    lv_counter_add(&a->requests_unrouted, 1);
    lv_counter_add(&a->bytes_in, 100);
    lv_counter_add(&a->bytes_out, 1000);
    lv_metrics_record_request(&a->services[0], HTTP_GET, 200, 500);
    lv_metrics_record_request(&a->services[0], HTTP_GET, 200, 3000);
    lv_counter_add(&a->services[0].upstream_connects, 1);
    lv_counter_add(&a->services[0].upstream_reuses, 1);
    lv_counter_add(&a->services[0].in_flight, 1);
    lv_counter_add(&a->tls_handshakes[LV_TLS_HS_FULL], 3);
    lv_counter_add(&a->tls_handshakes[LV_TLS_HS_LIMITED], 4);
    lv_counter_add(&a->tls_handshake_us, 1000000);
    lv_counter_add(&b->tls_handshakes[LV_TLS_HS_RESUMED], 2);
    lv_counter_add(&b->tls_handshake_us, 250);
    lv_counter_add(&a->services[1].upstream_tls[LV_UP_TLS_OK], 7);
    lv_counter_add(&b->services[1].upstream_tls[LV_UP_TLS_VERIFY_FAILED], 1);

    lv_counter_add(&b->connections_open, 1);
    lv_counter_add(&b->connections_accepted, 3);
    lv_counter_add(&b->client_errors[LV_CERR_431], 2);
    lv_counter_add(&b->bytes_in, 50);
    lv_counter_add(&b->bytes_out, 500);
    lv_metrics_record_request(&b->services[0], HTTP_POST, 503, 70000000);
    lv_metrics_record_request(&b->services[0], HTTP_GET, 204, 1000);
    lv_counter_add(&b->services[0].upstream_timeouts, 1);
    lv_counter_add(&b->services[1].upstream_connect_errors, 2);
    lv_counter_add(&b->services[1].upstream_retries, 1);

    /* Refusals by reason (index: lv_refusal_t - 1) add up over the shards. */
    lv_counter_add(&a->services[0].refusals[4], 2); /* shed */
    lv_counter_add(&b->services[0].refusals[4], 1);
    lv_counter_add(&b->services[1].refusals[0], 1); /* flag */

    /* The guard: counters and summed gauges add up; pressure and breaker take the worst. */
    lv_counter_add(&a->services[0].guard_admitted, 5);
    lv_counter_add(&b->services[0].guard_admitted, 3);
    lv_counter_add(&a->services[0].guard_queued, 2);
    lv_counter_add(&b->services[0].guard_shed, 4);
    lv_counter_add(&a->services[0].guard_refused_by_crit[LV_CRIT_SHEDDABLE], 1);
    lv_counter_add(&b->services[0].guard_refused_by_crit[LV_CRIT_SHEDDABLE], 3);
    lv_counter_add(&b->services[0].guard_refused_by_crit[LV_CRIT_DEFAULT], 1);
    lv_counter_add(&a->services[1].guard_refused_by_crit[LV_CRIT_CRITICAL], 2);
    lv_counter_add(&a->services[1].faults_injected[LV_FAULT_ABORT], 1);
    lv_counter_add(&b->services[1].faults_injected[LV_FAULT_ABORT], 1);
    lv_counter_add(&b->services[1].guard_storm_blocked, 7);
    lv_counter_add(&a->services[1].guard_premature_blocked, 1);
    lv_counter_add(&a->services[1].guard_orphaned, 1);
    lv_counter_add(&b->services[1].guard_orphaned, 2);
    lv_counter_add(&b->services[1].guard_joined, 2);
    lv_counter_add(&b->services[1].guard_retries_denied, 1);
    lv_counter_add(&b->services[1].guard_fallback_served, 2);
    lv_counter_add(&a->services[0].guard_limit, 10);
    lv_counter_add(&b->services[0].guard_limit, 12);
    lv_counter_add(&a->services[1].guard_limit, 20);
    lv_counter_add(&a->services[0].guard_queue_len, 1);
    lv_counter_add(&a->services[0].guard_pressure, 1);
    lv_counter_add(&b->services[0].guard_pressure, 1);
    lv_counter_add(&a->services[0].guard_breaker_state, 1);
    lv_counter_add(&b->services[0].guard_breaker_state, 2);
    lv_counter_add(&b->services[1].guard_breaker_transitions, 3);
    lv_counter_add(&a->services[0].guard_wait_pages, 4);
    lv_counter_add(&b->services[1].guard_wait_pages, 6);
    lv_counter_add(&a->services[0].queue_wait_buckets[2], 1); /* 4 ms: le 5 ms */
    lv_counter_add(&a->services[0].queue_wait_sum_us, 4000);
    lv_counter_add(&b->services[0].queue_wait_buckets[0], 1); /* 0.5 ms: le 1 ms */
    lv_counter_add(&b->services[0].queue_wait_sum_us, 500);

    lv_metrics_shard_t *shards[2] = {a, b};
    char *text = expose(shards, 2);
    assert_string_equal(text, expected_two_shards);
    free(text);

    assert_int_equal(lv_metrics_sum_service_requests(shards, 2, 0), 4);
    assert_int_equal(lv_metrics_sum_service_requests(shards, 2, 1), 0);
    assert_int_equal(lv_metrics_sum_service_in_flight(shards, 2, 0), 1);
    assert_int_equal(lv_metrics_sum_connections_open(shards, 2), 3);
    free(a);
    free(b);
}

static void test_lv_metrics_write_prometheus_escapes_label_values(void **state)
{
    (void)state;
    assert_int_equal(lv_metrics_slot_for("we\"ird\\na\nme"), 0);
    lv_metrics_shard_t *a = calloc(1, sizeof *a);
    lv_metrics_record_request(&a->services[0], HTTP_PURGE, 404, 10);
    lv_metrics_shard_t *shards[1] = {a};
    char *text = expose(shards, 1);
    assert_non_null(strstr(text, "levee_requests_total{service=\"we\\\"ird\\\\na\\nme\","
                                 "method=\"other\",code=\"4xx\"} 1\n"));
    free(text);
    free(a);
}

static void test_lv_metrics_write_prometheus_no_services(void **state)
{
    (void)state;
    lv_metrics_shard_t *a = calloc(1, sizeof *a);
    lv_metrics_shard_t *shards[1] = {a};
    char *text = expose(shards, 1);
    /* Families without series keep their HELP/TYPE lines and nothing else. */
    assert_non_null(strstr(text, "# TYPE levee_requests_total counter\n"
                                 "# HELP levee_request_duration_seconds"));
    assert_null(strstr(text, "service="));
    free(text);
    free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lv_metrics_method_index_maps_known_and_other),
        cmocka_unit_test(test_lv_metrics_record_request_bucket_bounds_inclusive),
        cmocka_unit_test(test_lv_metrics_record_request_status_classes_clamped),
        cmocka_unit_test_setup_teardown(test_lv_metrics_slot_for_reuses_name, reset_registry,
                                        reset_registry),
        cmocka_unit_test_setup_teardown(test_lv_metrics_slot_for_full_registry, reset_registry,
                                        reset_registry),
        cmocka_unit_test_setup_teardown(test_lv_metrics_write_prometheus_sums_two_shards,
                                        reset_registry, reset_registry),
        cmocka_unit_test_setup_teardown(test_lv_metrics_write_prometheus_escapes_label_values,
                                        reset_registry, reset_registry),
        cmocka_unit_test_setup_teardown(test_lv_metrics_write_prometheus_no_services,
                                        reset_registry, reset_registry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
