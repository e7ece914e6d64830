/*
 * topk.c - the one top-k selection behind every recommend and evaluation
 * path (model, iALS, EASE, recommenders, the evaluation engine).
 *
 * A binary min-heap holds the best k entries seen so far with the weakest
 * at its root; "weaker" means a lower score, or an equal score and a higher
 * item index. Items are scanned in ascending order and an entry replaces
 * the root only when its score is strictly higher, so among equal scores
 * the lower index always stays: ties go to the lower index, as
 * docs/metrics.md defines the ranking. Once the heap is full, the kernel
 * first_gt (SIMD where the CPU has it) jumps straight to the next score
 * above the root, so typical catalogs cost about one vector compare per 8
 * or 16 scores. Finally a heap sort moves the weakest to the back, leaving
 * the list best first.
 *
 * Invariants: items[0..size) / out[0..size) form the heap during the scan;
 * NaN and -INFINITY never enter (first_gt with t = -INFINITY skips both).
 */
#include "kernels/kernels.h"

#include <math.h>

/* 1 if (sa, ia) is weaker than (sb, ib). */
static inline int weaker(float sa, uint32_t ia, float sb, uint32_t ib)
{
    return sa < sb || (sa == sb && ia > ib);
}

static inline void swap_at(uint32_t *it, float *sc, uint32_t a, uint32_t b)
{
    float ts = sc[a];
    uint32_t ti = it[a];
    sc[a] = sc[b];
    it[a] = it[b];
    sc[b] = ts;
    it[b] = ti;
}

static void sift_down(uint32_t *it, float *sc, uint32_t n, uint32_t i)
{
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && weaker(sc[l], it[l], sc[w], it[w]))
            w = l;
        if (r < n && weaker(sc[r], it[r], sc[w], it[w]))
            w = r;
        if (w == i)
            return;
        swap_at(it, sc, i, w);
        i = w;
    }
}

static void sift_up(uint32_t *it, float *sc, uint32_t i)
{
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (!weaker(sc[i], it[i], sc[p], it[p]))
            return;
        swap_at(it, sc, i, p);
        i = p;
    }
}

uint32_t trove__topk(const float *scores, uint32_t n, uint32_t k, uint32_t *items,
                     float *out_scores)
{
    size_t (*first_gt)(const float *, size_t, float) = trove__kernels_best()->first_gt;
    uint32_t size = 0;
    size_t j = 0;

    if (k == 0)
        return 0;
    /* Fill with the first k candidates. */
    while (size < k) {
        j += first_gt(scores + j, n - j, -INFINITY);
        if (j >= n)
            break;
        items[size] = (uint32_t)j;
        out_scores[size] = scores[j];
        sift_up(items, out_scores, size++);
        j++;
    }
    /* Full: only a score strictly above the weakest kept one can enter. */
    if (size == k) {
        for (;;) {
            j += first_gt(scores + j, n - j, out_scores[0]);
            if (j >= n)
                break;
            items[0] = (uint32_t)j;
            out_scores[0] = scores[j];
            sift_down(items, out_scores, k, 0);
            j++;
        }
    }
    for (uint32_t end = size; end > 1; end--) {
        swap_at(items, out_scores, 0, end - 1);
        sift_down(items, out_scores, end - 1, 0);
    }
    return size;
}
