/* sim/main.c: levee-sim's entry point: command line, config file, signals, the loop.
 * Owns the process lifetime only; the server lives in sim/server.c. Main thread. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "core/common.h"
#include "core/log.h"
#include "core/nofile.h"
#include "conf.h"
#include "server.h"

static void sim_usage(FILE *f)
{
    fprintf(f,
            "usage: levee-sim [options]\n"
            "A backend with a real, limited capacity: K worker slots, a service-time\n"
            "distribution, an unbounded FIFO, optional thrashing; /stats, /health, /control/*.\n"
            "\n"
            "  --listen HOST:PORT   listen address (default 127.0.0.1:9000; port 0: any, logged)\n"
            "  --workers K          worker slots (default 4)\n"
            "  --service-ms MEAN    mean service time of the default path (default 10)\n"
            "  --dist D             fixed | exp | lognormal (default fixed)\n"
            "  --p99-ms X           p99 for lognormal (default 4 x mean)\n"
            "  --thrash F           service x (1 + F * queue / K) (default 0)\n"
            "  --body-bytes N       response body size of the default path (default 64)\n"
            "  --seed S             random seed (default 1)\n"
            "  -c, --config FILE    YAML config (see tools/sim/sim.example.yaml); flags win\n"
            "  --log-level L        error | warn | info | debug (default info)\n"
            "  -h, --help           this text\n"
            "  -V, --version        print the version\n"
            "\n"
            "Control (never queued): POST /control/stall?ms=N, /control/workers?n=K,\n"
            "/control/fail?path=/x&rate=P&status=S, /control/reset; GET /stats, GET /health.\n");
}

typedef struct sim_cli {
    const char *config;
    const char *listen, *workers, *service_ms, *dist, *p99_ms, *thrash, *body_bytes, *seed;
} sim_cli_t;

static int sim_num(const char *flag, const char *s, double lo, double hi, double *out,
                   sim_errs_t *errs)
{
    char *e;
    double v = strtod(s, &e);
    if (e == s || *e || !(v >= lo && v <= hi)) {
        lv_sim_errs_add(errs, "--%s: expected a number in [%g, %g], got '%s'", flag, lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

static void sim_apply_cli(sim_conf_t *c, const sim_cli_t *cli, sim_errs_t *errs)
{
    double v;
    if (cli->listen) {
        if (strlen(cli->listen) >= sizeof c->listen)
            lv_sim_errs_add(errs, "--listen: too long");
        else
            snprintf(c->listen, sizeof c->listen, "%s", cli->listen);
    }
    if (cli->workers && !sim_num("workers", cli->workers, 0, SIM_WORKERS_MAX, &v, errs))
        c->workers = (uint32_t)v;
    if (cli->service_ms && !sim_num("service-ms", cli->service_ms, 0, 3.6e6, &v, errs))
        c->defaults.service_ms = v;
    if (cli->p99_ms && !sim_num("p99-ms", cli->p99_ms, 0, 3.6e7, &v, errs))
        c->defaults.p99_ms = v;
    if (cli->thrash && !sim_num("thrash", cli->thrash, 0, 1000, &v, errs))
        c->thrash = v;
    if (cli->body_bytes && !sim_num("body-bytes", cli->body_bytes, 0, SIM_BODY_MAX, &v, errs))
        c->defaults.body_bytes = (uint32_t)v;
    if (cli->seed) {
        char *e;
        unsigned long long s = strtoull(cli->seed, &e, 10);
        if (e == cli->seed || *e)
            lv_sim_errs_add(errs, "--seed: expected an integer, got '%s'", cli->seed);
        else
            c->seed = s;
    }
    if (cli->dist) {
        int k = lv_sim_dist_parse(cli->dist);
        if (k < 0)
            lv_sim_errs_add(errs, "--dist: expected fixed, exp or lognormal, got '%s'", cli->dist);
        else
            c->defaults.dist_kind = (sim_dist_kind_t)k;
    }
}

static sim_server_t *sim_server;
static uv_signal_t sim_sigs[2];

static void sim_on_signal(uv_signal_t *h, int signum)
{
    (void)h;
    if (signum)
        lv_log_info("sim", "msg=\"shutting down\" signal=%d", signum);
    if (sim_server)
        lv_sim_server_close(sim_server);
    for (size_t i = 0; i < LV_ARRAY_LEN(sim_sigs); i++)
        if (!uv_is_closing((uv_handle_t *)&sim_sigs[i]))
            uv_close((uv_handle_t *)&sim_sigs[i], NULL);
}

int main(int argc, char **argv)
{
    enum { O_LISTEN = 256, O_WORKERS, O_SERVICE, O_DIST, O_P99, O_THRASH, O_BODY, O_SEED, O_LOG };
    static const struct option opts[] = {
        {"listen", required_argument, NULL, O_LISTEN},
        {"workers", required_argument, NULL, O_WORKERS},
        {"service-ms", required_argument, NULL, O_SERVICE},
        {"dist", required_argument, NULL, O_DIST},
        {"p99-ms", required_argument, NULL, O_P99},
        {"thrash", required_argument, NULL, O_THRASH},
        {"body-bytes", required_argument, NULL, O_BODY},
        {"seed", required_argument, NULL, O_SEED},
        {"log-level", required_argument, NULL, O_LOG},
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    sim_cli_t cli = {0};
    int opt;
    while ((opt = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
        switch (opt) {
        case O_LISTEN:
            cli.listen = optarg;
            break;
        case O_WORKERS:
            cli.workers = optarg;
            break;
        case O_SERVICE:
            cli.service_ms = optarg;
            break;
        case O_DIST:
            cli.dist = optarg;
            break;
        case O_P99:
            cli.p99_ms = optarg;
            break;
        case O_THRASH:
            cli.thrash = optarg;
            break;
        case O_BODY:
            cli.body_bytes = optarg;
            break;
        case O_SEED:
            cli.seed = optarg;
            break;
        case O_LOG: {
            int l = lv_log_level_parse(optarg);
            if (l < 0) {
                fprintf(stderr, "levee-sim: --log-level: expected error, warn, info or debug\n");
                return 2;
            }
            lv_log_set_level((lv_log_level_t)l);
            break;
        }
        case 'c':
            cli.config = optarg;
            break;
        case 'h':
            sim_usage(stdout);
            return 0;
        case 'V':
            printf("levee-sim %s\n", LV_VERSION);
            return 0;
        default:
            sim_usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "levee-sim: unexpected argument '%s'\n", argv[optind]);
        sim_usage(stderr);
        return 2;
    }

    sim_conf_t conf;
    lv_sim_conf_init(&conf);
    sim_errs_t errs = {0};
    if (cli.config)
        lv_sim_conf_load_file(&conf, cli.config, &errs);
    sim_apply_cli(&conf, &cli, &errs);
    if (errs.count == 0)
        lv_sim_conf_finish(&conf, time(NULL), &errs);
    if (errs.count) {
        fputs(errs.text, stderr);
        if ((size_t)errs.count > 0 && errs.len >= sizeof errs.text - 2)
            fprintf(stderr, "levee-sim: (more errors cut)\n");
        lv_sim_conf_fini(&conf);
        return 2;
    }

    signal(SIGPIPE, SIG_IGN);
    lv_raise_nofile(); /* each client connection is a descriptor: a crowd needs thousands */
    uv_loop_t loop;
    if (uv_loop_init(&loop) != 0) {
        lv_sim_conf_fini(&conf);
        return 1;
    }
    int rc = 0;
    /* Signals first: once "listening" is logged, a TERM is always handled. */
    uv_signal_init(&loop, &sim_sigs[0]);
    uv_signal_init(&loop, &sim_sigs[1]);
    uv_signal_start(&sim_sigs[0], sim_on_signal, SIGTERM);
    uv_signal_start(&sim_sigs[1], sim_on_signal, SIGINT);
    sim_server = lv_sim_server_new(&loop, &conf);
    if (!sim_server) {
        rc = 1;
        sim_on_signal(&sim_sigs[0], 0);
        goto out;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    lv_sim_server_free(sim_server);
    sim_server = NULL;
out:
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0)
        lv_log_warn("sim", "msg=\"loop closed with handles left\"");
    lv_sim_conf_fini(&conf);
    return rc;
}
