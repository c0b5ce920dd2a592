/* main.c: process setup and wiring only: the command line (run, check, quick proxy mode,
 * replicate, help, version, config docs and man page), then hands the config to the server. */
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/common.h"
#include "cache/l2_event.h"
#include "core/config.h"
#include "core/redis_url.h"
#include "core/log.h"
#include "tls/tls.h"
#include "proxy/server.h"
#include "replicate/replicate.h"

static const char usage_text[] =
    "levee " LV_VERSION " - an HTTP/1.1 gateway that keeps a backend doing useful work under "
    "overload\n"
    "\n"
    "Usage:\n"
    "  levee -c FILE [--takeover] [--upgrade-from PATH]\n"
    "                           run with a YAML config (see docs/config.md)\n"
    "  levee -t -c FILE         check a config and exit: 0 if valid, 1 with\n"
    "                           FILE:LINE:COL: KEY: MESSAGE lines on stderr\n"
    "  levee proxy --listen HOST:PORT --to HOST:PORT[,HOST:PORT...]\n"
    "              [--admin HOST:PORT|off] [--workers N] [--access-log FILE|-]\n"
    "              [--log-level error|warn|info|debug] [--cache SIZE] [--takeover]\n"
    "              [--l2 redis://HOST:PORT[/DB]|unix:PATH] [--region NAME]\n"
    "              [--tls-cert FILE --tls-key FILE]\n"
    "              [--upgrade-socket PATH] [--upgrade-from PATH]\n"
    "                           quick mode: no config file, one service named\n"
    "                           \"default\" for every path\n"
    "  levee replicate --region NAME --local REDIS --peer NAME=REDIS...\n"
    "                           carry other regions' cache events into this\n"
    "                           region's Redis (levee replicate --help)\n"
    "  levee --config-doc       print the settings reference (Markdown)\n"
    "  levee --config-man       print the levee.yaml(5) man page (roff)\n"
    "  levee --help | --version\n"
    "\n"
    "levee refuses to start when another process already listens on one of its\n"
    "addresses (listen or admin), and names it. To upgrade without refusing a\n"
    "connection, give the running levee an upgrade_socket: PATH and start the new\n"
    "one with --upgrade-from PATH: it takes over the listening sockets (listen and\n"
    "admin), then the old one stops accepting, drains and exits 0; if the new one\n"
    "fails first, the old one keeps serving. --takeover instead starts anyway and\n"
    "shares the ports (SO_REUSEPORT); SIGTERM to the old one then resets the\n"
    "connections queued on its sockets.\n"
    "\n"
    "Signals: SIGHUP reloads the config file (a bad file is refused and the running\n"
    "config stays); SIGTERM or SIGINT stops accepting, lets requests in flight finish\n"
    "(timeouts.drain_ms), then exits 0; SIGUSR2 (with an upgrade_socket) starts the\n"
    "successor itself: the binary at the path levee was started by, with the same\n"
    "arguments and --upgrade-from (under systemd: systemctl kill -s USR2\n"
    "--kill-whom=main levee).\n"
    "\n"
    "Logs go to stderr as key=value lines; the admin listener (default\n"
    "127.0.0.1:9901) serves /metrics, /status and /health.\n";

static const char proxy_usage_text[] =
    "Usage: levee proxy --listen HOST:PORT --to HOST:PORT[,HOST:PORT...] [options]\n"
    "\n"
    "Runs levee in front of the given upstreams without a config file.\n"
    "  --listen HOST:PORT     where clients connect (port 0: any free port, logged)\n"
    "  --to LIST              comma-separated upstream hosts, balanced round robin\n"
    "  --admin HOST:PORT|off  admin listener (default 127.0.0.1:9901)\n"
    "  --workers N            worker threads (default: number of cores)\n"
    "  --access-log FILE|-    one line per request (default: off)\n"
    "  --log-level LEVEL      error, warn, info (default) or debug\n"
    "  --cache SIZE           cache responses of every path in this much memory\n"
    "                         (e.g. 256MB, 1g; default: no cache)\n"
    "  --l2 URL               a second cache tier in this Redis (redis://HOST:PORT[/DB]\n"
    "                         or unix:PATH; needs --cache): lookups go L1, L2, origin\n"
    "  --region NAME          this levee's region (default \"local\"): its cache events\n"
    "                         go to the Redis stream lv:ev:NAME (docs/replication.md)\n"
    "  --tls-cert FILE        serve TLS on --listen with this PEM certificate chain\n"
    "  --tls-key FILE         its private key (default: in the --tls-cert file)\n"
    "  --no-guard             plain proxy: no concurrency limit, queue, breaker or storm\n"
    "                         checks (for measuring the bare proxy; never in production)\n"
    "  --takeover             share the listen and admin ports with the process already\n"
    "                         listening there (for upgrades); without it levee refuses\n"
    "                         to start and names that process\n"
    "  --upgrade-socket PATH  wait at this Unix socket for a successor (upgrade_socket);\n"
    "                         SIGUSR2 starts one with these arguments and --upgrade-from\n"
    "  --upgrade-from PATH    take over the listening sockets of the levee waiting at\n"
    "                         PATH; it then drains and exits (levee --help)\n"
    "Every other setting has its default (see levee --config-doc).\n";

/* How this process was started, for the successor SIGUSR2 starts (proxy/server.h). */
static char self_exe[PATH_MAX];
static char **self_argv;

/* The path the binary was invoked by, made absolute now: after a package upgrade replaced the
 * file, that path names the new binary, while /proc/self/exe goes on naming the old (deleted)
 * inode. An argv[0] without a slash was found in $PATH: /proc/self/exe read now names the file
 * at the path it was found at. Symbolic links are kept (a link switched to a new version is
 * followed at the upgrade). Empty when neither works. */
static void resolve_self(char **argv)
{
    self_argv = argv;
    const char *arg0 = argv[0] ? argv[0] : "";
    if (arg0[0] == '/') {
        snprintf(self_exe, sizeof self_exe, "%s", arg0);
        return;
    }
    char cwd[PATH_MAX];
    if (strchr(arg0, '/') && getcwd(cwd, sizeof cwd)) {
        int n = snprintf(self_exe, sizeof self_exe, "%s/%s", cwd, arg0);
        if (n > 0 && (size_t)n < sizeof self_exe)
            return;
    }
    ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
    self_exe[n > 0 ? n : 0] = '\0';
}

static int run_server(lv_config_t *cfg, bool takeover, const char *upgrade_from)
{
    return lv_server_run_self(cfg, takeover, upgrade_from, self_exe[0] ? self_exe : NULL,
                              self_argv);
}

static void print_errors(lv_config_errors_t *errs)
{
    for (uint32_t i = 0; i < errs->n; i++)
        fprintf(stderr, "%s\n", errs->lines[i]);
}

/* Appends printf output to a bounded buffer; returns -1 once it does not fit. */
__attribute__((format(printf, 4, 5))) static int append(char *buf, size_t cap, size_t *len,
                                                        const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap - *len)
        return -1;
    *len += (size_t)n;
    return 0;
}

/* A path is any bytes: the inside of a YAML double-quoted scalar, " and \ escaped. -1: over
 * 4096 bytes. */
static int yaml_quote(char *out, size_t cap, const char *path)
{
    size_t q = 0;
    if (strlen(path) > 4096)
        return -1;
    for (const char *c = path; *c && q + 2 < cap; c++) {
        if (*c == '"' || *c == '\\')
            out[q++] = '\\';
        out[q++] = *c;
    }
    out[q] = '\0';
    return 0;
}

static int check_addr(const char *flag, const char *text)
{
    lv_addr_t a;
    if (lv_addr_parse(&a, text, strcmp(flag, "--to") != 0) < 0) {
        fprintf(stderr, "levee proxy: %s: \"%s\" is not HOST:PORT\n", flag, text);
        return -1;
    }
    return 0;
}

static int run_quick(int argc, char **argv)
{
    const char *listen = NULL, *to = NULL, *admin = "127.0.0.1:9901", *workers = "0";
    const char *access_log = NULL, *log_level = "info", *cache_size = NULL, *l2 = NULL;
    const char *region = NULL;
    const char *tls_cert = NULL, *tls_key = NULL;
    const char *upgrade_socket = NULL, *upgrade_from = NULL;
    bool guard = true, takeover = false;
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"to", required_argument, NULL, 'u'},
        {"admin", required_argument, NULL, 'a'},
        {"workers", required_argument, NULL, 'w'},
        {"access-log", required_argument, NULL, 'A'},
        {"log-level", required_argument, NULL, 'L'},
        {"no-guard", no_argument, NULL, 'G'},
        {"cache", required_argument, NULL, 'C'},
        {"takeover", no_argument, NULL, 'T'},
        {"l2", required_argument, NULL, '2'},
        {"region", required_argument, NULL, 'R'},
        {"tls-cert", required_argument, NULL, 'c'},
        {"tls-key", required_argument, NULL, 'k'},
        {"upgrade-socket", required_argument, NULL, 'S'},
        {"upgrade-from", required_argument, NULL, 'U'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'l':
            listen = optarg;
            break;
        case 'u':
            to = optarg;
            break;
        case 'a':
            admin = optarg;
            break;
        case 'G':
            guard = false;
            break;
        case 'w':
            workers = optarg;
            break;
        case 'A':
            access_log = optarg;
            break;
        case 'L':
            log_level = optarg;
            break;
        case 'C':
            cache_size = optarg;
            break;
        case 'T':
            takeover = true;
            break;
        case '2':
            l2 = optarg;
            break;
        case 'R':
            region = optarg;
            break;
        case 'c':
            tls_cert = optarg;
            break;
        case 'k':
            tls_key = optarg;
            break;
        case 'S':
            upgrade_socket = optarg;
            break;
        case 'U':
            upgrade_from = optarg;
            break;
        case 'h':
            fputs(proxy_usage_text, stdout);
            return 0;
        default:
            fputs(proxy_usage_text, stderr);
            return 2;
        }
    }
    if (!listen || !to || optind != argc) {
        fprintf(stderr, "levee proxy: --listen and --to are required\n%s", proxy_usage_text);
        return 2;
    }
    char *end;
    long nw = strtol(workers, &end, 10);
    if (*end || nw < 0 || nw > 64) {
        fprintf(stderr, "levee proxy: --workers: \"%s\" is not a number from 0 to 64\n", workers);
        return 2;
    }
    if (lv_log_level_parse(log_level) < 0) {
        fprintf(stderr, "levee proxy: --log-level: \"%s\" is not error, warn, info or debug\n",
                log_level);
        return 2;
    }
    uint64_t cache_bytes;
    if (cache_size && lv_config_parse_bytes(cache_size, &cache_bytes) < 0) {
        fprintf(stderr, "levee proxy: --cache: \"%s\" is not a size like 256MB\n", cache_size);
        return 2;
    }
    const char *why;
    lv_redis_url_t l2_url;
    if (l2 && lv_redis_url_parse(l2, &l2_url, &why) < 0) {
        fprintf(stderr, "levee proxy: --l2: \"%s\": %s\n", l2, why);
        return 2;
    }
    if (l2 && (!cache_size || strpbrk(l2, "\"\\"))) {
        fprintf(stderr, "levee proxy: --l2 needs --cache SIZE (the first tier)%s\n",
                cache_size ? " and a URL without quotes or backslashes" : "");
        return 2;
    }
    if (region && !lv_l2_region_valid(region)) {
        fprintf(stderr, "levee proxy: --region: \"%s\": use 1-32 of a-z, 0-9, '_' and '-'\n",
                region);
        return 2;
    }
    if (check_addr("--listen", listen) < 0)
        return 2;
    bool admin_on = strcmp(admin, "off") != 0;
    if (admin_on && check_addr("--admin", admin) < 0)
        return 2;

    char yaml[16384];
    size_t len = 0;
    int bad = 0;
    bad |= append(yaml, sizeof yaml, &len, "workers: %s\n", workers);
    if (tls_key && !tls_cert) {
        fprintf(stderr, "levee proxy: --tls-key needs --tls-cert\n");
        return 2;
    }
    if (tls_cert) {
        char qcert[2 * 4096 + 1], qkey[2 * 4096 + 1];
        bad |= yaml_quote(qcert, sizeof qcert, tls_cert) < 0 ||
               yaml_quote(qkey, sizeof qkey, tls_key ? tls_key : "") < 0;
        bad |= append(yaml, sizeof yaml, &len,
                      "listeners:\n  - listen: \"%s\"\n    tls:\n      certificates:\n"
                      "        - {cert: \"%s\", key: \"%s\"}\n",
                      listen, qcert, qkey);
    } else {
        bad |= append(yaml, sizeof yaml, &len, "listen: [\"%s\"]\n", listen);
    }
    bad |= append(yaml, sizeof yaml, &len, "log_level: %s\n", log_level);
    if (admin_on)
        bad |= append(yaml, sizeof yaml, &len, "admin: {listen: \"%s\"}\n", admin);
    else
        bad |= append(yaml, sizeof yaml, &len, "admin: {enabled: %s}\n", "false");
    if (access_log) {
        char qpath[2 * 4096 + 1];
        bad |= yaml_quote(qpath, sizeof qpath, access_log) < 0 ||
               append(yaml, sizeof yaml, &len, "access_log: \"%s\"\n", qpath);
    }
    if (cache_size) /* digits and a unit only (parsed above): the loader checks the range */
        bad |= append(yaml, sizeof yaml, &len, "cache: {size: \"%s\", l2: {url: \"%s\"}}\n",
                      cache_size, l2 ? l2 : "");
    if (region)
        bad |= append(yaml, sizeof yaml, &len, "region: %s\n", region);
    if (upgrade_socket) {
        char qpath[2 * 4096 + 1];
        bad |= yaml_quote(qpath, sizeof qpath, upgrade_socket) < 0 ||
               append(yaml, sizeof yaml, &len, "upgrade_socket: \"%s\"\n", qpath);
    }
    bad |= append(yaml, sizeof yaml, &len, "services:\n  - name: %s\n", "default");
    bad |= append(yaml, sizeof yaml, &len, "    guard: %s\n    upstreams:\n",
                  guard ? "true" : "false");
    char *list = lv_xstrdup(to);
    for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (check_addr("--to", tok) < 0) {
            free(list);
            return 2;
        }
        bad |= append(yaml, sizeof yaml, &len, "      - \"%s\"\n", tok);
    }
    free(list);
    bad |= append(yaml, sizeof yaml, &len, "routes:\n  - {path: /, service: %s}\n", "default");
    if (bad) {
        fprintf(stderr, "levee proxy: arguments too long\n");
        return 2;
    }
    lv_config_errors_t errs = {0};
    lv_config_t *cfg = lv_config_load_string("<quick>", yaml, len, &errs);
    if (!cfg) {
        print_errors(&errs);
        lv_config_errors_fini(&errs);
        return 2;
    }
    lv_config_errors_fini(&errs);
    return run_server(cfg, takeover, upgrade_from);
}

int main(int argc, char **argv)
{
    /* Per-request blocks are freed and taken again at once: do not hand memory back to the
     * kernel on every free (that showed as one madvise per few requests). */
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    resolve_self(argv);
    if (argc >= 2 && strcmp(argv[1], "proxy") == 0)
        return run_quick(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "replicate") == 0)
        return lv_replicate_main(argc - 1, argv + 1);

    const char *config_path = NULL, *upgrade_from = NULL;
    bool test_only = false, takeover = false;
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"test", no_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'v'},
        {"config-doc", no_argument, NULL, 'D'},
        {"config-man", no_argument, NULL, 'M'},
        {"takeover", no_argument, NULL, 'T'},
        {"upgrade-from", required_argument, NULL, 'U'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "c:thv", opts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            config_path = optarg;
            break;
        case 't':
            test_only = true;
            break;
        case 'T':
            takeover = true;
            break;
        case 'U':
            upgrade_from = optarg;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        case 'v':
            printf("levee %s\n", LV_VERSION);
            return 0;
        case 'D':
            lv_config_write_markdown(stdout);
            return 0;
        case 'M':
            lv_config_write_man(stdout);
            return 0;
        default:
            fputs(usage_text, stderr);
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "levee: unexpected argument \"%s\"\n\n%s", argv[optind], usage_text);
        return 2;
    }
    if (!config_path) {
        fprintf(stderr,
                "levee: no config given: try 'levee -c conf/levee.yaml' or "
                "'levee proxy --help'\n\n%s",
                usage_text);
        return 2;
    }
    lv_config_errors_t errs = {0};
    lv_config_t *cfg = lv_config_load_file(config_path, &errs);
    if (!cfg) {
        print_errors(&errs);
        lv_config_errors_fini(&errs);
        return 1;
    }
    lv_config_errors_fini(&errs);
    if (test_only) {
        /* The TLS files are read as a start would read them. */
        char err[1024];
        bool failed;
        lv_tls_tickets_t *tickets = lv_tls_tickets_new();
        lv_tls_set_free(lv_tls_set_new(cfg, tickets, &failed, err, sizeof err));
        lv_tls_tickets_free(tickets);
        if (failed || !tickets) {
            fprintf(stderr, "%s: %s\n", config_path, tickets ? err : "tls: out of memory");
            lv_config_unref(cfg);
            return 1;
        }
        printf("%s: ok (%u listeners, %u services, %u routes)\n", config_path, cfg->n_listeners,
               cfg->n_services, cfg->n_routes);
        lv_config_unref(cfg);
        return 0;
    }
    return run_server(cfg, takeover, upgrade_from);
}
