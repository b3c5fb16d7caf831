/* Shared by config.c (parser) and config_schema.c (validator). Plain C. */
#ifndef LPOT_CONFIG_INTERNAL_H
#define LPOT_CONFIG_INTERNAL_H

#include "config.h"

typedef struct lpot_arena_chunk lpot_arena_chunk;

struct lpot_config {
    lpot_config_limits_t lim;
    lpot_arena_chunk *chunks;
    size_t nodes;           /* allocated so far (limit: lim.max_nodes) */
    bool nodes_exceeded;    /* the node limit was hit (reported once) */
    lpot_node_t *input, *output;
    lpot_config_error_t errors[LPOT_CONFIG_MAX_ERRORS];
    size_t nerrors, dropped;
};

void *lpot_config_alloc(lpot_config_t *cfg, size_t size);

/* Number from text for a field that wants one: what lpot_config_resolve reads
 * plus 'NN%' (-> NN/100) and surrounding blanks. 1: a number (*is_int: an
 * integer without '%'); 0: not a number; -1: integer text beyond int64. */
int lpot_config_text_number(const char *s, size_t len, double *f, int64_t *i, bool *is_int);

#endif
