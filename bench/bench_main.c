/*
 * bench_main.c - `trove-bench <name> [args]`: runs one benchmark, or all of
 * them with `trove-bench all`. `trove-bench list` names them.
 *
 * Every benchmark is registered by one line in benches.def.
 */
#include "bench.h"
#include "bench_commit.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define X(name, fn, summary) int fn(int argc, char **argv);
#include "benches.def"
#undef X

static const bench_entry benches[] = {
#define X(name, fn, summary) {#name, summary, fn},
#include "benches.def"
#undef X
    {NULL, NULL, NULL}
};

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(const double *v, size_t n)
{
    double tmp[256];
    if (n == 0 || n > 256)
        return 0.0;
    memcpy(tmp, v, n * sizeof *v);
    qsort(tmp, n, sizeof *tmp, cmp_double);
    return n % 2 ? tmp[n / 2] : 0.5 * (tmp[n / 2 - 1] + tmp[n / 2]);
}

const char *bench_cpu_features(void)
{
    static char buf[128];
    buf[0] = '\0';
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        strcat(buf, "avx512f ");
    if (__builtin_cpu_supports("avx2"))
        strcat(buf, "avx2 ");
    if (__builtin_cpu_supports("fma"))
        strcat(buf, "fma ");
    if (buf[0] == '\0')
        strcat(buf, "scalar");
    else
        buf[strlen(buf) - 1] = '\0';
    return buf;
}

const char *bench_data_dir(void)
{
    static char buf[1024];
    struct stat st;
    const char *env = getenv("TROVE_DATA");
    if (env != NULL)
        snprintf(buf, sizeof buf, "%s", env);
    else
        snprintf(buf, sizeof buf, "%s/../shared/data", TROVE_SOURCE_DIR);
    if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "trove-bench: dataset directory %s not found (set TROVE_DATA)\n", buf);
        return NULL;
    }
    return buf;
}

const char *bench_data_path(const char *rel)
{
    static char bufs[4][1024];
    static int next;
    const char *dir = bench_data_dir();
    char *b = bufs[next++ & 3];
    snprintf(b, 1024, "%s/%s", dir ? dir : ".", rel);
    return b;
}

const char *bench_commit(void)
{
    return TROVE_GIT_COMMIT;
}

double bench_peak_rss_mib(void)
{
    char line[256];
    double kib = 0;
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL)
        return 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0)
            kib = strtod(line + 6, NULL);
    fclose(f);
    return kib / 1024.0;
}

static void list(FILE *f)
{
    fprintf(f, "usage: trove-bench <name> [args] | all | list\n\nbenchmarks:\n");
    for (const bench_entry *b = benches; b->name; b++)
        fprintf(f, "  %-12s %s\n", b->name, b->summary);
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "list") == 0 || strcmp(argv[1], "--help") == 0) {
        list(stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "all") == 0) {
        int rc = 0;
        for (const bench_entry *b = benches; b->name; b++) {
            char *sub[] = {(char *)b->name, NULL};
            printf("== %s\n", b->name);
            fflush(stdout);
            if (b->fn(1, sub) != 0)
                rc = 1;
        }
        return rc;
    }
    for (const bench_entry *b = benches; b->name; b++)
        if (strcmp(argv[1], b->name) == 0)
            return b->fn(argc - 1, argv + 1);
    fprintf(stderr, "trove-bench: unknown benchmark '%s'\n", argv[1]);
    list(stderr);
    return 2;
}
