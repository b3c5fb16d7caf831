/* Drives the configuration loader from plain C (no Python): proves the
 * engine's config layer stands alone, and runs under the sanitizers as a
 * separate program. Built and run by tests/test_config_c.py.
 *
 *   config_c_test [FILE.yaml ...]   check the built-in cases, then each file
 *                                   (prints its problems; exit 1 on any) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

static int failures;

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                             \
        }                                                                           \
    } while (0)

static const lpot_node_t *get(const lpot_node_t *map, const char *key)
{
    for (size_t i = 0; map && map->kind == LPOT_NODE_MAP && i < map->n; i++)
        if (strcmp(map->items[2 * i]->str, key) == 0)
            return map->items[2 * i + 1];
    return NULL;
}

/* Parse + validate text; the status, and the first message containing `want`
 * (or NULL) when `want` is given. */
static lpot_status_t load(const char *text, size_t len, const char *want, int *found)
{
    lpot_config_t *cfg = lpot_config_create(NULL);
    lpot_status_t s = lpot_config_parse(cfg, text, len);
    const lpot_node_t *in = lpot_config_input(cfg);
    if (s == LPOT_OK || (s == LPOT_ERR_CONFIG && in && in->kind == LPOT_NODE_MAP)) {
        lpot_status_t v = lpot_config_validate(cfg, NULL, NULL);
        if (v != LPOT_OK)
            s = v;
    }
    if (found) {
        *found = 0;
        for (size_t i = 0; i < lpot_config_error_count(cfg); i++)
            if (want && strstr(lpot_config_error(cfg, i)->msg, want))
                *found = 1;
    }
    if (s == LPOT_OK) {
        const lpot_node_t *out = lpot_config_output(cfg);
        const lpot_node_t *seed = get(get(out, "tuning"), "random_seed");
        CHECK(seed && seed->kind == LPOT_NODE_INT);
    }
    lpot_config_destroy(cfg);
    return s;
}

static void builtin_cases(void)
{
    int found;
    const char *ok = "model: {name: m, framework: pytorch}\n"
                     "tuning: {accuracy_criterion: {relative: 1%}}\n";
    CHECK(load(ok, strlen(ok), NULL, NULL) == LPOT_OK);

    lpot_config_t *cfg = lpot_config_create(NULL);
    CHECK(lpot_config_parse(cfg, ok, strlen(ok)) == LPOT_OK);
    CHECK(lpot_config_validate(cfg, NULL, NULL) == LPOT_OK);
    const lpot_node_t *ac = get(get(lpot_config_output(cfg), "tuning"), "accuracy_criterion");
    const lpot_node_t *rel = get(ac, "relative");
    CHECK(rel && rel->kind == LPOT_NODE_FLOAT && rel->v.f == 0.01);
    CHECK(get(ac, "absolute") && get(ac, "absolute")->kind == LPOT_NODE_NULL);
    lpot_config_destroy(cfg);

    const char *dup = "model: {name: m, framework: pytorch}\ndevice: cpu\ndevice: gpu\n";
    CHECK(load(dup, strlen(dup), "duplicate key 'device'", &found) == LPOT_ERR_CONFIG && found);

    char deep[4096] = "a: ";
    memset(deep + 3, '[', 3000);
    deep[3003] = '\0';
    CHECK(load(deep, strlen(deep), "nested more than 64", &found) == LPOT_ERR_CONFIG && found);

    char laughs[2048] = "";
    const char *names = "abcdefghi";
    for (int l = 0; l < 9; l++) {
        char line[160];
        int n = snprintf(line, sizeof line, "%c: &%c [", names[l], names[l]);
        for (int k = 0; k < 9; k++)
            n += snprintf(line + n, sizeof line - (size_t)n, "%s%s%c", k ? ", " : "",
                          l ? "*" : "lol", l ? names[l - 1] : ' ');
        snprintf(line + n, sizeof line - (size_t)n, "]\n");
        strcat(laughs, line);
    }
    CHECK(load(laughs, strlen(laughs), "aliases expand to more than", &found) == LPOT_ERR_CONFIG &&
          found);

    const char bad_utf8[] = "model: {name: \xff, framework: pytorch}";
    CHECK(load(bad_utf8, sizeof bad_utf8 - 1, "UTF-8", &found) == LPOT_ERR_CONFIG && found);

    const char *tag = "model: {name: m, framework: pytorch}\ndevice: !!python/object:x cpu\n";
    CHECK(load(tag, strlen(tag), "is not allowed", &found) == LPOT_ERR_CONFIG && found);

    /* every prefix of a valid config: a result or a ConfigError, never a crash */
    const char *full = "model: {name: m, framework: pytorch}\nquantization:\n  op_wise:\n"
                       "    'conv1': {activation: {dtype: [fp32]}}\npruning: {approach: "
                       "{weight_compression: {pruners: [!Pruner {names: 'a b'}]}}}\n";
    for (size_t n = 0; n <= strlen(full); n++) {
        lpot_status_t s = load(full, n, NULL, NULL);
        CHECK(s == LPOT_OK || s == LPOT_ERR_CONFIG);
    }
}

static int check_file(const char *path)
{
    lpot_config_t *cfg = lpot_config_create(NULL);
    lpot_status_t s = lpot_config_parse_file(cfg, path);
    const lpot_node_t *in = lpot_config_input(cfg);
    if (s == LPOT_OK || (s == LPOT_ERR_CONFIG && in && in->kind == LPOT_NODE_MAP)) {
        lpot_status_t v = lpot_config_validate(cfg, NULL, NULL);
        if (v != LPOT_OK)
            s = v;
    }
    if (s == LPOT_OK)
        printf("OK %s\n", path);
    else if (s != LPOT_ERR_CONFIG)
        printf("%s: %s\n", path, lpot_last_error());
    for (size_t i = 0; i < lpot_config_error_count(cfg); i++) {
        const lpot_config_error_t *e = lpot_config_error(cfg, i);
        printf("%s:%u:%u: %s%s%s\n", path, e->line, e->col, e->path, e->path[0] ? ": " : "",
               e->msg);
    }
    lpot_config_destroy(cfg);
    return s == LPOT_OK ? 0 : 1;
}

int main(int argc, char **argv)
{
    builtin_cases();
    int bad = 0;
    for (int i = 1; i < argc; i++)
        bad |= check_file(argv[i]);
    if (failures)
        fprintf(stderr, "%d check(s) failed\n", failures);
    return failures || bad ? 1 : 0;
}
