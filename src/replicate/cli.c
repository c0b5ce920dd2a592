/* replicate/cli.c: the command line of `levee replicate` (flags, --help) and its entry point.
 * Checks every flag before anything connects; runs on the main thread only. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "replicate/replicate.h"

static const char usage_text[] =
    "Usage: levee replicate --region NAME --local REDIS --peer NAME=REDIS [--peer ...]\n"
    "                       [--tombstone-ttl MS] [--batch N] [--metrics HOST:PORT]\n"
    "                       [--consumer NAME] [--log-level LEVEL] [-c FILE]\n"
    "       levee replicate --status --region NAME --local REDIS [--peer NAME=REDIS ...]\n"
    "\n"
    "Carries the cache events of other regions into this region's Redis. For each peer it\n"
    "reads the peer's stream lv:ev:PEER (in the peer's Redis) as the consumer group named\n"
    "after this region, applies each event to the local Redis with the \"levee\" function\n"
    "library (versions decide: an older event changes nothing), tells this region's levee\n"
    "instances to drop their L1 copies (PUBLISH lv:l1:REGION), then acknowledges the batch.\n"
    "It never appends to a stream, and skips events that came from its own region.\n"
    "\n"
    "  --region NAME         this region ([a-z0-9_-], 1-32 bytes)\n"
    "  --local REDIS         this region's Redis: redis://HOST:PORT[/DB] or unix:PATH[?db=N]\n"
    "  --peer NAME=REDIS     a peer region and its Redis (repeatable, up to 16)\n"
    "  --tombstone-ttl MS    how long invalidations and purges keep their tombstone\n"
    "                        (default 600000)\n"
    "  --batch N             entries read, applied and acknowledged at a time (default 512)\n"
    "  --metrics HOST:PORT   serve GET /metrics (Prometheus) and GET /status (JSON); port 0\n"
    "                        takes a free port (logged)\n"
    "  --consumer NAME       the consumer's name in each group (default HOSTNAME:REGION; keep\n"
    "                        it stable: after a crash the pending entries are resumed by name)\n"
    "  --log-level LEVEL     error, warn, info (default) or debug\n"
    "  -c, --config FILE     read the settings from a YAML file first (flags override it,\n"
    "                        --peer adds to its peers):\n"
    "                        region, local, peers (a map NAME: REDIS), tombstone_ttl_ms,\n"
    "                        batch, metrics, consumer, log_level\n"
    "  --status              print, per peer, the stream length, the group's pending entries\n"
    "                        and lag, the lag percentiles and the counters, then exit (0, or 1\n"
    "                        when the local Redis holds no state for this region)\n"
    "  --help\n"
    "\n"
    "The group is created at the start of the stream (id 0): a first start replays what the\n"
    "stream still holds, which warms a new region. After a crash the entries it had read but\n"
    "not acknowledged are applied again first (idempotent). Either Redis down: it retries with\n"
    "backoff (100 ms up to 5 s) and logs when it goes down and comes back. Counters go to the\n"
    "local hash lv:repl:REGION:PEER every second. See docs/replication.md.\n";

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("levee replicate: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n(levee replicate --help for the flags)\n", stderr);
    return 2;
}

static bool parse_num(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    if (!*s || *s == '-')
        return false;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static int add_peer(lv_repl_opts_t *o, const char *arg, char *err, size_t cap)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg || (size_t)(eq - arg) > LV_L2_REGION_MAX) {
        snprintf(err, cap, "\"%s\" is not NAME=REDIS", arg);
        return LV_EINVAL;
    }
    if (o->npeers == LV_REPL_PEERS_MAX) {
        snprintf(err, cap, "more than %d peers", LV_REPL_PEERS_MAX);
        return LV_EINVAL;
    }
    lv_repl_peer_opt_t *p = &o->peers[o->npeers];
    memcpy(p->name, arg, (size_t)(eq - arg));
    p->name[eq - arg] = '\0';
    if (!lv_l2_region_valid(p->name)) {
        snprintf(err, cap, "\"%s\": the name is not [a-z0-9_-]{1,32}", arg);
        return LV_EINVAL;
    }
    if (lv_repl_redis_addr_parse(eq + 1, &p->addr) < 0) {
        snprintf(err, cap, "\"%s\": not redis://HOST:PORT[/DB] or unix:PATH", arg);
        return LV_EINVAL;
    }
    for (size_t i = 0; i < o->npeers; i++)
        if (strcmp(o->peers[i].name, p->name) == 0) {
            snprintf(err, cap, "\"%s\" is given twice", p->name);
            return LV_EINVAL;
        }
    o->npeers++;
    return 0;
}

int lv_repl_opt_set(lv_repl_opts_t *o, const char *name, const char *val, char *err, size_t cap)
{
    uint64_t n;
    if (strcmp(name, "region") == 0) {
        if (!lv_l2_region_valid(val))
            goto bad;
        strcpy(o->region, val);
    } else if (strcmp(name, "local") == 0) {
        if (lv_repl_redis_addr_parse(val, &o->local) < 0) {
            snprintf(err, cap, "\"%s\" is not redis://HOST:PORT[/DB] or unix:PATH", val);
            return LV_EINVAL;
        }
    } else if (strcmp(name, "peer") == 0) {
        return add_peer(o, val, err, cap);
    } else if (strcmp(name, "tombstone-ttl") == 0) {
        if (!parse_num(val, 1, 365ull * 86400 * 1000, &n))
            goto bad;
        o->tombstone_ttl_ms = n;
    } else if (strcmp(name, "batch") == 0) {
        if (!parse_num(val, 1, LV_REPL_BATCH_MAX, &n))
            goto bad;
        o->batch = (uint32_t)n;
    } else if (strcmp(name, "metrics") == 0) {
        if (strlen(val) >= sizeof o->metrics || !strchr(val, ':'))
            goto bad;
        strcpy(o->metrics, val);
    } else if (strcmp(name, "consumer") == 0) {
        if (!*val || strlen(val) >= sizeof o->consumer)
            goto bad;
        strcpy(o->consumer, val);
    } else if (strcmp(name, "log-level") == 0) {
        int lvl = lv_log_level_parse(val);
        if (lvl < 0)
            goto bad;
        lv_log_set_level((lv_log_level_t)lvl);
    } else {
        snprintf(err, cap, "unknown setting");
        return LV_EINVAL;
    }
    return 0;
bad:;
    static const char *const want[][2] = {{"region", "[a-z0-9_-]{1,32}"},
                                          {"tombstone-ttl", "a number of ms from 1 to 31536000000"},
                                          {"batch", "a number from 1 to 10000"},
                                          {"metrics", "HOST:PORT"},
                                          {"consumer", "a name of 1-299 bytes"},
                                          {"log-level", "error, warn, info or debug"}};
    const char *w = "valid";
    for (size_t i = 0; i < LV_ARRAY_LEN(want); i++)
        if (strcmp(want[i][0], name) == 0)
            w = want[i][1];
    snprintf(err, cap, "\"%s\" is not %s", val, w);
    return LV_EINVAL;
}

int lv_repl_parse_args(int argc, char **argv, lv_repl_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->tombstone_ttl_ms = 600000;
    o->batch = 512;
    static const struct option opts[] = {
        {"region", required_argument, NULL, 'o'},   {"local", required_argument, NULL, 'o'},
        {"peer", required_argument, NULL, 'o'},     {"tombstone-ttl", required_argument, NULL, 'o'},
        {"batch", required_argument, NULL, 'o'},    {"metrics", required_argument, NULL, 'o'},
        {"consumer", required_argument, NULL, 'o'}, {"log-level", required_argument, NULL, 'o'},
        {"config", required_argument, NULL, 'c'},   {"status", no_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    /* The file first (wherever -c stands), so that flags override it. */
    int ch, idx;
    optind = 1;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, "c:h", opts, &idx)) != -1)
        if (ch == 'c' && lv_repl_conf_load(optarg, o) != 0)
            return 2;
    opterr = 1;
    optind = 1;
    char err[600];
    while ((ch = getopt_long(argc, argv, "c:h", opts, &idx)) != -1) {
        switch (ch) {
        case 'o':
            if (lv_repl_opt_set(o, opts[idx].name, optarg, err, sizeof err) != 0)
                return usage_error("--%s: %s", opts[idx].name, err);
            break;
        case 'c':
            break;
        case 's':
            o->status = true;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 1;
        default:
            fputs(usage_text, stderr);
            return 2;
        }
    }
    if (optind != argc)
        return usage_error("unexpected argument \"%s\"", argv[optind]);
    if (!o->region[0])
        return usage_error("%s", "--region is required");
    if (!o->local.text[0])
        return usage_error("%s", "--local is required");
    if (!o->npeers && !o->status)
        return usage_error("%s", "at least one --peer is required");
    for (size_t i = 0; i < o->npeers; i++)
        if (strcmp(o->peers[i].name, o->region) == 0)
            return usage_error("--peer: \"%s\" is this region", o->region);
    if (!o->consumer[0]) {
        char host[256];
        if (gethostname(host, sizeof host) != 0)
            strcpy(host, "localhost");
        host[sizeof host - 1] = '\0';
        snprintf(o->consumer, sizeof o->consumer, "%s:%s", host, o->region);
    }
    return 0;
}

int lv_replicate_main(int argc, char **argv)
{
    lv_repl_opts_t *o = lv_xcalloc(1, sizeof *o);
    int rc = lv_repl_parse_args(argc, argv, o);
    if (rc == 0)
        rc = o->status ? lv_repl_status_print(o) : lv_repl_run(o);
    else if (rc == 1)
        rc = 0; /* --help */
    free(o);
    return rc;
}
