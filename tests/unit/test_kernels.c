/*
 * test_kernels.c - every compiled kernel variant the CPU supports against
 * the scalar reference, for lengths 1..200 and misaligned pointers (the
 * quantized scan bit for bit, up to the int32 worst case); top-k
 * selection against a brute-force reference (ties, exclusions, k > n).
 */
#include "testutil.h"
#include "kernels/kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAXN 208

static void fill(trove_rng *r, float *v, size_t n, float lo, float hi)
{
    for (size_t j = 0; j < n; j++)
        v[j] = lo + (hi - lo) * trove_rng_uniformf(r);
}

static void assert_close(float a, float b, float rel, const char *what, size_t n)
{
    float tol = rel * (1.0f + fabsf(b));
    if (!(fabsf(a - b) <= tol)) {
        print_error("%s n=%zu: %.9g vs scalar %.9g\n", what, n, (double)a, (double)b);
        fail();
    }
}

static void check_variant(const trove__kernels *k)
{
    const trove__kernels *s = &trove__kernels_scalar;
    trove_rng r;
    float a[MAXN + 1], b[MAXN + 1], w1[MAXN + 1], w2[MAXN + 1], c1[MAXN + 1], c2[MAXN + 1];
    float d1[MAXN + 1], d2[MAXN + 1], o1[MAXN + 1], o2[MAXN + 1];
    trove_rng_seed(&r, 7);
    for (size_t n = 1; n <= 200; n++) {
        for (size_t off = 0; off <= 1; off++) {
            float *x = a + off, *y = b + off;
            fill(&r, a, MAXN + 1, -1.0f, 1.0f);
            fill(&r, b, MAXN + 1, -1.0f, 1.0f);
            /* dot: sum of n terms of size <= 1 */
            assert_close(k->dot(x, y, n), s->dot(x, y, n), 1e-5f * (float)n, "dot", n);

            memcpy(w1, b, sizeof b);
            memcpy(w2, b, sizeof b);
            k->axpy(0.37f, x, w1 + off, n);
            s->axpy(0.37f, x, w2 + off, n);
            for (size_t j = 0; j <= MAXN; j++)
                assert_close(w1[j], w2[j], 1e-6f, "axpy", n);

            memset(o1, 0, sizeof o1);
            memset(o2, 0, sizeof o2);
            k->axpby(o1 + off, -0.5f, x, 1.25f, y, n);
            s->axpby(o2 + off, -0.5f, x, 1.25f, y, n);
            for (size_t j = 0; j <= MAXN; j++)
                assert_close(o1[j], o2[j], 1e-6f, "axpby", n);

            for (int alpha = 0; alpha <= 1; alpha++) {
                float al = alpha ? 0.01f : 0.0f;
                memcpy(w1, a, sizeof a);
                memcpy(w2, a, sizeof a);
                fill(&r, c1, MAXN + 1, 1.0f, 3.0f);
                memcpy(c2, c1, sizeof c1);
                k->adagrad(w1 + off, c1 + off, y, 0.8f, 0.05f, al, n);
                s->adagrad(w2 + off, c2 + off, y, 0.8f, 0.05f, al, n);
                for (size_t j = 0; j <= MAXN; j++) {
                    assert_close(w1[j], w2[j], 1e-6f, "adagrad w", n);
                    assert_close(c1[j], c2[j], 1e-6f, "adagrad acc", n);
                }

                memcpy(w1, a, sizeof a);
                memcpy(w2, a, sizeof a);
                fill(&r, c1, MAXN + 1, 0.0f, 0.1f);
                memcpy(c2, c1, sizeof c1);
                fill(&r, d1, MAXN + 1, 0.0f, 0.1f);
                memcpy(d2, d1, sizeof d1);
                k->adadelta(w1 + off, c1 + off, d1 + off, y, 0.8f, al, 0.95f, 1e-6f, n);
                s->adadelta(w2 + off, c2 + off, d2 + off, y, 0.8f, al, 0.95f, 1e-6f, n);
                for (size_t j = 0; j <= MAXN; j++) {
                    assert_close(w1[j], w2[j], 1e-5f, "adadelta w", n);
                    assert_close(c1[j], c2[j], 1e-5f, "adadelta eg2", n);
                    assert_close(d1[j], d2[j], 1e-5f, "adadelta edx2", n);
                }
            }
        }
        /* scores over 9 rows with stride n rounded up to 16 */
        {
            size_t stride = (n + 15) & ~(size_t)15;
            float *rows = calloc(9 * stride, sizeof(float));
            float bias[9], q[MAXN];
            assert_non_null(rows);
            fill(&r, q, n, -1.0f, 1.0f);
            for (size_t i = 0; i < 9; i++)
                fill(&r, rows + i * stride, n, -1.0f, 1.0f);
            fill(&r, bias, 9, -1.0f, 1.0f);
            k->scores(q, rows, 9, stride, n, bias, 0.5f, o1);
            s->scores(q, rows, 9, stride, n, bias, 0.5f, o2);
            for (size_t i = 0; i < 9; i++)
                assert_close(o1[i], o2[i], 1e-5f * (float)n, "scores", n);
            k->scores(q, rows, 9, stride, n, NULL, 0.0f, o1);
            for (size_t i = 0; i < 9; i++)
                assert_close(o1[i], s->dot(q, rows + i * stride, n), 1e-5f * (float)n,
                             "scores nobias", n);
            free(rows);
        }
    }
    /* count_ge / select_ge: exact, with NaN, -INFINITY and ties, every
     * length and offset, caps below and above the count */
    for (size_t n = 0; n <= 200; n++) {
        for (size_t off = 0; off <= 1; off++) {
            float *x = a + off;
            uint32_t i1[MAXN], i2[MAXN];
            float v1[MAXN], v2[MAXN];
            for (size_t j = 0; j < n; j++) {
                float u = trove_rng_uniformf(&r);
                x[j] = j % 7 == 3 ? NAN : j % 11 == 5 ? -INFINITY : (float)(int)(u * 8.0f);
            }
            for (float t = -1.0f; t <= 8.0f; t += 3.0f) {
                size_t want = s->count_ge(x, n, t);
                assert_int_equal(k->count_ge(x, n, t), want);
                for (size_t cap = 0; cap <= want + 1; cap += 1 + want / 3) {
                    memset(i1, 0xab, sizeof i1);
                    memset(i2, 0xab, sizeof i2);
                    memset(v1, 0, sizeof v1);
                    memset(v2, 0, sizeof v2);
                    assert_int_equal(k->select_ge(x, n, t, i1, v1, cap), want);
                    assert_int_equal(s->select_ge(x, n, t, i2, v2, cap), want);
                    assert_memory_equal(i1, i2, sizeof i1);
                    assert_memory_equal(v1, v2, sizeof v1);
                    assert_int_equal(k->select_ge(x, n, t, i1, NULL, cap), want);
                    for (size_t c = 0; c < want && c < cap; c++) {
                        assert_true(x[i2[c]] >= t);
                        assert_true(c == 0 || i2[c] > i2[c - 1]);
                    }
                }
            }
        }
    }
    /* n = 0 touches nothing */
    assert_true(k->dot(a, b, 0) == 0.0f);
    assert_int_equal(k->first_gt(a, 0, -INFINITY), 0);
    /* first_gt: exact, for every length, offset, and place of the first hit
     * (none, or NaN / -INFINITY / equal values in front of it) */
    for (size_t n = 1; n <= 200; n++) {
        for (size_t off = 0; off <= 1; off++) {
            float *x = a + off;
            for (size_t j = 0; j < n; j++)
                x[j] = (j % 3 == 0) ? NAN : (j % 3 == 1 ? -INFINITY : 0.5f);
            assert_int_equal(k->first_gt(x, n, 0.5f), n);
            assert_int_equal(k->first_gt(x, n, -INFINITY), s->first_gt(x, n, -INFINITY));
            for (size_t hit = 0; hit < n; hit += 1 + hit / 8) {
                float keep = x[hit];
                x[hit] = 0.75f;
                assert_int_equal(k->first_gt(x, n, 0.5f), hit);
                assert_int_equal(k->first_gt(x, n, 0.5f), s->first_gt(x, n, 0.5f));
                x[hit] = keep;
            }
        }
    }
}

/* qscan and qscan8: bit-identical to the scalar reference for 1..3 blocks
 * and 1..37 groups of dimensions, random rows and the int32 worst case
 * (every product at its largest, all of one sign); and the int8 form
 * (query offset by 128, taken out through the row sums) equal to the
 * int16 form on the same integers. */
static void check_qscan(const trove__kernels *k, trove_rng *r)
{
    enum { BL = 3, PAIRS = 37 };
    static int16_t x[BL * PAIRS * 32], xq[BL * 2 * PAIRS * 32];
    static int8_t x8[BL * PAIRS * 64];
    int16_t y[2 * PAIRS], yq[4 * PAIRS];
    uint8_t u8[4 * PAIRS];
    int32_t xsum[BL * 16];
    float scale[BL * 16], norm[BL * 16], bias[BL * 16];
    float lo1[BL * 16], hi1[BL * 16], lo2[BL * 16], hi2[BL * 16];
    float lm1[BL], lm2[BL];
    for (size_t nb = 1; nb <= BL; nb++) {
        for (size_t np = 1; np <= PAIRS; np += 1 + np / 6) {
            for (int worst = 0; worst <= 2; worst++) {
                int32_t ymax = (int32_t)(2147483647 / ((int64_t)2 * (int64_t)np * 32767));
                if (ymax > 32767)
                    ymax = 32767;
                for (size_t j = 0; j < nb * np * 32; j++)
                    x[j] = worst ? (int16_t)(worst == 1 ? 32767 : -32767)
                                 : (int16_t)(trove_rng_below(r, 65535) - 32767);
                for (size_t d = 0; d < 2 * np; d++)
                    y[d] = worst ? (int16_t)ymax
                                 : (int16_t)((int32_t)trove_rng_below(r, 2 * (uint32_t)ymax + 1) -
                                             ymax);
                /* int8 rows of np quads, and the same integers as int16 pairs */
                memset(xsum, 0, sizeof xsum);
                for (size_t b = 0; b < nb; b++)
                    for (size_t p = 0; p < np; p++)
                        for (size_t l = 0; l < 16; l++)
                            for (size_t h = 0; h < 4; h++) {
                                int v = worst ? (worst == 1 ? 127 : -127)
                                              : (int)trove_rng_below(r, 255) - 127;
                                size_t d = 4 * p + h;
                                x8[((b * np + p) * 16 + l) * 4 + h] = (int8_t)v;
                                xq[((b * 2 * np + d / 2) * 16 + l) * 2 + d % 2] = (int16_t)v;
                                xsum[b * 16 + l] += v;
                            }
                for (size_t d = 0; d < 4 * np; d++) {
                    yq[d] = worst ? 127 : (int16_t)((int)trove_rng_below(r, 255) - 127);
                    u8[d] = (uint8_t)(yq[d] + 128);
                }
                for (size_t j = 0; j < nb * 16; j++) {
                    scale[j] = 1e-4f * (0.5f + trove_rng_uniformf(r));
                    norm[j] = 3.0f * trove_rng_uniformf(r);
                    bias[j] = trove_rng_uniformf(r) - 0.5f;
                }
                trove__qscan_args a;
                memset(&a, 0, sizeof a);
                a.x = x;
                a.n_blocks = nb;
                a.n_pairs = np;
                a.y = y;
                a.x8 = x8;
                a.n_quads = np;
                a.u8 = u8;
                a.xsum = xsum;
                a.yscale = 1e-3f;
                a.scale = scale;
                a.norm = norm;
                a.bias = bias;
                a.add = 0.25f;
                a.err_scale = 0.6f;
                a.err_norm = 2e-4f;
                a.err_rel = 1e-6f;
                a.err_abs = 1e-7f;
                for (int form = 0; form <= 1; form++) {
                    void (*fn)(const trove__qscan_args *, float *, float *, float *) =
                        form ? k->qscan8 : k->qscan;
                    void (*ref)(const trove__qscan_args *, float *, float *, float *) =
                        form ? trove__kernels_scalar.qscan8 : trove__kernels_scalar.qscan;
                    if (fn == NULL)
                        continue;
                    fn(&a, lo1, hi1, lm1);
                    ref(&a, lo2, hi2, lm2);
                    if (memcmp(lo1, lo2, nb * 16 * sizeof(float)) != 0 ||
                        memcmp(hi1, hi2, nb * 16 * sizeof(float)) != 0 ||
                        memcmp(lm1, lm2, nb * sizeof(float)) != 0) {
                        print_error("qscan%s %s: blocks %zu groups %zu case %d differs from "
                                    "scalar\n", form ? "8" : "", k->name, nb, np, worst);
                        fail();
                    }
                    for (size_t b = 0; b < nb; b++)
                        for (size_t l = 0; l < 16; l++) {
                            assert_true(lo1[b * 16 + l] <= lm1[b]);
                            assert_true(lo1[b * 16 + l] < hi1[b * 16 + l]);
                        }
                }
                /* the int8 form equals the int16 form on the same integers */
                trove__kernels_scalar.qscan8(&a, lo1, hi1, lm1);
                a.x = xq;
                a.n_pairs = 2 * np;
                a.y = yq;
                trove__kernels_scalar.qscan(&a, lo2, hi2, lm2);
                assert_memory_equal(lo1, lo2, nb * 16 * sizeof(float));
                assert_memory_equal(hi1, hi2, nb * 16 * sizeof(float));
            }
        }
    }
}

/* qscan by hand: one block, two dimensions. */
static void test_qscan_reference(void **state)
{
    int16_t x[32] = { 0 }, y[2] = { 3, -2 };
    float scale[16], norm[16], bias[16], lo[16], hi[16], lm;
    (void)state;
    for (int l = 0; l < 16; l++) {
        x[2 * l] = (int16_t)(l + 1);      /* x_l = (l + 1, 2 l) */
        x[2 * l + 1] = (int16_t)(2 * l);
        scale[l] = 0.5f;
        norm[l] = (float)l;
        bias[l] = l == 3 ? -1.0f : 0.0f;
    }
    trove__qscan_args a;
    memset(&a, 0, sizeof a);
    a.x = x;
    a.n_blocks = 1;
    a.n_pairs = 1;
    a.y = y;
    a.yscale = 0.25f;
    a.scale = scale;
    a.norm = norm;
    a.bias = bias;
    a.add = 2.0f;
    a.err_scale = 1.0f;
    a.err_norm = 0.5f;
    trove__kernels_scalar.qscan(&a, lo, hi, &lm);
    for (int l = 0; l < 16; l++) {
        /* acc = 3 (l + 1) - 4 l = 3 - l; t = acc / 8 */
        float t = (float)(3 - l) * 0.125f;
        float v = t + bias[l] + 2.0f, e = 0.5f + 0.5f * (float)l;
        assert_float_equal(lo[l], v - e, 0.0);
        assert_float_equal(hi[l], v + e, 0.0);
    }
    assert_float_equal(lm, 1.875f, 0.0);          /* l = 0 */
}

static void test_scalar_reference(void **state)
{
    const trove__kernels *s = &trove__kernels_scalar;
    float w[3] = {1.0f, 2.0f, 3.0f}, acc[3] = {1.0f, 4.0f, 16.0f}, dir[3] = {1.0f, 1.0f, -2.0f};
    (void)state;
    assert_true(s->dot(w, dir, 3) == 1.0f + 2.0f - 6.0f);
    /* adagrad: w -= lr*g/sqrt(acc) with the old acc, then acc += g^2 */
    s->adagrad(w, acc, dir, 0.5f, 0.1f, 0.0f, 3);
    assert_float_equal(w[0], 1.0f - 0.1f * 0.5f / 1.0f, 1e-7);
    assert_float_equal(w[1], 2.0f - 0.1f * 0.5f / 2.0f, 1e-7);
    assert_float_equal(w[2], 3.0f + 0.1f * 1.0f / 4.0f, 1e-7);
    assert_float_equal(acc[0], 1.25f, 1e-7);
    assert_float_equal(acc[2], 17.0f, 1e-7);
}

static void test_variants(void **state)
{
    int tested = 0;
    (void)state;
    for (int v = 0; v < TROVE__KERNELS_COUNT; v++) {
        const trove__kernels *k = trove__kernels_variant(v);
        if (k == NULL)
            continue;
        print_message("kernel variant %s\n", k->name);
        check_variant(k);
        {
            trove_rng r;
            trove_rng_seed(&r, 5);
            check_qscan(k, &r);
        }
        tested++;
    }
    assert_true(tested >= 1);
    assert_non_null(trove__kernels_best());
    assert_non_null(trove__kernels_best()->name);
}

/* stream_copy: every variant copies exactly n floats for lengths 0..130
 * at every float offset of a 64-byte line (the aligned body, the plain
 * head and tail), and leaves the words around the copy alone; after
 * stream_fence another thread would see the copy (here: the same one). */
static void test_stream_copy(void **state)
{
    enum { N = 130, PAD = 16 };
    (void)state;
    for (int v = 0; v < TROVE__KERNELS_COUNT; v++) {
        const trove__kernels *k = trove__kernels_variant(v);
        if (k == NULL)
            continue;
        assert_non_null(k->stream_copy);
        assert_non_null(k->stream_fence);
        float *dst = trove_aligned_alloc(64, (N + 2 * PAD + 16) * sizeof(float));
        float src[N + 16];
        assert_non_null(dst);
        for (size_t j = 0; j < N + 16; j++)
            src[j] = (float)j * 0.5f - 7.0f;
        for (size_t off = 0; off < 16; off++)
            for (size_t n = 0; n <= N; n++) {
                for (size_t j = 0; j < N + 2 * PAD + 16; j++)
                    dst[j] = -1.0f;
                k->stream_copy(dst + PAD + off, src + off, n);
                k->stream_fence();
                for (size_t j = 0; j < N + 2 * PAD + 16; j++) {
                    int inside = j >= PAD + off && j < PAD + off + n;
                    float want = inside ? src[j - PAD] : -1.0f;
                    if (dst[j] != want)
                        fail_msg("%s: stream_copy n=%zu off=%zu: word %zu is %g, want %g",
                                 k->name, n, off, j, (double)dst[j], (double)want);
                }
            }
        trove_aligned_free(dst);
    }
}

/* The fused row-wise adagrad step: the scalar reference against a hand
 * computation, then every variant against the scalar one for lengths
 * 1..200, misaligned rows, with and without L2; the words outside the row
 * stay untouched. */
static void test_adagrad_row(void **state)
{
    const trove__kernels *s = &trove__kernels_scalar;
    float w[3] = {1.0f, 2.0f, 3.0f}, dir[3] = {1.0f, 1.0f, -2.0f};
    float a[MAXN + 1], b[MAXN + 1], w1[MAXN + 1], w2[MAXN + 1];
    trove_rng r;
    int tested = 0;
    (void)state;
    /* g = 0.5*dir + 0.1*w = (0.6, 0.7, -0.7); w -= 0.25*g; sum g^2 = 1.34 */
    float ss = s->adagrad_row(w, dir, 0.5f, 0.25f, 0.1f, 3);
    assert_float_equal(w[0], 1.0f - 0.25f * 0.6f, 1e-6);
    assert_float_equal(w[1], 2.0f - 0.25f * 0.7f, 1e-6);
    assert_float_equal(w[2], 3.0f + 0.25f * 0.7f, 1e-6);
    assert_float_equal(ss, 0.36f + 0.49f + 0.49f, 1e-6);
    assert_true(s->adagrad_row(w, dir, 0.5f, 0.25f, 0.1f, 0) == 0.0f);

    trove_rng_seed(&r, 13);
    for (int v = 0; v < TROVE__KERNELS_COUNT; v++) {
        const trove__kernels *k = trove__kernels_variant(v);
        if (k == NULL)
            continue;
        assert_non_null(k->adagrad_row);
        for (size_t n = 1; n <= 200; n++) {
            for (size_t off = 0; off <= 1; off++) {
                fill(&r, a, MAXN + 1, -1.0f, 1.0f);
                fill(&r, b, MAXN + 1, -1.0f, 1.0f);
                for (int alpha = 0; alpha <= 1; alpha++) {
                    float al = alpha ? 0.01f : 0.0f;
                    memcpy(w1, a, sizeof a);
                    memcpy(w2, a, sizeof a);
                    float s1 = k->adagrad_row(w1 + off, b + off, 0.8f, 0.03f, al, n);
                    float s2 = s->adagrad_row(w2 + off, b + off, 0.8f, 0.03f, al, n);
                    assert_close(s1, s2, 1e-5f * (float)n, "adagrad_row sum", n);
                    for (size_t j = 0; j <= MAXN; j++)
                        assert_close(w1[j], w2[j], 1e-6f, "adagrad_row w", n);
                    assert_true(w1[off + n] == a[off + n]);
                    assert_true(w1[0] == a[0] || off == 0);
                }
            }
        }
        tested++;
    }
    assert_true(tested >= 1);
}

/* Brute-force reference: repeatedly the best remaining candidate, lowest
 * index among equal scores. */
static uint32_t topk_reference(const float *s, uint32_t n, uint32_t k, uint32_t *items)
{
    uint8_t used[MAXN] = {0};
    uint32_t cnt = 0;
    while (cnt < k) {
        uint32_t best = UINT32_MAX;
        for (uint32_t j = 0; j < n; j++)
            if (!used[j] && s[j] > -INFINITY && (best == UINT32_MAX || s[j] > s[best]))
                best = j;
        if (best == UINT32_MAX)
            break;
        used[best] = 1;
        items[cnt++] = best;
    }
    return cnt;
}

static void test_topk(void **state)
{
    float sc[MAXN], out[MAXN];
    uint32_t items[MAXN], want[MAXN];
    trove_rng r;
    (void)state;
    trove_rng_seed(&r, 11);
    for (uint32_t n = 0; n <= 200; n += 1 + n / 16) {
        for (uint32_t k = 0; k <= n + 2 && k < MAXN; k += 1 + k / 4) {
            for (int round = 0; round < 3; round++) {
                /* round 1: heavy ties; round 2: excluded entries */
                for (uint32_t j = 0; j < n; j++) {
                    float u = trove_rng_uniformf(&r);
                    sc[j] = round == 1 ? (float)(int)(u * 4.0f) : u;
                    if (round == 2 && j % 4 == 1)
                        sc[j] = j % 8 == 1 ? NAN : -INFINITY;
                }
                uint32_t cnt = trove__topk(sc, n, k, items, out);
                uint32_t ref = topk_reference(sc, n, k, want);
                assert_int_equal(cnt, ref);
                assert_memory_equal(items, want, cnt * sizeof *items);
                for (uint32_t p = 0; p < cnt; p++)
                    assert_true(out[p] == sc[items[p]]);
            }
        }
    }
    /* all tied: the lowest indices, in order */
    for (uint32_t j = 0; j < 50; j++)
        sc[j] = 1.0f;
    assert_int_equal(trove__topk(sc, 50, 5, items, out), 5);
    for (uint32_t p = 0; p < 5; p++)
        assert_int_equal(items[p], p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalar_reference),
        cmocka_unit_test(test_qscan_reference),
        cmocka_unit_test(test_variants),
        cmocka_unit_test(test_adagrad_row),
        cmocka_unit_test(test_stream_copy),
        cmocka_unit_test(test_topk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
