/*
 * bench_main.c - `trove-bench <name> [args]`: runs one benchmark, or all of
 * them with `trove-bench all`. `trove-bench list` names them.
 *
 * Every benchmark is registered by one line in benches.def.
 */
#include "bench.h"
#include "bench_commit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

int bench_http_call(uint16_t port, const char *method, const char *path,
                    const char *token, const char *body, char *out, size_t out_size,
                    size_t *body_bytes)
{
    static char buf[1 << 20];     /* the answer's head; the rest is counted */
    size_t blen = body ? strlen(body) : 0, cap = strlen(path) + blen + 512, n = 0, kept = 0;
    char *req = malloc(cap);
    struct sockaddr_in a;
    int status = -1, fd = -1;
    if (req == NULL)
        return -1;
    int len = snprintf(req, cap,
                       "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                       "%s%s%sContent-Length: %zu\r\n\r\n%s",
                       method, path, token ? "Authorization: Bearer " : "",
                       token ? token : "", token ? "\r\n" : "", blen, body ? body : "");
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (len < 0 || (fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
        connect(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        send(fd, req, (size_t)len, MSG_NOSIGNAL) != len)
        goto done;
    for (;;) {
        char *to = kept + 1 < sizeof buf ? buf + kept : buf + sizeof buf - 1;
        size_t room = kept + 1 < sizeof buf ? sizeof buf - 1 - kept : 0;
        char sink[4096];
        ssize_t got = room > 0 ? recv(fd, to, room, 0) : recv(fd, sink, sizeof sink, 0);
        if (got <= 0)
            break;
        n += (size_t)got;
        if (room > 0)
            kept += (size_t)got;
    }
    buf[kept] = '\0';
    if (kept > 12)
        status = atoi(buf + 9);
    {
        const char *b = strstr(buf, "\r\n\r\n");
        size_t head = b ? (size_t)(b + 4 - buf) : n;
        if (body_bytes != NULL)
            *body_bytes = n - head;
        if (out != NULL && out_size > 0)
            snprintf(out, out_size, "%s", b ? b + 4 : "");
    }
done:
    if (fd >= 0)
        close(fd);
    free(req);
    return status;
}
