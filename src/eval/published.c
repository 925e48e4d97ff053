// published.c — read configs/published.yaml (format documented at its top) with libyaml's document API.
#include "eval/leaderboard.h"

#include "core/check.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

typedef struct {
    yaml_document_t *doc;
    const char *path;
} Ctx;

static _Noreturn void bad(const Ctx *c, const yaml_node_t *n, const char *what) {
    apt_user_error("%s:%zu:%zu: %s", c->path, n->start_mark.line + 1, n->start_mark.column + 1, what);
}

static const char *scalar(const Ctx *c, yaml_node_t *n, const char *what) {
    if (n->type != YAML_SCALAR_NODE) bad(c, n, what);
    return (const char *)n->data.scalar.value;
}

static yaml_node_t *map_get(const Ctx *c, yaml_node_t *map, const char *key) {
    if (map->type != YAML_MAPPING_NODE) bad(c, map, "expected a mapping");
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
        if (k->type == YAML_SCALAR_NODE && !strcmp((const char *)k->data.scalar.value, key))
            return yaml_document_get_node(c->doc, p->value);
    }
    return NULL;
}

static void copy_str(const Ctx *c, yaml_node_t *n, char *dst, size_t cap, const char *what) {
    const char *s = scalar(c, n, what);
    if (strlen(s) >= cap) bad(c, n, "string too long");
    snprintf(dst, cap, "%s", s);
}

static void opt_str(const Ctx *c, yaml_node_t *map, const char *key, char *dst, size_t cap) {
    yaml_node_t *n = map_get(c, map, key);
    dst[0] = 0;
    if (n) copy_str(c, n, dst, cap, "expected a string");
}

static int is_null(const yaml_node_t *n) {
    const char *s = (const char *)n->data.scalar.value;
    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           (!strcmp(s, "null") || !strcmp(s, "~") || !strcmp(s, "") || !strcmp(s, "Null") ||
            !strcmp(s, "NULL"));
}

static void load_result(const Ctx *c, yaml_node_t *n, AptPubResult *r) {
    memset(r, 0, sizeof *r);
    yaml_node_t *m = map_get(c, n, "method");
    if (!m) bad(c, n, "result without 'method'");
    copy_str(c, m, r->method, sizeof r->method, "'method' must be a string");
    opt_str(c, n, "backbone", r->backbone, sizeof r->backbone);
    opt_str(c, n, "source", r->source, sizeof r->source);
    opt_str(c, n, "note", r->note, sizeof r->note);
    if (!r->source[0]) bad(c, n, "result without 'source' (cite where the numbers come from)");
    yaml_node_t *v = map_get(c, n, "values");
    if (!v || v->type != YAML_MAPPING_NODE) bad(c, n, "result needs a 'values' mapping");
    for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key),
                    *val = yaml_document_get_node(c->doc, p->value);
        if (r->n_values == APT_PUB_MAX_VALUES) bad(c, k, "too many values");
        AptPubValue *pv = &r->values[r->n_values++];
        copy_str(c, k, pv->name, sizeof pv->name, "metric name must be a string");
        if (is_null(val)) continue;
        const char *s = scalar(c, val, "value must be a number or null");
        char *end;
        errno = 0;
        pv->value = strtod(s, &end);
        if (errno || end == s || *end || pv->value < 0 || pv->value > 100)
            bad(c, val, "value must be a percentage in [0, 100] or null");
        pv->known = true;
    }
}

int apt_published_load(const char *path, const char *protocol, AptPublished *out) {
    memset(out, 0, sizeof *out);
    snprintf(out->protocol, sizeof out->protocol, "%s", protocol);
    FILE *f = fopen(path, "rb");
    if (!f)
        apt_user_error("%s: cannot open the published-results file (eval.published): %s", path,
                       strerror(errno));
    yaml_parser_t parser;
    yaml_document_t doc;
    APT_CHECK(yaml_parser_initialize(&parser), "yaml_parser_initialize failed");
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &doc)) {
        fclose(f);
        apt_user_error("%s:%zu:%zu: %s", path, parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                       parser.problem ? parser.problem : "YAML error");
    }
    fclose(f);
    Ctx c = {&doc, path};
    int rc = 1;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    yaml_node_t *protos = root ? map_get(&c, root, "protocols") : NULL;
    if (!protos) apt_user_error("%s: no top-level 'protocols' mapping", path);
    yaml_node_t *p = map_get(&c, protos, protocol);
    if (p) {
        rc = 0;
        opt_str(&c, p, "description", out->description, sizeof out->description);
        opt_str(&c, p, "note", out->note, sizeof out->note);
        yaml_node_t *ms = map_get(&c, p, "metrics");
        if (ms) {
            if (ms->type != YAML_SEQUENCE_NODE) bad(&c, ms, "'metrics' must be a list");
            for (yaml_node_item_t *it = ms->data.sequence.items.start; it < ms->data.sequence.items.top;
                 it++) {
                if (out->n_metrics == APT_PUB_MAX_VALUES) bad(&c, ms, "too many metrics");
                copy_str(&c, yaml_document_get_node(&doc, *it), out->metrics[out->n_metrics++], 16,
                         "metric name must be a string");
            }
        }
        yaml_node_t *rs = map_get(&c, p, "results");
        if (rs) {
            if (rs->type != YAML_SEQUENCE_NODE) bad(&c, rs, "'results' must be a list");
            for (yaml_node_item_t *it = rs->data.sequence.items.start; it < rs->data.sequence.items.top;
                 it++) {
                yaml_node_t *r = yaml_document_get_node(&doc, *it);
                if (out->n_results == APT_PUB_MAX_RESULTS) bad(&c, r, "too many results");
                load_result(&c, r, &out->results[out->n_results++]);
            }
        }
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return rc;
}
