/*
 * reader.c - line reader over plain or gzip files (see reader.h).
 *
 * A single buffer holds the decompressed bytes; lines are found with memchr
 * and handed out in place. When a line straddles the end of the buffer, the
 * partial line is moved to the front and the buffer refilled (doubling it
 * when a single line is longer than the buffer, up to the line limit).
 * Gzip input is inflated with zlib's inflate() directly (windowBits 15+32:
 * gzip or zlib header auto-detected; concatenated members supported) so
 * that a stream ending early is detected as an error.
 */
#include "data/reader.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#define IN_CHUNK  (256u * 1024u)
#define BUF_START (1024u * 1024u)

struct trove__reader {
    FILE *f;
    int is_stdin;
    int gzip;
    int eof;                 /* no more input bytes will come */
    z_stream zs;
    int zs_init;
    int stream_end;          /* the current gzip member ended cleanly */
    unsigned char *in;       /* compressed input chunk (gzip only) */
    char *buf;
    size_t cap, start, end;  /* unread bytes are buf[start, end) */
    uint64_t lineno;
    uint64_t bytes;
    char *path;
};

static int fill_plain(trove__reader *r, size_t room, size_t *got, trove_error *err)
{
    size_t n = fread(r->buf + r->end, 1, room, r->f);
    if (n < room) {
        if (ferror(r->f))
            return trove_error_set(err, TROVE_EIO, "%s:%llu: read error: %s",
                                   r->path, (unsigned long long)r->lineno + 1,
                                   strerror(errno));
        r->eof = 1;
    }
    *got = n;
    return TROVE_OK;
}

static int fill_gzip(trove__reader *r, size_t room, size_t *got, trove_error *err)
{
    z_stream *zs = &r->zs;
    zs->next_out = (Bytef *)(r->buf + r->end);
    zs->avail_out = (uInt)room;
    while (zs->avail_out > 0) {
        int zrc;
        if (zs->avail_in == 0) {
            size_t n = fread(r->in, 1, IN_CHUNK, r->f);
            if (n == 0) {
                if (ferror(r->f))
                    return trove_error_set(err, TROVE_EIO, "%s:%llu: read error: %s",
                                           r->path, (unsigned long long)r->lineno + 1,
                                           strerror(errno));
                if (!r->stream_end)
                    return trove_error_set(err, TROVE_ECORRUPT,
                                           "%s:%llu: truncated gzip stream",
                                           r->path, (unsigned long long)r->lineno + 1);
                r->eof = 1;
                break;
            }
            zs->next_in = r->in;
            zs->avail_in = (uInt)n;
            if (r->stream_end) {
                /* another gzip member follows (concatenated .gz files) */
                if (inflateReset(zs) != Z_OK)
                    return trove_error_set(err, TROVE_ECORRUPT, "%s: bad gzip member",
                                           r->path);
                r->stream_end = 0;
            }
        }
        if (r->stream_end) {
            /* bytes after a finished member: only a new member may follow */
            if (inflateReset(zs) != Z_OK)
                return trove_error_set(err, TROVE_ECORRUPT, "%s: bad gzip member", r->path);
            r->stream_end = 0;
        }
        zrc = inflate(zs, Z_NO_FLUSH);
        if (zrc == Z_STREAM_END) {
            r->stream_end = 1;
            continue;
        }
        if (zrc == Z_BUF_ERROR && zs->avail_in == 0)
            continue;
        if (zrc != Z_OK)
            return trove_error_set(err, TROVE_ECORRUPT, "%s:%llu: corrupt gzip data (%s)",
                                   r->path, (unsigned long long)r->lineno + 1,
                                   zs->msg ? zs->msg : "inflate failed");
    }
    *got = room - zs->avail_out;
    return TROVE_OK;
}

int trove__reader_open(const char *path, trove__reader **out, trove_error *err)
{
    trove__reader *r;
    int c1, c2;
    int rc = TROVE_ENOMEM;

    r = trove_calloc(1, sizeof *r);
    if (r == NULL)
        return trove_error_set(err, TROVE_ENOMEM, "%s: out of memory", path);
    r->path = trove_strdup(path);
    if (r->path == NULL)
        goto fail;
    if (strcmp(path, "-") == 0) {
        r->f = stdin;
        r->is_stdin = 1;
    } else {
        r->f = fopen(path, "rb");
        if (r->f == NULL) {
            rc = trove_error_set(err, errno == ENOENT ? TROVE_ENOTFOUND : TROVE_EIO,
                                 "%s: cannot open: %s", path, strerror(errno));
            goto fail;
        }
    }
    r->cap = BUF_START;
    r->buf = trove_malloc(r->cap + 1);
    if (r->buf == NULL)
        goto fail;
    /* Peek at the magic bytes: two for files (then rewind), one for
     * standard input, where only one byte can be pushed back. */
    c1 = getc(r->f);
    c2 = 0x8b;
    if (!r->is_stdin && c1 != EOF)
        c2 = getc(r->f);
    if (r->is_stdin) {
        if (c1 != EOF)
            ungetc(c1, r->f);
    } else {
        rewind(r->f);
    }
    if (c1 == 0x1f && c2 == 0x8b) {
        r->gzip = 1;
        r->in = trove_malloc(IN_CHUNK);
        if (r->in == NULL)
            goto fail;
        if (inflateInit2(&r->zs, 15 + 32) != Z_OK)
            goto fail;
        r->zs_init = 1;
    }
    *out = r;
    return TROVE_OK;
fail:
    if (rc == TROVE_ENOMEM)
        trove_error_set(err, TROVE_ENOMEM, "%s: out of memory", path);
    trove__reader_close(r);
    return rc;
}

void trove__reader_close(trove__reader *r)
{
    if (r == NULL)
        return;
    if (r->zs_init)
        inflateEnd(&r->zs);
    if (r->f != NULL && !r->is_stdin)
        fclose(r->f);
    trove_free(r->in);
    trove_free(r->buf);
    trove_free(r->path);
    trove_free(r);
}

int trove__reader_next(trove__reader *r, char **line, size_t *len, trove_error *err)
{
    for (;;) {
        char *nl = NULL;
        if (r->end > r->start)
            nl = memchr(r->buf + r->start, '\n', r->end - r->start);
        if (nl != NULL || (r->eof && r->end > r->start)) {
            char *s = r->buf + r->start;
            size_t n = nl ? (size_t)(nl - s) : r->end - r->start;
            r->start += n + (nl ? 1 : 0);
            if (n > 0 && s[n - 1] == '\r')
                n--;
            s[n] = '\0';   /* buf has one spare byte past cap for the last line */
            r->lineno++;
            r->bytes += n + 1;
            *line = s;
            *len = n;
            return 1;
        }
        if (r->eof)
            return 0;
        /* compact, grow if one line fills the whole buffer, then refill */
        if (r->start > 0) {
            memmove(r->buf, r->buf + r->start, r->end - r->start);
            r->end -= r->start;
            r->start = 0;
        }
        if (r->end == r->cap) {
            char *nb;
            if (r->cap >= TROVE__READER_MAX_LINE)
                return trove_error_set(err, TROVE_EFORMAT, "%s:%llu: line longer than %u bytes",
                                       r->path, (unsigned long long)r->lineno + 1,
                                       TROVE__READER_MAX_LINE);
            nb = trove_realloc(r->buf, r->cap * 2 + 1);
            if (nb == NULL)
                return trove_error_set(err, TROVE_ENOMEM, "%s: out of memory", r->path);
            r->buf = nb;
            r->cap *= 2;
        }
        {
            size_t got = 0;
            int rc = r->gzip ? fill_gzip(r, r->cap - r->end, &got, err)
                             : fill_plain(r, r->cap - r->end, &got, err);
            if (rc != TROVE_OK)
                return rc;
            r->end += got;
        }
    }
}

uint64_t trove__reader_lineno(const trove__reader *r) { return r->lineno; }
const char *trove__reader_path(const trove__reader *r) { return r->path; }
int trove__reader_is_gzip(const trove__reader *r) { return r->gzip; }
uint64_t trove__reader_bytes(const trove__reader *r) { return r->bytes; }
