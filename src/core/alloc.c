/*
 * alloc.c - the library's allocation functions and the replaceable
 * allocator behind them.
 *
 * Aligned blocks are carved from an over-allocation through the same
 * allocator; the offset back to the raw pointer is stored just before the
 * aligned address, so trove_aligned_free needs no size.
 */
#include "trove/core.h"

#include <stdlib.h>
#include <string.h>

static void *default_malloc(void *ud, size_t size)
{
    (void)ud;
    return malloc(size);
}

static void *default_realloc(void *ud, void *ptr, size_t size)
{
    (void)ud;
    return realloc(ptr, size);
}

static void default_free(void *ud, void *ptr)
{
    (void)ud;
    free(ptr);
}

static trove_allocator g_alloc = {default_malloc, default_realloc,
                                  default_free, NULL};

void trove_set_allocator(const trove_allocator *a)
{
    if (a == NULL) {
        g_alloc.malloc_fn = default_malloc;
        g_alloc.realloc_fn = default_realloc;
        g_alloc.free_fn = default_free;
        g_alloc.ud = NULL;
        return;
    }
    g_alloc = *a;
}

void *trove_malloc(size_t size)
{
    if (size == 0)
        return NULL;
    return g_alloc.malloc_fn(g_alloc.ud, size);
}

void *trove_calloc(size_t n, size_t size)
{
    void *p;
    if (n == 0 || size == 0 || n > SIZE_MAX / size)
        return NULL;
    p = g_alloc.malloc_fn(g_alloc.ud, n * size);
    if (p != NULL)
        memset(p, 0, n * size);
    return p;
}

void *trove_realloc(void *ptr, size_t size)
{
    if (size == 0) {
        trove_free(ptr);
        return NULL;
    }
    if (ptr == NULL)
        return g_alloc.malloc_fn(g_alloc.ud, size);
    return g_alloc.realloc_fn(g_alloc.ud, ptr, size);
}

void trove_free(void *ptr)
{
    if (ptr != NULL)
        g_alloc.free_fn(g_alloc.ud, ptr);
}

char *trove_strndup(const char *s, size_t n)
{
    char *d = trove_malloc(n + 1);
    if (d == NULL)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *trove_strdup(const char *s)
{
    return trove_strndup(s, strlen(s));
}

void *trove_aligned_alloc(size_t align, size_t size)
{
    unsigned char *raw, *p;
    size_t total;

    if (size == 0 || align < sizeof(void *) || (align & (align - 1)) != 0)
        return NULL;
    if (size > SIZE_MAX - align - sizeof(void *))
        return NULL;
    total = size + align + sizeof(void *);
    raw = trove_malloc(total);
    if (raw == NULL)
        return NULL;
    p = raw + sizeof(void *);
    p += (align - ((uintptr_t)p & (align - 1))) & (align - 1);
    memcpy(p - sizeof(void *), &raw, sizeof raw);
    return p;
}

void trove_aligned_free(void *ptr)
{
    void *raw;
    if (ptr == NULL)
        return;
    memcpy(&raw, (unsigned char *)ptr - sizeof(void *), sizeof raw);
    trove_free(raw);
}
