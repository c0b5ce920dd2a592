/* core/config_table.c: the settings table (one row per key: type, default, bounds, docs and
 * where the loader stores it) and the Markdown writer behind docs/config.md. Constant data. */
#include "core/config.h"

#include <stddef.h>
#include <string.h>

#define CFG(f) offsetof(lv_config_t, f)
#define SVC(f) offsetof(lv_service_conf_t, f)
#define RTE(f) offsetof(lv_route_conf_t, f)
#define DAY_MS 86400000u

/* Keys are grouped by section; "services[]." and "routes[]." rows apply to each list item.
 * The default text is parsed by the loader itself, so docs and behaviour cannot disagree. */
const lv_config_setting_t lv_config_settings[] = {
    {"workers", "uint", "0", "0..64", false,
     "Worker threads, each with its own event loop, listener and upstream pools; 0 means one "
     "per online CPU (at most 64).",
     LV_CONFIG_K_UINT, 0, CFG(workers), 0, 0, 64},
    {"listen", "list of addr", "", "1..64 items", false,
     "Client listeners as HOST:PORT (IPv4, [IPv6] or localhost); port 0 picks a free port.",
     LV_CONFIG_K_ADDR_LIST, LV_CONFIG_F_REQUIRED | LV_CONFIG_F_PORT0, CFG(listeners),
     CFG(n_listeners), 1, 64},
    {"admin.listen", "addr", "127.0.0.1:9901", "HOST:PORT", false,
     "Admin listener (/metrics, /status); keep it on a private address.", LV_CONFIG_K_ADDR,
     LV_CONFIG_F_PORT0, CFG(admin), 0, 0, 0},
    {"admin.enabled", "bool", "true", "true|false", false, "Whether the admin listener runs.",
     LV_CONFIG_K_BOOL, 0, CFG(admin_enabled), 0, 0, 0},
    {"admin.token", "string", "", "0..256 bytes", true,
     "Bearer token for admin write endpoints; empty means none.", LV_CONFIG_K_STRING,
     LV_CONFIG_F_EMPTY_NULL, CFG(admin_token), 0, 0, 256},
    {"limits.header_bytes", "bytes", "16384", "1024..1048576", true,
     "Largest request head (request line and headers); a larger one gets 431.", LV_CONFIG_K_BYTES32,
     0, CFG(limits.header_bytes), 0, 1024, 1048576},
    {"limits.target_bytes", "bytes", "8192", "64..limits.header_bytes", true,
     "Largest request target (path and query); a longer one gets 414.", LV_CONFIG_K_BYTES32, 0,
     CFG(limits.target_bytes), 0, 64, 1048576},
    {"limits.body_bytes", "bytes", "0", "0..1099511627776", true,
     "Largest request body; a larger one gets 413; 0 means no limit.", LV_CONFIG_K_BYTES64, 0,
     CFG(limits.body_bytes), 0, 0, 1099511627776ull},
    {"limits.connections", "uint", "10000", "1..1000000", true,
     "Open client connections per process; over it, new connections get 503 and are closed.",
     LV_CONFIG_K_UINT, 0, CFG(limits.connections), 0, 1, 1000000},
    {"timeouts.header_ms", "duration_ms", "10000", "1..86400000", true,
     "The whole request head must arrive within this time, else 408.", LV_CONFIG_K_DURATION, 0,
     CFG(limits.header_timeout_ms), 0, 1, DAY_MS},
    {"timeouts.keepalive_ms", "duration_ms", "60000", "1..86400000", true,
     "An idle client connection between requests is closed after this time.", LV_CONFIG_K_DURATION,
     0, CFG(limits.keepalive_timeout_ms), 0, 1, DAY_MS},
    {"timeouts.send_ms", "duration_ms", "60000", "1..86400000", true,
     "A write to a client or upstream that makes no progress for this long fails.",
     LV_CONFIG_K_DURATION, 0, CFG(limits.send_timeout_ms), 0, 1, DAY_MS},
    {"timeouts.drain_ms", "duration_ms", "10000", "0..86400000", true,
     "On SIGTERM, in-flight requests get this long to finish before the process exits.",
     LV_CONFIG_K_DURATION, 0, CFG(drain_timeout_ms), 0, 0, DAY_MS},
    {"access_log", "string", "off", "off|-|PATH", true,
     "Access log: off, - for stdout, or a file path (appended).", LV_CONFIG_K_STRING,
     LV_CONFIG_F_OFF_NULL, CFG(access_log), 0, 0, 4096},
    {"log_level", "enum", "info", "error|warn|info|debug", true,
     "Least severe level written to the process log (stderr).", LV_CONFIG_K_ENUM_STR, 0,
     CFG(log_level), 0, 0, 0},
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
    {"services[].balance", "enum", "round_robin", "round_robin|least_outstanding", true,
     "How a request picks one of the upstream hosts.", LV_CONFIG_K_ENUM, 0, SVC(balance), 0, 0, 0},
    {"services[].connect_timeout_ms", "duration_ms", "1000", "1..86400000", true,
     "TCP connect to one upstream host must finish within this time, else 502.",
     LV_CONFIG_K_DURATION, 0, SVC(connect_timeout_ms), 0, 1, DAY_MS},
    {"services[].read_timeout_ms", "duration_ms", "30000", "1..86400000", true,
     "No response byte from the upstream for this long gives 504.", LV_CONFIG_K_DURATION, 0,
     SVC(read_timeout_ms), 0, 1, DAY_MS},
    {"services[].keepalive", "uint", "32", "0..10000", true,
     "Idle upstream connections kept per upstream host and per worker.", LV_CONFIG_K_UINT, 0,
     SVC(keepalive), 0, 0, 10000},
    {"services[].keepalive_idle_ms", "duration_ms", "60000", "1..86400000", true,
     "An idle upstream connection is closed after this time.", LV_CONFIG_K_DURATION, 0,
     SVC(keepalive_idle_ms), 0, 1, DAY_MS},
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
    "- **Sizes** (`bytes`) are integers, optionally with `k`, `m` or `g` (KiB, MiB, GiB):\n"
    "  `16k` is 16384.\n"
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
    "`services[].x` applies to each item of `services`, `routes[].x` to each route.\n"
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
