/* core/config_table.c: the settings table (one row per key: type, default, bounds, docs and
 * where the loader stores it), the Markdown writer behind docs/config.md and the roff writer
 * behind the levee.yaml(5) man page (docs/man/levee.yaml.5). Constant data. */
#include "core/config.h"

#include <stddef.h>
#include <string.h>

#define CFG(f) offsetof(lv_config_t, f)
#define SVC(f) offsetof(lv_service_conf_t, f)
#define RTE(f) offsetof(lv_route_conf_t, f)
#define FLT(f) offsetof(lv_fault_spec_t, f)
#define LSN(f) offsetof(lv_listener_conf_t, f)
#define CRT(f) offsetof(lv_tls_cert_conf_t, f)
#define DAY_MS 86400000u

/* Keys are grouped by section; "services[]." and "routes[]." rows apply to each list item.
 * The default text is parsed by the loader itself, so docs and behaviour cannot disagree. */
const lv_config_setting_t lv_config_settings[] = {
    {"workers", "uint", "0", "0..64", false,
     "Worker threads, each with its own event loop, listener and upstream pools; 0 means one "
     "per online CPU (at most 64).",
     LV_CONFIG_K_UINT, 0, CFG(workers), 0, 0, 64},
    {"listen", "list of addr", "", "1..64 items", false,
     "Plaintext client listeners as HOST:PORT (IPv4, [IPv6] or localhost); port 0 picks a free "
     "port. levee does not start on an address another process listens on (unless "
     "--takeover). Required unless listeners is given (64 listeners in all).",
     LV_CONFIG_K_ADDR_LIST, LV_CONFIG_F_REQUIRED | LV_CONFIG_F_PORT0, CFG(listeners),
     CFG(n_listeners), 1, 64},
    {"listeners", "list", "", "0..64 items", false,
     "Client listeners with settings of their own (TLS); each is opened like those of listen.",
     LV_CONFIG_K_LISTENERS, 0, CFG(listener_items), CFG(n_listener_items), 0, 64},
    {"listeners[].listen", "addr", "", "HOST:PORT", false, "The listener's address, as in listen.",
     LV_CONFIG_K_ADDR, LV_CONFIG_F_REQUIRED | LV_CONFIG_F_PORT0, LSN(addr), 0, 0, 0},
    {"listeners[].tls.certificates", "list", "", "0..256 items", true,
     "Certificates of a TLS listener (docs/tls.md); none: plaintext. A client's SNI name picks "
     "the certificate whose names (subjectAltName DNS entries, else the common name) match it "
     "exactly, else by a wildcard (*.example.com matches one label); the first certificate "
     "answers clients without SNI or with an unknown name. A reload (SIGHUP) reads the files "
     "again; a file that is missing, malformed or whose key does not match refuses the reload "
     "and the running certificates stay.",
     LV_CONFIG_K_TLS_CERTS, 0, LSN(certs), LSN(n_certs), 0, 256},
    {"listeners[].tls.certificates[].cert", "string", "", "PATH", true,
     "PEM file with the certificate and its chain, leaf first (relative to the config file's "
     "directory).",
     LV_CONFIG_K_STRING, LV_CONFIG_F_REQUIRED, CRT(cert), 0, 0, 4096},
    {"listeners[].tls.certificates[].key", "string", "", "PATH", true,
     "PEM file with the certificate's private key; empty: the key is in the cert file.",
     LV_CONFIG_K_STRING, LV_CONFIG_F_EMPTY_NULL, CRT(key), 0, 0, 4096},
    {"listeners[].tls.min_version", "enum", "1.2", "1.2|1.3", true,
     "Oldest TLS version accepted (TLS 1.3 is always offered; SSL, TLS 1.0 and 1.1 never are).",
     LV_CONFIG_K_ENUM, 0, LSN(tls_min_version), 0, 0, 0},
    {"listeners[].tls.ciphers", "string", "ECDHE+AESGCM:ECDHE+CHACHA20", "OpenSSL cipher list",
     true,
     "TLS 1.2 cipher suites, in OpenSSL's syntax (openssl ciphers -v 'LIST' shows them); the "
     "default keeps forward secrecy and AEAD only, the server's order preferred.",
     LV_CONFIG_K_STRING, 0, LSN(tls_ciphers), 0, 0, 1024},
    {"listeners[].tls.ciphersuites", "string",
     "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256",
     "OpenSSL TLS 1.3 suites", true, "TLS 1.3 cipher suites, in OpenSSL's syntax.",
     LV_CONFIG_K_STRING, 0, LSN(tls_ciphersuites), 0, 0, 1024},
    {"listeners[].tls.session_tickets", "bool", "true", "true|false", true,
     "Resumption by session tickets, encrypted with keys shared by the workers and rotated "
     "every tls.ticket_rotate_ms (a ticket stays valid for two periods).",
     LV_CONFIG_K_BOOL, 0, LSN(tls_tickets), 0, 0, 0},
    {"listeners[].tls.session_cache", "uint", "20480", "0..1000000", true,
     "Sessions kept in memory for resumption by session id (TLS 1.2 clients without "
     "tickets, and TLS 1.3 when tickets are off), shared by the workers; 0: none. A reload "
     "starts an empty cache (tickets stay valid).",
     LV_CONFIG_K_UINT, 0, LSN(tls_session_cache), 0, 0, 1000000},
    {"admin.listen", "addr", "127.0.0.1:9901", "HOST:PORT", false,
     "Admin listener (/metrics, /status, /flags); keep it on a private address. As for listen, "
     "levee does not start when another process listens there (unless --takeover).",
     LV_CONFIG_K_ADDR, LV_CONFIG_F_PORT0, CFG(admin), 0, 0, 0},
    {"admin.enabled", "bool", "true", "true|false", false, "Whether the admin listener runs.",
     LV_CONFIG_K_BOOL, 0, CFG(admin_enabled), 0, 0, 0},
    {"admin.token", "string", "", "0..256 bytes", true,
     "Bearer token for admin write endpoints; empty means none.", LV_CONFIG_K_STRING,
     LV_CONFIG_F_EMPTY_NULL, CFG(admin_token), 0, 0, 256},
    {"admin.dashboard_watchers", "uint", "32", "0..256", true,
     "GET /events streams (the dashboard's live feed, docs/dashboard.md) open at once; one "
     "more is answered 503. They do not count against the admin's 64 other connections. A "
     "watcher that does not read (over 256 KiB unsent) is dropped. 0 turns /events off; "
     "/dashboard still answers.",
     LV_CONFIG_K_UINT, 0, CFG(dashboard_watchers), 0, 0, 256},
    {"limits.header_bytes", "bytes", "16384", "1024..1048576", true,
     "Largest request head (request line and headers); a larger one gets 431.", LV_CONFIG_K_BYTES32,
     0, CFG(limits.header_bytes), 0, 1024, 1048576},
    {"limits.target_bytes", "bytes", "8192", "64..limits.header_bytes", true,
     "Largest request target (path and query); a longer one gets 414.", LV_CONFIG_K_BYTES32, 0,
     CFG(limits.target_bytes), 0, 64, 1048576},
    {"limits.body_bytes", "bytes", "0", "0..1099511627776", true,
     "Largest request body; a larger one gets 413; 0 means no limit.", LV_CONFIG_K_BYTES64, 0,
     CFG(limits.body_bytes), 0, 0, 1099511627776ull},
    {"limits.body_buffer_bytes", "bytes", "65536", "0..16777216", true,
     "A request body up to this size is read whole before the request takes a concurrency slot "
     "or waits in the guard's queue (and may then be retried on another host); a larger one is "
     "buffered this far, then streamed once admitted. 0 streams every body from its first "
     "byte.",
     LV_CONFIG_K_BYTES32, 0, CFG(limits.body_buffer_bytes), 0, 0, 16777216},
    {"limits.connections", "uint", "10000", "1..1000000", true,
     "Open client connections per process; over it, new connections get 503 and are closed. "
     "Held under what the open files limit allows (ulimit -n, raised to its hard limit at "
     "start): two descriptors per connection, a sixteenth kept in reserve.",
     LV_CONFIG_K_UINT, 0, CFG(limits.connections), 0, 1, 1000000},
    {"timeouts.header_ms", "duration_ms", "10000", "1..86400000", true,
     "The whole request head must arrive within this time, else 408.", LV_CONFIG_K_DURATION, 0,
     CFG(limits.header_timeout_ms), 0, 1, DAY_MS},
    {"timeouts.body_ms", "duration_ms", "15000", "1..86400000", true,
     "The part of a request body that levee buffers (limits.body_buffer_bytes) must arrive "
     "within this time after the head, else 408: a slow upload holds no slot meanwhile.",
     LV_CONFIG_K_DURATION, 0, CFG(limits.body_timeout_ms), 0, 1, DAY_MS},
    {"timeouts.body_idle_ms", "duration_ms", "10000", "1..86400000", true,
     "A request body that makes no progress for this long gets 408 (buffered or streamed).",
     LV_CONFIG_K_DURATION, 0, CFG(limits.body_idle_timeout_ms), 0, 1, DAY_MS},
    {"timeouts.keepalive_ms", "duration_ms", "60000", "1..86400000", true,
     "An idle client connection between requests is closed after this time.", LV_CONFIG_K_DURATION,
     0, CFG(limits.keepalive_timeout_ms), 0, 1, DAY_MS},
    {"timeouts.send_ms", "duration_ms", "60000", "1..86400000", true,
     "A write to a client or upstream that makes no progress for this long fails.",
     LV_CONFIG_K_DURATION, 0, CFG(limits.send_timeout_ms), 0, 1, DAY_MS},
    {"timeouts.drain_ms", "duration_ms", "10000", "0..86400000", true,
     "On SIGTERM, in-flight requests get this long to finish before the process exits.",
     LV_CONFIG_K_DURATION, 0, CFG(drain_timeout_ms), 0, 0, DAY_MS},
    {"real_client.trusted", "list of address blocks", "", "0..256 items", true,
     "Peers allowed to name the client: a request from one of these addresses (10.0.0.0/8, "
     "::1, 192.0.2.7) takes its client from X-Forwarded-For, the rightmost address there that "
     "is not itself trusted. That client is the one the guard, the F5 join and the access log "
     "see. Empty: the peer is the client.",
     LV_CONFIG_K_CIDR_LIST, 0, CFG(trusted_proxies), CFG(n_trusted_proxies), 0, 256},
    {"proxy_protocol", "bool", "false", "true|false", true,
     "Every client connection starts with a PROXY protocol header (v1 or v2, as HAProxy, AWS "
     "and other load balancers send it) naming the client; a connection without a valid one "
     "is closed. Only for listeners that a balancer alone can reach.",
     LV_CONFIG_K_BOOL, 0, CFG(proxy_protocol), 0, 0, 0},
    {"upgrade_socket", "string", "", "PATH (108 bytes)", false,
     "A Unix socket where levee waits for its successor: levee -c FILE --upgrade-from PATH "
     "receives the listening sockets (listen, listeners[], admin.listen) over it, starts, "
     "then this process stops accepting, drains and exits 0; no queued connection is lost. "
     "SIGUSR2 starts that successor itself (the binary at the path levee was started by, with "
     "the same arguments). Empty: off.",
     LV_CONFIG_K_STRING, LV_CONFIG_F_EMPTY_NULL, CFG(upgrade_socket), 0, 0, 107},
    {"access_log", "string", "off", "off|-|PATH", true,
     "Access log: off, - for stdout, or a file path (appended). SIGUSR1 and SIGHUP reopen it "
     "(after a rotation); a reload may change or turn it off, and no line is lost or split.",
     LV_CONFIG_K_STRING, LV_CONFIG_F_OFF_NULL, CFG(access_log), 0, 0, 4096},
    {"access_log_format", "enum", "text", "text|json", true,
     "Access log lines: text (key=value) or json, one object per line with time, client, "
     "method, target, host, user_agent, status, bytes_in, bytes_out, service, upstream (the "
     "host that served it, or null), cache (hit, miss, pass, stale, coalesced, revalidated, or "
     "null), refusal (why levee answered in the backend's place: flag, storm, premature, "
     "breaker, shed, queue_timeout, deadline, body_timeout; null otherwise), upstream_ms, "
     "total_ms, request_id, tls_version and tls_cipher (null over plaintext). Text lines "
     "of TLS connections end with tls= and cipher=.",
     LV_CONFIG_K_ENUM, 0, CFG(access_log_format), 0, 0, 0},
    {"tls.ticket_rotate_ms", "duration_ms", "3600000", "60000..86400000", true,
     "A new session ticket key is made this often (by the main thread, for every worker); "
     "tickets made with the one before still resume, then get a new ticket.",
     LV_CONFIG_K_DURATION, 0, CFG(tls_ticket_rotate_ms), 0, 60000, DAY_MS},
    {"tls.handshake_cpu_percent", "uint", "50", "1..100", true,
     "While a worker's loop is saturated and it serves requests, full TLS handshakes may use "
     "at most this share of each 100 ms of its time; past it, a ClientHello that does not "
     "resume a session is refused (handshake failure) so that admitted requests keep their "
     "CPU. 100: never limited.",
     LV_CONFIG_K_UINT, 0, CFG(tls_handshake_cpu_percent), 0, 1, 100},
    {"log_level", "enum", "info", "error|warn|info|debug", true,
     "Least severe level written to the process log (stderr).", LV_CONFIG_K_ENUM_STR, 0,
     CFG(log_level), 0, 0, 0},
    {"guard.client_id", "string", "ip", "ip|header:NAME|cookie:NAME", true,
     "How the guard identifies a client for F5 joins (a client's repeated GET taking over "
     "its abandoned one): its IP address, a request header, or a cookie. The retry-storm "
     "check counts repeats per the header or cookie when set and present, else per the id in "
     "the lv_retry cookie levee sets on a refusal; never per address (a NAT or an office is "
     "many users), so with ip a request that was never refused is never a storm repeat.",
     LV_CONFIG_K_STRING, 0, CFG(client_id), 0, 0, 128},
    {"guard.storm_window_ms", "duration_ms", "10000", "1..3600000", true,
     "Repeats of the same request by the same client within this window count as a retry "
     "storm; the lv_retry cookie of a refusal lives this long past its Retry-After.",
     LV_CONFIG_K_DURATION, 0, CFG(storm_window_ms), 0, 1, 3600000},
    {"guard.storm_threshold", "uint", "3", "1..1000000", true,
     "Under pressure, repeats beyond this many within the window are answered 429 at the edge "
     "(unless a concurrency slot is free and nobody is queued).",
     LV_CONFIG_K_UINT, 0, CFG(storm_threshold), 0, 1, 1000000},
    {"guard.storm_entries", "uint", "65536", "16..16777216", false,
     "Clients the retry-storm table tracks per worker; the least recently seen are evicted.",
     LV_CONFIG_K_UINT, 0, CFG(storm_entries), 0, 16, 16777216},
    {"guard.retry_after_ms", "duration_ms", "2000", "1000..3600000", true,
     "Base Retry-After of refusals; each refusal jitters it by +-50 % (whole seconds, at least "
     "1) and sets the lv_retry cookie: that client, back with it earlier for the same "
     "resource under pressure, gets 429.",
     LV_CONFIG_K_DURATION, 0, CFG(retry_after_ms), 0, 1000, 3600000},
    {"guard.deadline_header", "string", "X-Deadline-Ms", "header name", true,
     "Request header with the client's deadline in milliseconds from now; empty disables it.",
     LV_CONFIG_K_STRING, LV_CONFIG_F_EMPTY_NULL, CFG(deadline_header), 0, 0, 64},
    {"guard.state_file", "string", "", "PATH", false,
     "File that keeps flag changes made through the admin API across restarts (written "
     "atomically), until DELETE /flags/<name> gives the flag back to its config; empty means "
     "they are not kept.",
     LV_CONFIG_K_STRING, LV_CONFIG_F_EMPTY_NULL, CFG(state_file), 0, 0, 4096},
    {"cache.size", "bytes", "0", "0..1099511627776", false,
     "Memory the response cache may use for stored responses (e.g. 256m); 0 turns the cache off.",
     LV_CONFIG_K_BYTES64, 0, CFG(cache_size), 0, 0, 1099511627776ull},
    {"cache.shards", "uint", "16", "1..1024", false,
     "Separately locked parts of the cache, rounded up to a power of two; more shards mean less "
     "waiting between workers.",
     LV_CONFIG_K_UINT, 0, CFG(cache_shards), 0, 1, 1024},
    {"cache.policy", "enum", "sieve", "sieve|lru", false,
     "Which stored response a full cache evicts: sieve keeps popular ones better under scans, "
     "lru drops the least recently used.",
     LV_CONFIG_K_ENUM, 0, CFG(cache_policy), 0, 0, 0},
    {"cache.lock_timeout_ms", "duration_ms", "5000", "0..60000", true,
     "Requests that wait for another request's miss of the same key go to the origin "
     "themselves if its response head has not come within this time.",
     LV_CONFIG_K_DURATION, 0, CFG(cache_lock_timeout_ms), 0, 0, 60000},
    {"cache.pass_ttl_ms", "duration_ms", "10000", "0..3600000", true,
     "A key whose response could not be stored is remembered this long, so that its misses go "
     "to the origin at once instead of waiting for each other.",
     LV_CONFIG_K_DURATION, 0, CFG(cache_pass_ttl_ms), 0, 0, 3600000},
    {"region", "string", "local", "[a-z0-9_-]{1,32}", false,
     "This levee's region: its cache events go to the Redis stream lv:ev:REGION and it drops "
     "stored responses when told on the channel lv:l1:REGION (docs/replication.md).",
     LV_CONFIG_K_STRING, 0, CFG(region), 0, 1, 32},
    {"cache.l2.url", "string", "", "redis://HOST:PORT[/DB]|unix:PATH", false,
     "The region's Redis, the second cache tier: lookups go L1, then L2, then the origin; every "
     "fill is written to it. Empty: no second tier (levee needs no Redis).",
     LV_CONFIG_K_STRING, LV_CONFIG_F_EMPTY_NULL, CFG(cache_l2_url), 0, 0, 512},
    {"cache.l2.timeout_ms", "duration_ms", "5", "1..1000", false,
     "A second-tier lookup not answered within this time counts as a miss: the request goes "
     "on to the origin (and a late answer is dropped).",
     LV_CONFIG_K_DURATION, 0, CFG(cache_l2_timeout_ms), 0, 1, 1000},
    {"cache.l2.retry_ms", "duration_ms", "1000", "10..60000", false,
     "After a lost connection, levee connects again after this time; an open breaker stays "
     "open this long before one lookup tries again. Also the bound of a connect.",
     LV_CONFIG_K_DURATION, 0, CFG(cache_l2_retry_ms), 0, 10, 60000},
    {"cache.l2.breaker_failures", "uint", "5", "1..10000", false,
     "Lookups in a row that time out or fail open the second tier's breaker: no lookup waits "
     "on Redis until cache.l2.retry_ms has passed.",
     LV_CONFIG_K_UINT, 0, CFG(cache_l2_breaker_failures), 0, 1, 10000},
    {"cache.l2.max_pending", "uint", "1024", "1..1000000", false,
     "Commands a worker may have sent to Redis without an answer; past it, lookups are skipped "
     "and writes dropped (counted) instead of buffered.",
     LV_CONFIG_K_UINT, 0, CFG(cache_l2_max_pending), 0, 1, 1000000},
    {"cache.l2.max_value_bytes", "bytes", "1m", "1k..64m", false,
     "Largest value (head, metadata and body, after compression) written to the second tier.",
     LV_CONFIG_K_BYTES32, 0, CFG(cache_l2_max_value_bytes), 0, 1024, 67108864},
    {"cache.l2.compress_min_bytes", "bytes", "2048", "0..64m", false,
     "Values from this size up are compressed with zstd (when it saves bytes); 0: never.",
     LV_CONFIG_K_BYTES32, 0, CFG(cache_l2_compress_min_bytes), 0, 0, 67108864},
    {"cache.l2.tombstone_ttl_ms", "duration_ms", "600000", "1000..86400000", false,
     "A purged or invalidated key keeps a tombstone this long in the second tier, so that an "
     "older copy replayed or delayed by replication is not stored again.",
     LV_CONFIG_K_DURATION, 0, CFG(cache_l2_tombstone_ttl_ms), 0, 1000, DAY_MS},
    {"cache.l2.publish", "bool", "true", "true|false", false,
     "Whether fills, purges and invalidations are appended as events to the region's stream "
     "(lv:ev:REGION) for other regions' replicators.",
     LV_CONFIG_K_BOOL, 0, CFG(cache_l2_publish), 0, 0, 0},
    {"cache.l2.event_value_max_bytes", "bytes", "65536", "0..64m", false,
     "A fill's event carries its value up to this size; a larger one is published as metadata "
     "only, and other regions fetch it from their own origin.",
     LV_CONFIG_K_BYTES32, 0, CFG(cache_l2_event_value_max_bytes), 0, 0, 67108864},
    {"cache.l2.stream_maxlen", "uint", "100000", "100..100000000", false,
     "The region's stream is trimmed to about this many events (XADD MAXLEN ~).", LV_CONFIG_K_UINT,
     0, CFG(cache_l2_stream_maxlen), 0, 100, 100000000},
    {"services", "list", "", "1..1024 items", true,
     "Upstream applications; each is the unit of limits, breakers and shedding.",
     LV_CONFIG_K_SERVICES, LV_CONFIG_F_REQUIRED, CFG(services), CFG(n_services), 1, 1024},
    {"services[].name", "string", "", "[A-Za-z0-9_.-]{1,64}", true,
     "Unique service name, used by routes, metrics and logs.", LV_CONFIG_K_NAME,
     LV_CONFIG_F_REQUIRED, SVC(name), 0, 1, 64},
    {"services[].upstreams", "list of addr", "", "1..256 items", true,
     "Upstream hosts as HOST:PORT (port 0 not allowed).", LV_CONFIG_K_ADDR_LIST,
     LV_CONFIG_F_REQUIRED, SVC(upstreams), SVC(n_upstreams), 1, 256},
    {"services[].criticality", "enum", "default", "critical|default|sheddable", true,
     "Under overload, sheddable services are refused first and critical ones last.",
     LV_CONFIG_K_ENUM, 0, SVC(criticality), 0, 0, 0},
    {"services[].balance", "enum", "least_outstanding", "round_robin|least_outstanding", true,
     "How a request picks one of the upstream hosts in rotation: the one with the fewest "
     "requests in flight from this worker (ties in turn), which also starves a host that hangs "
     "before outlier detection has seen it fail; or strictly in turn.",
     LV_CONFIG_K_ENUM, 0, SVC(balance), 0, 0, 0},
    {"services[].connect_timeout_ms", "duration_ms", "1000", "1..86400000", true,
     "TCP connect to one upstream host must finish within this time, else 502. A connect "
     "still pending after a tenth of it gives its request's concurrency slot back (a host that "
     "leaves SYNs unanswered is not load on the backend).",
     LV_CONFIG_K_DURATION, 0, SVC(connect_timeout_ms), 0, 1, DAY_MS},
    {"services[].read_timeout_ms", "duration_ms", "30000", "1..86400000", true,
     "No response byte from the upstream for this long gives 504.", LV_CONFIG_K_DURATION, 0,
     SVC(read_timeout_ms), 0, 1, DAY_MS},
    {"services[].keepalive", "uint", "128", "0..10000", true,
     "Idle upstream connections kept per upstream host and per worker; keep it above the "
     "number of requests in flight at peak, or connections are closed and opened again.",
     LV_CONFIG_K_UINT, 0, SVC(keepalive), 0, 0, 10000},
    {"services[].keepalive_idle_ms", "duration_ms", "60000", "1..86400000", true,
     "An idle upstream connection is closed after this time.", LV_CONFIG_K_DURATION, 0,
     SVC(keepalive_idle_ms), 0, 1, DAY_MS},
    {"services[].websocket_max_tunnels", "uint", "0", "0..1000000", true,
     "Open websocket tunnels the service allows (routes[].websocket), shared out evenly among "
     "the workers (each allows this divided by workers, rounded up); a handshake over it gets "
     "503 before the guard. 0: no cap.",
     LV_CONFIG_K_UINT, 0, SVC(websocket_max_tunnels), 0, 0, 1000000},
    {"services[].outlier.consecutive_failures", "uint", "5", "0..1000", true,
     "Failures in a row (connect refused or timed out, reset, cut or malformed response, read "
     "timeout, a 5xx answer but 503, which a busy host sheds load with) that take an upstream "
     "host out of rotation; 0 never ejects. A host back from an ejection goes out again at its "
     "first failure, until it succeeds once.",
     LV_CONFIG_K_UINT, 0, SVC(outlier.consecutive_failures), 0, 0, 1000},
    {"services[].outlier.base_ejection_ms", "duration_ms", "10000", "1..86400000", true,
     "How long a host stays out of rotation the first time; each ejection in a row without a "
     "success between doubles it. The last host in rotation is never ejected.",
     LV_CONFIG_K_DURATION, 0, SVC(outlier.base_ejection_ms), 0, 1, DAY_MS},
    {"services[].outlier.max_ejection_ms", "duration_ms", "300000", "1..86400000", true,
     "The longest an ejection lasts, however many came before it.", LV_CONFIG_K_DURATION, 0,
     SVC(outlier.max_ejection_ms), 0, 1, DAY_MS},
    {"services[].health_check.path", "string", "", "PATH", true,
     "Active health checks: GET this path on every upstream host every interval_ms (from the "
     "main thread, over a new connection, with TLS when tls.enabled, verified like requests); "
     "unset means no active checks.",
     LV_CONFIG_K_PATH, 0, SVC(health_check.path), SVC(health_check.path_len), 0, 1024},
    {"services[].health_check.host", "string", "", "0..255 bytes", true,
     "Host header of the health checks; unset sends the upstream's address.", LV_CONFIG_K_STRING,
     LV_CONFIG_F_EMPTY_NULL, SVC(health_check.host), 0, 0, 255},
    {"services[].health_check.interval_ms", "duration_ms", "5000", "100..86400000", true,
     "Time between two checks of one host.", LV_CONFIG_K_DURATION, 0, SVC(health_check.interval_ms),
     0, 100, DAY_MS},
    {"services[].health_check.timeout_ms", "duration_ms", "1000", "1..86400000", true,
     "A check that has no status line within this time failed.", LV_CONFIG_K_DURATION, 0,
     SVC(health_check.timeout_ms), 0, 1, DAY_MS},
    {"services[].health_check.healthy", "uint", "2", "1..100", true,
     "Checks in a row answered 2xx or 3xx that bring a host that was down back into rotation.",
     LV_CONFIG_K_UINT, 0, SVC(health_check.healthy), 0, 1, 100},
    {"services[].health_check.unhealthy", "uint", "3", "1..100", true,
     "Checks in a row that failed (no connection, timeout, any other status) that take a host "
     "out of rotation.",
     LV_CONFIG_K_UINT, 0, SVC(health_check.unhealthy), 0, 1, 100},
    {"services[].guard", "bool", "true", "true|false", true,
     "Whether the guard (limit, queue, shedding, breaker, storm check) protects this service.",
     LV_CONFIG_K_BOOL, 0, SVC(guard.enabled), 0, 0, 0},
    {"services[].limit.initial", "uint", "20", "limit.min..limit.max", true,
     "Concurrency limit the adaptive limiter starts from: it first measures the backend at a "
     "quarter of it, then steps up until a queue shows. The limit is learned per backend and "
     "shared by every worker: services that list the same upstreams with the same limit "
     "settings share one limit, and their waiters are served most critical first.",
     LV_CONFIG_K_UINT, 0, SVC(guard.limit_initial), 0, 1, 100000},
    {"services[].limit.min", "uint", "1", "1..100000", true,
     "The adaptive concurrency limit never goes below this, nor below the number of "
     "upstream hosts (one request each, up to limit.max).",
     LV_CONFIG_K_UINT, 0, SVC(guard.limit_min), 0, 1, 100000},
    {"services[].limit.max", "uint", "1000", "1..100000", true,
     "The adaptive concurrency limit never goes above this.", LV_CONFIG_K_UINT, 0,
     SVC(guard.limit_max), 0, 1, 100000},
    {"services[].queue.max", "uint", "1000", "0..1000000", true,
     "Requests that may wait for a slot in front of the limit; 0 means no queue.", LV_CONFIG_K_UINT,
     0, SVC(guard.queue_max), 0, 0, 1000000},
    {"services[].queue.target_ms", "duration_ms", "5", "1..queue.interval_ms", true,
     "CoDel target: the wait allowed while the queue is standing.", LV_CONFIG_K_DURATION, 0,
     SVC(guard.queue_target_ms), 0, 1, 60000},
    {"services[].queue.interval_ms", "duration_ms", "100", "1..60000", true,
     "CoDel interval: a queue that has not drained within this time, and whose oldest request "
     "has waited this long (or that timed requests out within the last 10 intervals), is standing.",
     LV_CONFIG_K_DURATION, 0, SVC(guard.queue_interval_ms), 0, 1, 60000},
    {"services[].queue.timeout_ms", "duration_ms", "100", "1..86400000", true,
     "The wait allowed while the queue drains normally (Fail at Scale uses the interval); keep "
     "it well under users' patience.",
     LV_CONFIG_K_DURATION, 0, SVC(guard.queue_timeout_ms), 0, 1, DAY_MS},
    {"services[].deadline_ms", "duration_ms", "0", "0..86400000", true,
     "A request still queued this long after it arrived gets 503 without reaching the "
     "backend; 0 means no deadline (the deadline header still applies).",
     LV_CONFIG_K_DURATION, 0, SVC(guard.deadline_ms), 0, 0, DAY_MS},
    {"services[].breaker.window_ms", "duration_ms", "10000", "100..86400000", true,
     "Sliding window over which the circuit breaker counts errors and timeouts.",
     LV_CONFIG_K_DURATION, 0, SVC(guard.breaker_window_ms), 0, 100, DAY_MS},
    {"services[].breaker.min_requests", "uint", "20", "1..1000000", true,
     "The breaker does not open before the window holds this many requests.", LV_CONFIG_K_UINT, 0,
     SVC(guard.breaker_min_requests), 0, 1, 1000000},
    {"services[].breaker.error_percent", "uint", "50", "1..100", true,
     "The breaker opens when this share of the window's requests failed or timed out.",
     LV_CONFIG_K_UINT, 0, SVC(guard.breaker_error_percent), 0, 1, 100},
    {"services[].breaker.cooldown_ms", "duration_ms", "5000", "1..86400000", true,
     "An open breaker half-opens after this time and lets probes through.", LV_CONFIG_K_DURATION, 0,
     SVC(guard.breaker_cooldown_ms), 0, 1, DAY_MS},
    {"services[].breaker.probes", "uint", "3", "1..1000", true,
     "Requests a half-open breaker lets through; all must succeed for it to close.",
     LV_CONFIG_K_UINT, 0, SVC(guard.breaker_probes), 0, 1, 1000},
    {"services[].retry_budget.percent", "uint", "10", "0..100", true,
     "levee's own retries to another host stay under this share of the service's requests.",
     LV_CONFIG_K_UINT, 0, SVC(guard.retry_budget_percent), 0, 0, 100},
    {"services[].retry_budget.min_per_s", "uint", "3", "0..1000000", true,
     "Retries allowed per second whatever the share, so a quiet service can still retry.",
     LV_CONFIG_K_UINT, 0, SVC(guard.retry_budget_min_per_s), 0, 0, 1000000},
    {"services[].flag", "enum", "on", "on|off|auto", true,
     "Feature flag: off answers with the fallback; auto is off while the service is under "
     "pressure. Admin API changes override it.",
     LV_CONFIG_K_ENUM, 0, SVC(guard.flag), 0, 0, 0},
    {"services[].fallback.status", "uint", "200", "200..599", true,
     "Status of the fallback response with fallback.body or fallback.file.", LV_CONFIG_K_UINT, 0,
     SVC(guard.fallback_status), 0, 200, 599},
    {"services[].fallback.body", "string", "", "0..65536 bytes", true,
     "Fallback body while the flag is off. With no body, file or redirect, the fallback is a "
     "503 saying the feature is switched off.",
     LV_CONFIG_K_STRING, LV_CONFIG_F_EMPTY_NULL, SVC(guard.fallback_body), 0, 0, 65536},
    {"services[].fallback.file", "string", "", "PATH", true,
     "File whose content is the fallback body, read at load time (at most 1 MiB; relative to "
     "the config file's directory).",
     LV_CONFIG_K_STRING, LV_CONFIG_F_EMPTY_NULL, SVC(guard.fallback_file), 0, 0, 4096},
    {"services[].fallback.redirect", "string", "", "http(s)://URL or /path", true,
     "Fallback as a 302 to this absolute http(s) URL or path; excludes fallback.body and "
     "fallback.file.",
     LV_CONFIG_K_STRING, LV_CONFIG_F_EMPTY_NULL, SVC(guard.fallback_redirect), 0, 0, 2048},
    {"services[].fallback.content_type", "string", "text/plain; charset=utf-8", "1..256 bytes",
     true, "Content-Type of the fallback body.", LV_CONFIG_K_STRING, 0,
     SVC(guard.fallback_content_type), 0, 0, 256},
    {"services[].wait_page", "string", "", "PATH", true,
     "HTML template of the wait page, read at load time (at most 1 MiB; relative to the config "
     "file's directory); must contain {{retry_after}}, may use {{service}} and {{status}}; "
     "empty means the built-in page.",
     LV_CONFIG_K_STRING, LV_CONFIG_F_EMPTY_NULL, SVC(guard.wait_page), 0, 0, 4096},
    {"services[].cache.serve_stale_ms", "duration_ms", "0", "0..86400000", true,
     "While the origin fails or the guard refuses, stored responses up to this long past their "
     "freshness are served, on top of what their own stale-if-error allows.",
     LV_CONFIG_K_DURATION, 0, SVC(cache_serve_stale_ms), 0, 0, DAY_MS},
    {"services[].tls.enabled", "bool", "false", "true|false", true,
     "Whether levee speaks TLS (1.2 or 1.3, ALPN http/1.1) to the service's upstreams.",
     LV_CONFIG_K_BOOL, 0, SVC(tls.enabled), 0, 0, 0},
    {"services[].tls.verify", "bool", "true", "true|false", true,
     "Whether the upstream's certificate must chain to tls.ca_file (or the system store) and "
     "carry tls.server_name; a failure is a connect failure (502, next host).",
     LV_CONFIG_K_BOOL, 0, SVC(tls.verify), 0, 0, 0},
    {"services[].tls.ca_file", "string", "", "PATH", true,
     "PEM bundle of the authorities the upstreams' certificates are verified against; empty: "
     "the system store.",
     LV_CONFIG_K_STRING, LV_CONFIG_F_EMPTY_NULL, SVC(tls.ca_file), 0, 0, 4096},
    {"services[].tls.server_name", "string", "", "host name", true,
     "Name sent as SNI and verified in the upstream's certificate; empty: the upstream's "
     "address (its IP is verified, no SNI is sent).",
     LV_CONFIG_K_HOST, LV_CONFIG_F_EMPTY_NULL, SVC(tls.server_name), 0, 0, 255},
    {"services[].tls.cert", "string", "", "PATH", true,
     "Client certificate chain (PEM) levee presents to the upstreams; empty: none.",
     LV_CONFIG_K_STRING, LV_CONFIG_F_EMPTY_NULL, SVC(tls.cert), 0, 0, 4096},
    {"services[].tls.key", "string", "", "PATH", true,
     "Private key of tls.cert; empty: in tls.cert's file.", LV_CONFIG_K_STRING,
     LV_CONFIG_F_EMPTY_NULL, SVC(tls.key), 0, 0, 4096},
    {"routes", "list", "/ -> first service", "0..4096 items", true,
     "Host and path prefix to service; when absent, everything goes to the first service.",
     LV_CONFIG_K_ROUTES, 0, CFG(routes), CFG(n_routes), 0, 4096},
    {"routes[].host", "string", "", "host name or [IPv6]", true,
     "Matches the request Host case-insensitively, its port ignored; empty matches any host.",
     LV_CONFIG_K_HOST, LV_CONFIG_F_EMPTY_NULL, RTE(host), 0, 0, 255},
    {"routes[].path", "string", "/", "starts with /, 1..1024 bytes", true,
     "Byte prefix of the request path; the longest matching prefix wins.", LV_CONFIG_K_PATH, 0,
     RTE(path_prefix), RTE(path_prefix_len), 1, 1024},
    {"routes[].service", "string", "", "a service name", true,
     "The service that handles matching requests.", LV_CONFIG_K_SERVICE, LV_CONFIG_F_REQUIRED,
     RTE(service), 0, 0, 0},
    {"routes[].criticality", "enum", "service", "service|critical|default|sheddable", true,
     "Criticality of the requests of this route under pressure (sheddable ones are refused "
     "first, critical ones last); service: the service's own.",
     LV_CONFIG_K_ENUM, 0, RTE(criticality), 0, 0, 0},
    {"routes[].name", "string", "", "[A-Za-z0-9_.-]{1,64}", true,
     "Name of the route's feature flag in the admin API (/flags/<name>); unique among routes "
     "and different from every service name. A route without a name has no flag.",
     LV_CONFIG_K_NAME, 0, RTE(name), 0, 1, 64},
    {"routes[].flag", "enum", "on", "on|off|auto", true,
     "Feature flag of the route (needs routes[].name), checked before its service's: off "
     "answers with the service's fallback; auto is off while the service is under pressure. "
     "Admin API changes override it.",
     LV_CONFIG_K_ENUM, 0, RTE(flag), 0, 0, 0},
    {"routes[].cache", "bool", "true", "true|false", true,
     "Whether the responses of this route may be stored and served by the cache when it is on "
     "(cache.size above 0).",
     LV_CONFIG_K_BOOL, 0, RTE(cache), 0, 0, 0},
    {"routes[].cache_key", "string", "", "0..4 of header:NAME, cookie:NAME", true,
     "Comma-separated request headers (header:NAME) and cookies (cookie:NAME) whose values are "
     "added to this route's cache key; empty means method, host, path and query only.",
     LV_CONFIG_K_CACHE_KEY, 0, RTE(cache_key), RTE(n_cache_key), 0, LV_CACHE_KEY_PARTS_MAX},
    {"routes[].websocket", "bool", "false", "true|false", true,
     "Whether a GET with Connection: upgrade and Upgrade: websocket is forwarded with those "
     "headers on a new upstream connection and, once the upstream answers 101, tunnelled both "
     "ways as raw bytes (docs/websocket.md); false: Upgrade is dropped like any hop-by-hop "
     "header.",
     LV_CONFIG_K_BOOL, 0, RTE(websocket), 0, 0, 0},
    {"routes[].websocket_idle_ms", "duration_ms", "60000", "1..86400000", true,
     "A websocket tunnel with no byte either way for this long is closed.", LV_CONFIG_K_DURATION, 0,
     RTE(websocket_idle_ms), 0, 1, DAY_MS},
    {"routes[].websocket_max_ms", "duration_ms", "3600000", "0..86400000", true,
     "A websocket tunnel is closed this long after its 101, active or not; 0: no bound.",
     LV_CONFIG_K_DURATION, 0, RTE(websocket_max_ms), 0, 0, DAY_MS},
    {"faults", "list", "", "0..64 items", true,
     "Faults to inject, each as the admin API's POST /faults starts one (docs/faults.md): they "
     "start with the config and end by themselves after duration_ms; a reload ends those the "
     "new config no longer lists (or lists changed) and starts the new ones. At most 64 faults "
     "are in force at once, from the config and the admin API together.",
     LV_CONFIG_K_FAULTS, 0, CFG(faults), CFG(n_faults), 0, 64},
    {"faults[].service", "string", "", "a service name", true,
     "The service whose requests draw the fault; set service or route, not both.",
     LV_CONFIG_K_FAULT_MEMBER, 0, FLT(service), 0, 0, 0},
    {"faults[].route", "string", "", "a route's name", true,
     "The named route (routes[].name) whose requests draw the fault, instead of a whole service.",
     LV_CONFIG_K_FAULT_MEMBER, 0, FLT(route), 0, 0, 0},
    {"faults[].kind", "enum", "", "latency|abort|reset|blackhole|bandwidth|host_down", true,
     "What the fault does in the backend's place: latency delays its answer by ms, abort answers "
     "status, reset resets the connection (502), blackhole holds the request as a stalled "
     "backend (504 at the read timeout, or on to the backend when the fault ends first), "
     "bandwidth slows the response to bytes_per_s, host_down refuses connections to host.",
     LV_CONFIG_K_FAULT_MEMBER, LV_CONFIG_F_REQUIRED, FLT(kind), 0, 0, 0},
    {"faults[].share", "number", "1", "0..1", true,
     "The share of the target's requests that draw the fault (1: all).", LV_CONFIG_K_FAULT_MEMBER,
     0, FLT(share), 0, 0, 0},
    {"faults[].duration_ms", "duration_ms", "", "1..86400000", true,
     "The fault ends by itself this long after it started.", LV_CONFIG_K_FAULT_MEMBER,
     LV_CONFIG_F_REQUIRED, FLT(duration_ms), 0, 0, 0},
    {"faults[].ms", "string", "",
     "0..60000: MS, uniform A B, exponential MEAN, lognormal MEDIAN P99", true,
     "Only and required with kind latency: the delay in ms, fixed (50) or drawn per request "
     "(uniform 10 100, exponential 50, lognormal 20 200 with 0 < MEDIAN <= P99).",
     LV_CONFIG_K_FAULT_MEMBER, 0, FLT(ms), 0, 0, 0},
    {"faults[].status", "uint", "503", "200..599", true,
     "Only with kind abort: the status answered in the backend's place.", LV_CONFIG_K_FAULT_MEMBER,
     0, FLT(status), 0, 0, 0},
    {"faults[].bytes_per_s", "bytes", "", "1024..", true,
     "Only and required with kind bandwidth: the response reaches the client at most this many "
     "bytes per second.",
     LV_CONFIG_K_FAULT_MEMBER, 0, FLT(bytes_per_s), 0, 0, 0},
    {"faults[].host", "addr", "", "one of the service's upstreams", true,
     "Only and required with kind host_down (which needs service): the upstream host, as the "
     "service's upstreams list it, whose connections are refused.",
     LV_CONFIG_K_FAULT_MEMBER, 0, FLT(host), 0, 0, 0},
    {"faults_header.enabled", "bool", "false", "true|false", true,
     "Whether a request's X-Levee-Fault header (latency MS, abort STATUS, reset, blackhole, "
     "bandwidth BYTES_PER_S) applies that fault to that request alone; only from "
     "faults_header.allow.",
     LV_CONFIG_K_BOOL, 0, CFG(fault_header), 0, 0, 0},
    {"faults_header.allow", "list of address blocks", "", "0..256 items", true,
     "Peers whose X-Levee-Fault header is obeyed, by the connection's peer address (with "
     "proxy_protocol, the client its PROXY header names), never by X-Forwarded-For; empty: "
     "nobody's.",
     LV_CONFIG_K_CIDR_LIST, 0, CFG(fault_header_allow), CFG(n_fault_header_allow), 0, 256},
};

const size_t lv_config_n_settings = sizeof(lv_config_settings) / sizeof(lv_config_settings[0]);

static const char md_intro[] =
    "# levee configuration\n"
    "\n"
    "<!-- Generated by lv_config_write_markdown() from src/core/config_table.c; do not edit.\n"
    "     After changing the table, run `LV_UPDATE_DOCS=1 ./unit_core_test_config` in the\n"
    "     build directory to rewrite this file; the test fails while it is stale. -->\n"
    "\n"
    "levee reads one YAML file; `conf/levee.yaml` is a commented example. Every key is\n"
    "listed below; a key that is absent (or null) takes its default.\n"
    "\n"
    "- **Unknown keys are errors**, as are duplicate keys, wrong types and values out of\n"
    "  bounds. levee reports every problem it finds, one per line, as\n"
    "  `FILE:LINE:COL: KEY: MESSAGE`, and exits non-zero:\n"
    "\n"
    "  ```\n"
    "  conf/x.yaml:7:14: services[0].upstreams[1]: \"10.0.0.1\" is not HOST:PORT\n"
    "  ```\n"
    "- **Addresses** are `HOST:PORT` with a numeric host (`127.0.0.1`, `[::1]`) or\n"
    "  `localhost`; there is no DNS lookup.\n"
    "- **Sizes** (`bytes`) are integers, optionally with `k`, `m` or `g` (KiB, MiB, GiB),\n"
    "  also written `KB`/`KiB`, `MB`/`MiB`, `GB`/`GiB` in any case; all are binary:\n"
    "  `16k` and `16KB` are 16384, `256MB` is 268435456.\n"
    "- **Durations** (`duration_ms`) are milliseconds, or a number with a unit:\n"
    "  `500ms`, `10s`, `2m`, `1h`.\n"
    "- **Lists** of addresses may be written as one string when they hold one item.\n"
    "- **Routes**: a request goes to the route whose `path` is the longest byte prefix of\n"
    "  the request path; routes whose `host` matches the request's Host header (case\n"
    "  ignored, port ignored) are tried before routes without a host. No match gives 404.\n"
    "- YAML aliases (`*name`) are not accepted, and nesting is limited to 32 levels.\n"
    "- *Reload* says whether a running levee may apply a new value on SIGHUP;\n"
    "  other keys need a restart.\n"
    "\n"
    "## Settings\n"
    "\n"
    "`services[].x` applies to each item of `services`, `routes[].x` to each route,\n"
    "`faults[].x` to each fault, `listeners[].x` to each listener.\n"
    "\n";

/* Writes a table cell: '|' is escaped so enum lists stay in their column. */
static void md_cell(FILE *out, const char *s, bool code)
{
    fputs(code ? " `" : " ", out);
    for (; *s; s++) {
        if (*s == '|' && !code)
            fputc('\\', out);
        fputc(*s, out);
    }
    fputs(code ? "` |" : " |", out);
}

void lv_config_write_markdown(FILE *out)
{
    fputs(md_intro, out);
    fputs("| key | type | default | bounds | reload | description |\n", out);
    fputs("| --- | --- | --- | --- | --- | --- |\n", out);
    for (size_t i = 0; i < lv_config_n_settings; i++) {
        const lv_config_setting_t *s = &lv_config_settings[i];
        fputc('|', out);
        md_cell(out, s->key, true);
        md_cell(out, s->type, false);
        if (s->flags & LV_CONFIG_F_REQUIRED)
            md_cell(out, "required", false);
        else if (s->dflt[0] == '\0')
            md_cell(out, "none", false);
        else
            md_cell(out, s->dflt, true);
        md_cell(out, s->bounds, false);
        md_cell(out, s->reloadable ? "yes" : "no", false);
        md_cell(out, s->doc, false);
        fputc('\n', out);
    }
}

/* levee.yaml(5): the same table in roff, for man. The prose says what docs/config.md's intro
 * says, in man's sections. */
static const char man_head[] =
    ".\\\" Generated by lv_config_write_man() from src/core/config_table.c; do not edit.\n"
    ".\\\" After changing the table: levee --config-man > docs/man/levee.yaml.5\n"
    ".TH LEVEE.YAML 5 \"\" \"levee " LV_VERSION "\" \"File Formats Manual\"\n"
    ".nh\n"
    ".SH NAME\n"
    "levee.yaml \\- configuration file of the levee HTTP gateway\n"
    ".SH SYNOPSIS\n"
    ".I /etc/levee/levee.yaml\n"
    ".SH DESCRIPTION\n"
    ".BR levee (8)\n"
    "reads one YAML file, named by its\n"
    ".B \\-c\n"
    "option. Every key is listed below; a key that is absent (or null) takes its default.\n"
    ".PP\n"
    "Unknown keys are errors, as are duplicate keys, wrong types and values out of bounds.\n"
    "levee reports every problem it finds, one per line, as\n"
    ".IR FILE : LINE : COL \": \" KEY \": \" MESSAGE ,\n"
    "and exits non-zero;\n"
    ".B levee \\-t \\-c\n"
    ".I FILE\n"
    "checks a file without starting.\n"
    ".SS Values\n"
    ".TP\n"
    ".B Addresses\n"
    "are HOST:PORT with a numeric host (127.0.0.1, [::1]) or localhost; there is no DNS lookup.\n"
    ".TP\n"
    ".B Sizes\n"
    "(bytes) are integers, optionally with k, m or g (KiB, MiB, GiB), also written KB/KiB,\n"
    "MB/MiB, GB/GiB in any case; all are binary: 16k and 16KB are 16384, 256MB is 268435456.\n"
    ".TP\n"
    ".B Durations\n"
    "(duration_ms) are milliseconds, or a number with a unit: 500ms, 10s, 2m, 1h.\n"
    ".TP\n"
    ".B Lists\n"
    "of addresses may be written as one string when they hold one item.\n"
    ".TP\n"
    ".B Routes\n"
    "(routes[]): a request goes to the route whose path is the longest byte prefix of the request "
    "path;\n"
    "routes whose host matches the request's Host header (case ignored, port ignored) are\n"
    "tried before routes without a host. No match gives 404.\n"
    ".PP\n"
    "YAML aliases (*name) are not accepted, and nesting is limited to 32 levels.\n"
    ".SS Reload\n"
    "A key marked \"reload: yes\" takes its new value when the running levee gets SIGHUP;\n"
    "the others need a restart.\n"
    ".SH SETTINGS\n"
    ".B services[].x\n"
    "applies to each item of services,\n"
    ".B routes[].x\n"
    "to each route,\n"
    ".B faults[].x\n"
    "to each fault.\n";

static const char man_tail[] = ".SH FILES\n"
                               ".TP\n"
                               ".I /etc/levee/levee.yaml\n"
                               "the configuration the packaged levee.service runs with\n"
                               ".SH SEE ALSO\n"
                               ".BR levee (8);\n"
                               "docs/config.md in the source tree holds the same table.\n";

/* Writes s as roff text: backslashes escaped, '-' as \- (a minus that copies as '-'), a
 * break point allowed after each ':' (a cipher list is one long word otherwise). */
static void man_put(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\e", out);
        else if (*s == '-')
            fputs("\\-", out);
        else if (*s == ':')
            fputs(":\\:", out);
        else
            fputc(*s, out);
    }
}

/* A text line: a leading '.' or '\'' made literal, so that no text becomes a request. */
static void man_line(FILE *out, const char *s)
{
    if (*s == '.' || *s == '\'')
        fputs("\\&", out);
    man_put(out, s);
    fputc('\n', out);
}

void lv_config_write_man(FILE *out)
{
    fputs(man_head, out);
    for (size_t i = 0; i < lv_config_n_settings; i++) {
        const lv_config_setting_t *s = &lv_config_settings[i];
        fputs(".TP\n.B ", out);
        man_line(out, s->key);
        fputs("\\fI", out); /* a text line that starts with an escape, never with '.' */
        man_put(out, s->type);
        fputs("\\fR; default: ", out);
        if (s->flags & LV_CONFIG_F_REQUIRED)
            fputs("required", out);
        else if (s->dflt[0] == '\0')
            fputs("none", out);
        else
            man_put(out, s->dflt);
        fputs("; bounds: ", out);
        man_put(out, s->bounds);
        fprintf(out, "; reload: %s\n.br\n", s->reloadable ? "yes" : "no");
        man_line(out, s->doc);
    }
    fputs(man_tail, out);
}
