/*
 * idmap.c - string id <-> dense index map.
 *
 * Invariants:
 *   - ids are distinct byte strings; index i is the i-th id interned;
 *   - names are copied into an arena of fixed blocks that never move, so a
 *     pointer returned by trove_idmap_name() stays valid until the map is
 *     freed;
 *   - the table is open addressing with linear probing, power-of-two size,
 *     at most half full; a slot holds index+1 (0 = empty); the 64-bit hash
 *     of every id is kept so that growing never rehashes strings.
 */
#include "trove/core.h"

#include <string.h>

#define ARENA_BLOCK (64u * 1024u)

typedef struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    char data[];
} arena_block;

struct trove_idmap {
    uint32_t n, cap_ids;      /* ids stored, capacity of the arrays below */
    const char **names;
    uint32_t *lens;
    uint64_t *hashes;
    uint32_t *slots;          /* n_slots entries, index+1 or 0 */
    uint32_t n_slots;         /* power of two */
    arena_block *arena;
};

#define IDMAP_SEED 0x7472766fULL

trove_idmap *trove_idmap_new(void)
{
    trove_idmap *m = trove_calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    m->n_slots = 64;
    m->slots = trove_calloc(m->n_slots, sizeof *m->slots);
    if (m->slots == NULL) {
        trove_free(m);
        return NULL;
    }
    return m;
}

void trove_idmap_free(trove_idmap *m)
{
    arena_block *b, *next;
    if (m == NULL)
        return;
    for (b = m->arena; b != NULL; b = next) {
        next = b->next;
        trove_free(b);
    }
    trove_free(m->names);
    trove_free(m->lens);
    trove_free(m->hashes);
    trove_free(m->slots);
    trove_free(m);
}

uint32_t trove_idmap_size(const trove_idmap *m)
{
    return m->n;
}

static const char *arena_copy(trove_idmap *m, const char *s, size_t len)
{
    arena_block *b = m->arena;
    char *p;
    if (b == NULL || b->cap - b->used < len + 1) {
        size_t cap = len + 1 > ARENA_BLOCK ? len + 1 : ARENA_BLOCK;
        b = trove_malloc(sizeof *b + cap);
        if (b == NULL)
            return NULL;
        b->next = m->arena;
        b->used = 0;
        b->cap = cap;
        m->arena = b;
    }
    p = b->data + b->used;
    memcpy(p, s, len);
    p[len] = '\0';
    b->used += len + 1;
    return p;
}

static int grow_slots(trove_idmap *m)
{
    uint32_t n_slots = m->n_slots * 2;
    uint32_t mask = n_slots - 1;
    uint32_t *slots = trove_calloc(n_slots, sizeof *slots);
    if (slots == NULL)
        return TROVE_ENOMEM;
    for (uint32_t i = 0; i < m->n; i++) {
        uint32_t pos = (uint32_t)m->hashes[i] & mask;
        while (slots[pos] != 0)
            pos = (pos + 1) & mask;
        slots[pos] = i + 1;
    }
    trove_free(m->slots);
    m->slots = slots;
    m->n_slots = n_slots;
    return TROVE_OK;
}

static int grow_ids(trove_idmap *m)
{
    uint32_t cap = m->cap_ids ? m->cap_ids * 2 : 64;
    const char **names;
    uint32_t *lens;
    uint64_t *hashes;

    if (m->cap_ids >= UINT32_MAX / 2)
        return TROVE_ERANGE;
    names = trove_realloc((void *)m->names, cap * sizeof *names);
    if (names == NULL)
        return TROVE_ENOMEM;
    m->names = names;
    lens = trove_realloc(m->lens, cap * sizeof *lens);
    if (lens == NULL)
        return TROVE_ENOMEM;
    m->lens = lens;
    hashes = trove_realloc(m->hashes, cap * sizeof *hashes);
    if (hashes == NULL)
        return TROVE_ENOMEM;
    m->hashes = hashes;
    m->cap_ids = cap;
    return TROVE_OK;
}

static int64_t lookup(const trove_idmap *m, const char *id, size_t len,
                      uint64_t h, uint32_t *slot_out)
{
    uint32_t mask = m->n_slots - 1;
    uint32_t pos = (uint32_t)h & mask;
    for (;;) {
        uint32_t v = m->slots[pos];
        if (v == 0) {
            *slot_out = pos;
            return -1;
        }
        v--;
        if (m->hashes[v] == h && m->lens[v] == len &&
            memcmp(m->names[v], id, len) == 0)
            return v;
        pos = (pos + 1) & mask;
    }
}

int64_t trove_idmap_find(const trove_idmap *m, const char *id, size_t len)
{
    uint32_t slot;
    return lookup(m, id, len, trove_hash64(id, len, IDMAP_SEED), &slot);
}

int trove_idmap_intern(trove_idmap *m, const char *id, size_t len,
                       uint32_t *index, int *added)
{
    uint64_t h = trove_hash64(id, len, IDMAP_SEED);
    uint32_t slot;
    int64_t found = lookup(m, id, len, h, &slot);
    const char *name;
    int rc;

    if (found >= 0) {
        *index = (uint32_t)found;
        if (added)
            *added = 0;
        return TROVE_OK;
    }
    if (len > UINT32_MAX)
        return TROVE_ERANGE;
    if (m->n == UINT32_MAX - 1)
        return TROVE_ERANGE;
    if (m->n == m->cap_ids && (rc = grow_ids(m)) != TROVE_OK)
        return rc;
    if ((uint64_t)(m->n + 1) * 2 > m->n_slots) {
        if ((rc = grow_slots(m)) != TROVE_OK)
            return rc;
        (void)lookup(m, id, len, h, &slot);
    }
    name = arena_copy(m, id, len);
    if (name == NULL)
        return TROVE_ENOMEM;
    m->names[m->n] = name;
    m->lens[m->n] = (uint32_t)len;
    m->hashes[m->n] = h;
    m->slots[slot] = m->n + 1;
    *index = m->n++;
    if (added)
        *added = 1;
    return TROVE_OK;
}

const char *trove_idmap_name(const trove_idmap *m, uint32_t i, size_t *len)
{
    if (i >= m->n)
        return NULL;
    if (len)
        *len = m->lens[i];
    return m->names[i];
}
