/* load/scenario.h: a levee-load run description (target, profile, users, reporting hints),
 * from a YAML scenario file or from command-line flags. Parsed once at start; load loop. */
#ifndef LOAD_SCENARIO_H
#define LOAD_SCENARIO_H

#include <stddef.h>
#include <stdint.h>

#include "profile.h"
#include "user.h"

#define LOAD_JOURNEY_MAX 32
#define LOAD_PATH_MAX 256
#define LOAD_EVENTS_MAX 16

/* A timed side action: a GET or POST to a control URL (e.g. levee-sim's stall or capacity switch)
 * and or a change of the capacity line drawn in the report. */
typedef struct load_event {
    double at_s;
    char url[LOAD_PATH_MAX]; /* empty: no request */
    int post;                /* POST (empty body) instead of GET */
    double capacity;         /* < 0: unchanged */
} load_event_t;

typedef struct load_target {
    char url[LOAD_PATH_MAX];
    char host[80]; /* IPv4 literal (localhost is 127.0.0.1) */
    uint16_t port;
    char host_header[80];
    char path[LOAD_PATH_MAX];
    char sni[80]; /* https: the name sent as SNI and verified ("": an IP literal, verified) */
    int tls;      /* https:// */
} load_target_t;

typedef struct load_scenario {
    char label[64];
    load_target_t target;
    double duration_s; /* arrival window */
    double drain_s;    /* after it, how long in-flight users may finish */
    double capacity;   /* backend capacity hint (requests/s), < 0 unknown */
    uint64_t seed;
    uint32_t max_conns; /* open users (one connection each) at most */
    load_profile_t profile;
    uint32_t n_journey;
    char journey[LOAD_JOURNEY_MAX][LOAD_PATH_MAX];
    load_user_params_t users;
    uint32_t n_events;
    load_event_t events[LOAD_EVENTS_MAX];
    int tls_insecure;           /* https: skip certificate verification */
    char tls_ca[LOAD_PATH_MAX]; /* https: CA file ("": the system's) */
} load_scenario_t;

/* Defaults: no target, no profile, seed 1, 20 s drain cap, 10000 connections, one user class
 * with load_user_params_default(). */
void load_scenario_defaults(load_scenario_t *s);

/* Parses "http[s]://IPv4-or-localhost[:port][/path]". Returns 0 or LV_EINVAL. */
int load_target_parse(load_target_t *t, const char *url);

/* Checks TLS settings against the target they go with, as the run will use them: a CA file
 * (ca: NULL or "" none) and insecure only with an https target; the CA file readable and
 * holding at least one certificate (PEM). ca_name and insecure_name name the settings in the
 * message (the flags, or a schedule's keys). Returns 0, or LV_EINVAL with "NAME: reason" (no
 * newline) in err. Reads the CA file; start-up only. */
int load_tls_check(const load_target_t *t, const char *ca, int insecure, const char *ca_name,
                   const char *insecure_name, char *err, size_t err_size);

/* Parses a YAML scenario. Every problem is appended to err (bounded, truncated) as
 * "name:line:col: key: reason\n". Returns 0, or LV_ECONFIG with at least one line in err. */
int load_scenario_parse(load_scenario_t *s, const char *name, const char *text, size_t len,
                        char *err, size_t err_size);
/* Reads the file (at most 1 MiB) and parses it as above. */
int load_scenario_load(load_scenario_t *s, const char *path, char *err, size_t err_size);

/* Final checks and derived values once flags were applied: needs a target and a profile,
 * closes the profile at duration_s. Returns 0 or LV_ECONFIG with a reason in err. */
int load_scenario_finish(load_scenario_t *s, char *err, size_t err_size);

#endif
