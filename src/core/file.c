/*
 * file.c - atomic file replacement and whole-file reads (see file.h).
 *
 * Invariants: a temporary file exists only between trove__file_open_tmp and
 * the commit (or its removal on failure); the target is touched only by the
 * one rename(2), which POSIX makes atomic within a file system, and the
 * fsync of the data before it and of the directory after it make the new
 * contents durable once the call returns.
 */
#include "core/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int trove__file_open_tmp(const char *path, char **tmp, int *fd, trove_error *err)
{
    static atomic_uint counter;
    size_t n = strlen(path) + 48;
    char *name = trove_malloc(n);
    int f = -1;
    if (name == NULL)
        return trove_error_set(err, TROVE_ENOMEM, "%s: out of memory", path);
    /* pid + process-wide counter make the name unique among writers; a
     * stale file left by a crashed process with the same pid is skipped. */
    for (int attempt = 0; attempt < 64 && f < 0; attempt++) {
        snprintf(name, n, "%s.tmp.%ld.%u", path, (long)getpid(),
                 atomic_fetch_add(&counter, 1u));
        f = open(name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (f < 0 && errno != EEXIST)
            break;
    }
    if (f < 0) {
        int rc = trove_error_set(err, TROVE_EIO, "%s: cannot create a temporary file: %s",
                                 path, strerror(errno));
        trove_free(name);
        return rc;
    }
    *tmp = name;
    *fd = f;
    return TROVE_OK;
}

/* fsync the directory holding path so that the rename is durable. Failure
 * is only logged: the data itself is already safe. */
static void sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    int dfd;
    if (slash == NULL) {
        dfd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    } else {
        size_t n = slash == path ? 1 : (size_t)(slash - path);
        dir = trove_malloc(n + 1);
        if (dir == NULL)
            return;
        memcpy(dir, path, n);
        dir[n] = '\0';
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        trove_free(dir);
    }
    if (dfd < 0)
        return;
    if (fsync(dfd) != 0)
        trove_log(TROVE_LOG_DEBUG, "%s: fsync of the directory: %s", path, strerror(errno));
    close(dfd);
}

int trove__file_commit_tmp(const char *tmp, const char *path, trove_error *err)
{
    int rc = TROVE_OK;
    int fd = open(tmp, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        rc = trove_error_set(err, TROVE_EIO, "%s: cannot sync %s: %s", path, tmp,
                             strerror(errno));
        goto fail_tmp;
    }
    close(fd);
    fd = -1;
    if (rename(tmp, path) != 0) {
        rc = trove_error_set(err, TROVE_EIO, "%s: cannot rename %s into place: %s", path,
                             tmp, strerror(errno));
        goto fail_tmp;
    }
    sync_dir(path);
    return TROVE_OK;
fail_tmp:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return rc;
}

static int write_all(int fd, const unsigned char *p, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, p, len > (1u << 30) ? (1u << 30) : len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int trove__file_write_atomic(const char *path, const void *const *parts,
                             const size_t *lens, size_t n_parts, trove_error *err)
{
    char *tmp = NULL;
    int fd = -1;
    int rc = trove__file_open_tmp(path, &tmp, &fd, err);
    if (rc != TROVE_OK)
        return rc;
    for (size_t i = 0; i < n_parts; i++) {
        if (lens[i] > 0 && write_all(fd, parts[i], lens[i]) != 0) {
            rc = trove_error_set(err, TROVE_EIO, "%s: write failed: %s", tmp,
                                 strerror(errno));
            goto fail_tmp;
        }
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = trove_error_set(err, TROVE_EIO, "%s: close failed: %s", tmp, strerror(errno));
        goto fail_tmp;
    }
    fd = -1;
    rc = trove__file_commit_tmp(tmp, path, err);
    goto done;
fail_tmp:
    if (fd >= 0)
        close(fd);
    unlink(tmp);
done:
    trove_free(tmp);
    return rc;
}

int trove__file_save_encoded(const char *path, int rc, unsigned char *buf, size_t len,
                             trove_error *err)
{
    const void *part = buf;
    if (rc == TROVE_OK)
        rc = trove__file_write_atomic(path, &part, &len, 1, err);
    else
        trove_error_prefix(err, "%s", path);
    trove_free(buf);
    return rc;
}

int trove__file_read_all(const char *path, size_t max_len, unsigned char **buf,
                         size_t *len, trove_error *err)
{
    struct stat st;
    unsigned char *p = NULL;
    size_t size, got = 0;
    int rc = TROVE_OK;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return trove_error_set(err, errno == ENOENT ? TROVE_ENOTFOUND : TROVE_EIO,
                               "%s: cannot open: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = trove_error_set(err, TROVE_EIO, "%s: not a regular file", path);
        goto done_fd;
    }
    if ((uint64_t)st.st_size > (uint64_t)max_len || (uint64_t)st.st_size >= SIZE_MAX) {
        rc = trove_error_set(err, TROVE_ERANGE, "%s: %lld bytes: larger than %zu", path,
                             (long long)st.st_size, max_len);
        goto done_fd;
    }
    size = (size_t)st.st_size;
    p = trove_malloc(size + 1);
    if (p == NULL) {
        rc = trove_error_set(err, TROVE_ENOMEM, "%s: out of memory reading %zu bytes", path,
                             size);
        goto done_fd;
    }
    while (got < size) {
        ssize_t r = read(fd, p + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = trove_error_set(err, TROVE_EIO, "%s: read failed after %zu of %zu bytes",
                                 path, got, size);
            trove_free(p);
            goto done_fd;
        }
        got += (size_t)r;
    }
    p[size] = 0;
    *buf = p;
    *len = size;
done_fd:
    close(fd);
    return rc;
}
