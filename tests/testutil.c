/*
 * testutil.c - helpers for the cmocka tests (see testutil.h).
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static long g_fail_after = -1;

static void *failing_malloc(void *ud, size_t size)
{
    (void)ud;
    if (g_fail_after == 0)
        return NULL;
    if (g_fail_after > 0)
        g_fail_after--;
    return malloc(size);
}

static void *failing_realloc(void *ud, void *ptr, size_t size)
{
    (void)ud;
    if (g_fail_after == 0)
        return NULL;
    if (g_fail_after > 0)
        g_fail_after--;
    return realloc(ptr, size);
}

static void plain_free(void *ud, void *ptr)
{
    (void)ud;
    free(ptr);
}

void testutil_fail_alloc_after(long k)
{
    if (k < 0) {
        g_fail_after = -1;
        trove_set_allocator(NULL);
        return;
    }
    g_fail_after = k;
    trove_allocator a = {failing_malloc, failing_realloc, plain_free, NULL};
    trove_set_allocator(&a);
}

static char g_tmpdir[256];

static void remove_tmpdir(void)
{
    char cmd[300];
    if (g_tmpdir[0] && getenv("TROVE_KEEP_TMP") == NULL) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmpdir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", g_tmpdir);
    }
}

const char *testutil_tmp_path(const char *name)
{
    static char bufs[8][512];
    static int next;
    char *b;
    if (g_tmpdir[0] == '\0') {
        const char *base = getenv("TMPDIR");
        snprintf(g_tmpdir, sizeof g_tmpdir, "%s/trove-test-XXXXXX",
                 base ? base : "/tmp");
        if (mkdtemp(g_tmpdir) == NULL) {
            perror("mkdtemp");
            abort();
        }
        atexit(remove_tmpdir);
    }
    b = bufs[next++ & 7];
    snprintf(b, 512, "%s/%s", g_tmpdir, name);
    return b;
}

const char *testutil_fixture(const char *name)
{
    static char bufs[4][512];
    static int next;
    const char *dir = getenv("TROVE_FIXTURES");
    char *b = bufs[next++ & 3];
    snprintf(b, 512, "%s/%s", dir ? dir : "tests/fixtures", name);
    return b;
}

const char *testutil_data_dir(void)
{
    struct stat st;
    const char *dir = getenv("TROVE_DATA");
    if (dir == NULL || stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return NULL;
    return dir;
}

int testutil_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return -1;
    size_t n = strlen(text);
    int rc = fwrite(text, 1, n, f) == n ? 0 : -1;
    if (fclose(f) != 0)
        rc = -1;
    return rc;
}

int testutil_run_trove(char **output, const char *fmt, ...)
{
    char args[4096], cmd[4608];
    const char *bin = getenv("TROVE_BIN");
    va_list ap;
    FILE *p;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int status;

    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "'%s' %s 2>&1", bin ? bin : "trove", args);
    p = popen(cmd, "r");
    if (p == NULL)
        return -1;
    for (;;) {
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 8192;
            buf = realloc(buf, cap);
            if (buf == NULL)
                abort();
        }
        size_t n = fread(buf + len, 1, cap - len - 1, p);
        if (n == 0)
            break;
        len += n;
    }
    buf[len] = '\0';
    status = pclose(p);
    if (output)
        *output = buf;
    else
        free(buf);
    if (status == -1 || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

char *testutil_http_exchange(uint16_t port, const char *raw, size_t len,
                             size_t *n)
{
    struct sockaddr_in a;
    size_t off = 0, cap = 1 << 16, got = 0;
    char *buf;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    while (off < len) {
        ssize_t w = send(fd, raw + off, len - off, MSG_NOSIGNAL);
        if (w <= 0)
            break;   /* the server may answer (413) and close early */
        off += (size_t)w;
    }
    buf = malloc(cap);
    assert_non_null(buf);
    for (;;) {
        ssize_t k;
        if (got + 4096 > cap) {
            char *more = realloc(buf, cap * 2);
            assert_non_null(more);
            buf = more;
            cap *= 2;
        }
        k = recv(fd, buf + got, cap - got - 1, 0);
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    buf[got] = '\0';
    close(fd);
    if (n != NULL)
        *n = got;
    return buf;
}

int testutil_http_status(const char *answer)
{
    if (strlen(answer) > 12 && strncmp(answer, "HTTP/1.", 7) == 0)
        return atoi(answer + 9);
    return -1;
}

const char *testutil_http_body(const char *answer)
{
    const char *b = strstr(answer, "\r\n\r\n");
    return b ? b + 4 : "";
}

uint16_t testutil_server_start(const trove_serve_params *p, trove_server **out)
{
    trove_error err;
    if (trove_server_start(p, out, &err) != TROVE_OK) {
        fprintf(stderr, "server: %s\n", err.msg);
        return 0;
    }
    return trove_server_port(*out);
}
