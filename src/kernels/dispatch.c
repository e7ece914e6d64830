/*
 * dispatch.c - chooses the kernel table once per process from the CPU's
 * features (cpuid through __builtin_cpu_supports), honouring TROVE_KERNELS
 * to force a lower variant. Only variants that were compiled in (see
 * sources.cmake) can be chosen.
 */
#include "kernels/kernels.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static const trove__kernels *g_best = &trove__kernels_scalar;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

const trove__kernels *trove__kernels_variant(int variant)
{
    switch (variant) {
    case TROVE__KERNELS_SCALAR:
        return &trove__kernels_scalar;
#ifdef TROVE_HAVE_AVX2_KERNELS
    case TROVE__KERNELS_AVX2:
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
            return &trove__kernels_avx2;
        return NULL;
#endif
#ifdef TROVE_HAVE_AVX512_KERNELS
    case TROVE__KERNELS_AVX512:
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
            __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
            __builtin_cpu_supports("fma"))
            return &trove__kernels_avx512;
        return NULL;
    case TROVE__KERNELS_AVX512_VNNI:
        if (trove__kernels_variant(TROVE__KERNELS_AVX512) != NULL &&
            __builtin_cpu_supports("avx512vnni"))
            return &trove__kernels_avx512_vnni;
        return NULL;
#endif
    default:
        return NULL;
    }
}

static void choose(void)
{
    const char *force = getenv("TROVE_KERNELS");
    int limit = TROVE__KERNELS_COUNT - 1;
    if (force != NULL) {
        if (strcmp(force, "scalar") == 0)
            limit = TROVE__KERNELS_SCALAR;
        else if (strcmp(force, "avx2") == 0)
            limit = TROVE__KERNELS_AVX2;
        else if (strcmp(force, "avx512") == 0)
            limit = TROVE__KERNELS_AVX512;
    }
    for (int v = limit; v >= 0; v--) {
        const trove__kernels *k = trove__kernels_variant(v);
        if (k != NULL) {
            g_best = k;
            break;
        }
    }
}

const trove__kernels *trove__kernels_best(void)
{
    pthread_once(&g_once, choose);
    return g_best;
}
