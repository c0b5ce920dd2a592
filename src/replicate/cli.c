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
    "                       [--consumer NAME] [--log-level LEVEL]\n"
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

static int add_peer(lv_repl_opts_t *o, const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg || (size_t)(eq - arg) > LV_L2_REGION_MAX)
        return usage_error("--peer: \"%s\" is not NAME=REDIS", arg);
    if (o->npeers == LV_REPL_PEERS_MAX)
        return usage_error("--peer: more than %d peers", LV_REPL_PEERS_MAX);
    lv_repl_peer_opt_t *p = &o->peers[o->npeers];
    memcpy(p->name, arg, (size_t)(eq - arg));
    p->name[eq - arg] = '\0';
    if (!lv_l2_region_valid(p->name))
        return usage_error("--peer: \"%s\": the name is not [a-z0-9_-]{1,32}", arg);
    if (lv_repl_redis_addr_parse(eq + 1, &p->addr) < 0)
        return usage_error("--peer: \"%s\": not redis://HOST:PORT[/DB] or unix:PATH", arg);
    for (size_t i = 0; i < o->npeers; i++)
        if (strcmp(o->peers[i].name, p->name) == 0)
            return usage_error("--peer: \"%s\" is given twice", p->name);
    o->npeers++;
    return 0;
}

int lv_repl_parse_args(int argc, char **argv, lv_repl_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->tombstone_ttl_ms = 600000;
    o->batch = 512;
    const char *local = NULL, *consumer = NULL;
    static const struct option opts[] = {
        {"region", required_argument, NULL, 'r'},
        {"local", required_argument, NULL, 'l'},
        {"peer", required_argument, NULL, 'p'},
        {"tombstone-ttl", required_argument, NULL, 't'},
        {"batch", required_argument, NULL, 'b'},
        {"metrics", required_argument, NULL, 'm'},
        {"consumer", required_argument, NULL, 'C'},
        {"log-level", required_argument, NULL, 'L'},
        {"status", no_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    uint64_t n;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'r':
            if (!lv_l2_region_valid(optarg))
                return usage_error("--region: \"%s\" is not [a-z0-9_-]{1,32}", optarg);
            strcpy(o->region, optarg);
            break;
        case 'l':
            local = optarg;
            break;
        case 'p':
            if (add_peer(o, optarg))
                return 2;
            break;
        case 't':
            if (!parse_num(optarg, 1, 365ull * 86400 * 1000, &n))
                return usage_error("--tombstone-ttl: \"%s\" is not a number of ms", optarg);
            o->tombstone_ttl_ms = n;
            break;
        case 'b':
            if (!parse_num(optarg, 1, LV_REPL_BATCH_MAX, &n))
                return usage_error("--batch: \"%s\" is not a number from 1 to 10000", optarg);
            o->batch = (uint32_t)n;
            break;
        case 'm':
            if (strlen(optarg) >= sizeof o->metrics || !strchr(optarg, ':'))
                return usage_error("--metrics: \"%s\" is not HOST:PORT", optarg);
            strcpy(o->metrics, optarg);
            break;
        case 'C':
            consumer = optarg;
            break;
        case 'L': {
            int lvl = lv_log_level_parse(optarg);
            if (lvl < 0)
                return usage_error("--log-level: \"%s\" is not error, warn, info or debug", optarg);
            lv_log_set_level((lv_log_level_t)lvl);
            break;
        }
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
    if (!local)
        return usage_error("%s", "--local is required");
    if (lv_repl_redis_addr_parse(local, &o->local) < 0)
        return usage_error("--local: \"%s\" is not redis://HOST:PORT[/DB] or unix:PATH", local);
    if (!o->npeers && !o->status)
        return usage_error("%s", "at least one --peer is required");
    for (size_t i = 0; i < o->npeers; i++)
        if (strcmp(o->peers[i].name, o->region) == 0)
            return usage_error("--peer: \"%s\" is this region", o->region);
    if (consumer) {
        if (!*consumer || strlen(consumer) >= sizeof o->consumer)
            return usage_error("--consumer: \"%s\" is empty or too long", consumer);
        strcpy(o->consumer, consumer);
    } else {
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
