/* replicate/conf.c: `levee replicate -c FILE`: the replicator's settings from a small YAML
 * mapping, checked by the same setter as the flags (lv_repl_opt_set). Every error is printed as
 * FILE:LINE:COL: KEY: MESSAGE. Main thread, before anything starts.
 *
 *   region: eu
 *   local: redis://10.0.1.5:6379
 *   peers: {us: "redis://10.8.1.5:6379", ap: "redis://10.9.1.5:6379"}
 *   tombstone_ttl_ms: 600000
 *   batch: 512
 *   metrics: 127.0.0.1:9911 */
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "replicate/replicate.h"

/* YAML key -> the flag it stands for. */
static const char *const keys[][2] = {
    {"region", "region"},      {"local", "local"},     {"tombstone_ttl_ms", "tombstone-ttl"},
    {"batch", "batch"},        {"metrics", "metrics"}, {"consumer", "consumer"},
    {"log_level", "log-level"}};

static void error_at(const char *path, const yaml_node_t *n, const char *key, const char *msg,
                     int *errors)
{
    fprintf(stderr, "%s:%zu:%zu: %s: %s\n", path, n ? n->start_mark.line + 1 : 1,
            n ? n->start_mark.column + 1 : 1, key, msg);
    (*errors)++;
}

static const char *scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static void peers(const char *path, yaml_document_t *doc, yaml_node_t *map, lv_repl_opts_t *o,
                  int *errors)
{
    if (map->type != YAML_MAPPING_NODE) {
        error_at(path, map, "peers", "a mapping of region names to Redis addresses", errors);
        return;
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        yaml_node_t *v = yaml_document_get_node(doc, p->value);
        const char *name = scalar(k), *url = scalar(v);
        char arg[600], err[700];
        if (!name || !url || snprintf(arg, sizeof arg, "%s=%s", name, url) >= (int)sizeof arg) {
            error_at(path, k, "peers", "NAME: REDIS, both plain values", errors);
            continue;
        }
        if (lv_repl_opt_set(o, "peer", arg, err, sizeof err) != 0)
            error_at(path, v, "peers", err, errors);
    }
}

int lv_repl_conf_load(const char *path, lv_repl_opts_t *o)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s:1:1: -c: cannot be opened\n", path);
        return 2;
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    int errors = 0;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &doc)) {
        fprintf(stderr, "%s:%zu:%zu: -c: %s\n", path, parser.problem_mark.line + 1,
                parser.problem_mark.column + 1, parser.problem ? parser.problem : "not YAML");
        yaml_parser_delete(&parser);
        fclose(f);
        return 2;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root || root->type != YAML_MAPPING_NODE) {
        error_at(path, root, "-c", "the file must be a mapping of settings", &errors);
    } else {
        for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
             p++) {
            yaml_node_t *k = yaml_document_get_node(&doc, p->key);
            yaml_node_t *v = yaml_document_get_node(&doc, p->value);
            const char *key = scalar(k);
            if (key && strcmp(key, "peers") == 0) {
                peers(path, &doc, v, o, &errors);
                continue;
            }
            const char *flag = NULL;
            for (size_t i = 0; key && i < LV_ARRAY_LEN(keys); i++)
                if (strcmp(keys[i][0], key) == 0)
                    flag = keys[i][1];
            if (!flag) {
                error_at(path, k, key ? key : "?", "unknown setting", &errors);
                continue;
            }
            char err[700];
            if (!scalar(v))
                error_at(path, v, key, "a plain value", &errors);
            else if (lv_repl_opt_set(o, flag, scalar(v), err, sizeof err) != 0)
                error_at(path, v, key, err, &errors);
        }
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    fclose(f);
    return errors ? 2 : 0;
}
