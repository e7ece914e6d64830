/*
 * embed_assets.c - build-time generator of the dashboard's asset table.
 *
 *   trove-embed-assets OUT.c [DIR]
 *
 * Writes OUT.c defining trove__serve_static_assets[] (see
 * src/serve/static_assets.h) from every regular file under DIR: the bytes,
 * a content type from the file name's extension, a gzip encoding when it is
 * at least 10% smaller, and whether the name carries a content hash (files
 * under assets/, which the bundler names <name>-<hash>.<ext>). Without DIR
 * the table is empty (the dashboard was not built).
 *
 * Reproducible: files are listed in byte order of their paths, the gzip
 * header carries no time and no name (zlib's default header has mtime 0),
 * and nothing else of the machine or the clock goes into OUT.c. OUT.c is
 * written to OUT.c.tmp and renamed, so a failed run leaves no half file.
 *
 * Exit status: 0 on success, 1 on a read/write/compress failure, 2 on usage.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

typedef struct file_list {
    char  **rel;     /* paths relative to DIR, "/"-separated */
    size_t  n, cap;
} file_list;

static int list_add(file_list *l, const char *rel)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 32;
        char **p = realloc(l->rel, cap * sizeof *p);
        if (p == NULL)
            return -1;
        l->rel = p;
        l->cap = cap;
    }
    l->rel[l->n] = strdup(rel);
    if (l->rel[l->n] == NULL)
        return -1;
    l->n++;
    return 0;
}

/* Every regular file under root/rel, recursively. */
static int walk(const char *root, const char *rel, file_list *l)
{
    char path[4096], sub[4096];
    DIR *d;
    struct dirent *e;
    int rc = 0;
    snprintf(path, sizeof path, "%s%s%s", root, rel[0] ? "/" : "", rel);
    d = opendir(path);
    if (d == NULL) {
        fprintf(stderr, "embed_assets: %s: %s\n", path, strerror(errno));
        return -1;
    }
    while (rc == 0 && (e = readdir(d)) != NULL) {
        struct stat st;
        char full[8192];
        if (e->d_name[0] == '.')
            continue;
        if ((size_t)snprintf(sub, sizeof sub, "%s%s%s", rel, rel[0] ? "/" : "",
                             e->d_name) >= sizeof sub) {
            fprintf(stderr, "embed_assets: path too long under %s\n", path);
            rc = -1;
            break;
        }
        snprintf(full, sizeof full, "%s/%s", root, sub);
        if (stat(full, &st) != 0) {
            fprintf(stderr, "embed_assets: %s: %s\n", full, strerror(errno));
            rc = -1;
        } else if (S_ISDIR(st.st_mode)) {
            rc = walk(root, sub, l);
        } else if (S_ISREG(st.st_mode)) {
            rc = list_add(l, sub);
        }
    }
    closedir(d);
    return rc;
}

static int by_bytes(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static const char *content_type(const char *name)
{
    static const struct { const char *ext, *type; } types[] = {
        { ".html", "text/html; charset=utf-8" },
        { ".js", "text/javascript; charset=utf-8" },
        { ".mjs", "text/javascript; charset=utf-8" },
        { ".css", "text/css; charset=utf-8" },
        { ".json", "application/json" },
        { ".svg", "image/svg+xml" },
        { ".png", "image/png" },
        { ".ico", "image/x-icon" },
        { ".woff2", "font/woff2" },
        { ".txt", "text/plain; charset=utf-8" },
    };
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot != NULL && i < sizeof types / sizeof *types; i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

static int read_file(const char *path, unsigned char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    size_t cap = 0, n = 0, got;
    int rc = -1;
    if (f == NULL) {
        fprintf(stderr, "embed_assets: %s: %s\n", path, strerror(errno));
        return -1;
    }
    do {
        if (n == cap) {
            size_t ncap = cap ? 2 * cap : 65536;
            unsigned char *p = realloc(buf, ncap);
            if (p == NULL)
                goto done;
            buf = p;
            cap = ncap;
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
    } while (got > 0);
    if (ferror(f)) {
        fprintf(stderr, "embed_assets: %s: read error\n", path);
        goto done;
    }
    *out = buf;
    *len = n;
    buf = NULL;
    rc = 0;
done:
    free(buf);
    fclose(f);
    return rc;
}

/* gzip (RFC 1952) of data at level 9; zlib writes mtime 0 and no name. */
static int gzip(const unsigned char *data, size_t len, unsigned char **out,
                size_t *out_len)
{
    z_stream z;
    unsigned char *buf;
    size_t cap;
    int rc;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    cap = deflateBound(&z, (uLong)len) + 32;
    buf = malloc(cap);
    if (buf == NULL) {
        deflateEnd(&z);
        return -1;
    }
    z.next_in = (Bytef *)(uintptr_t)data;
    z.avail_in = (uInt)len;
    z.next_out = buf;
    z.avail_out = (uInt)cap;
    rc = deflate(&z, Z_FINISH);
    *out_len = z.total_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(buf);
        return -1;
    }
    *out = buf;
    return 0;
}

static void emit_bytes(FILE *f, const char *name, const unsigned char *p,
                       size_t n)
{
    fprintf(f, "static const unsigned char %s[%zu] = {", name, n ? n : 1);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s%u,", i % 24 ? "" : "\n", (unsigned)p[i]);
    fprintf(f, "%s\n};\n", n ? "" : "0");
}

static void emit_c_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

int main(int argc, char **argv)
{
    file_list l = { NULL, 0, 0 };
    size_t *lens = NULL, *gz_lens = NULL;
    char tmp[4096];
    FILE *f = NULL;
    int rc = 1;
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: embed_assets OUT.c [DIR]\n");
        return 2;
    }
    if (argc == 3 && walk(argv[2], "", &l) != 0)
        goto done;
    qsort(l.rel, l.n, sizeof *l.rel, by_bytes);
    lens = calloc(l.n + 1, sizeof *lens);
    gz_lens = calloc(l.n + 1, sizeof *gz_lens);
    if (lens == NULL || gz_lens == NULL)
        goto done;
    snprintf(tmp, sizeof tmp, "%s.tmp", argv[1]);
    f = fopen(tmp, "w");
    if (f == NULL) {
        fprintf(stderr, "embed_assets: %s: %s\n", tmp, strerror(errno));
        goto done;
    }
    fprintf(f, "/* Generated by cmake/embed_assets.c from the dashboard's "
               "build output; do not edit. */\n"
               "#include \"serve/static_assets.h\"\n\n");
    /* the bytes of each file and, when it saves 10%, of its gzip */
    for (size_t i = 0; i < l.n; i++) {
        char path[8192], name[64];
        unsigned char *data = NULL, *gz = NULL;
        size_t len = 0, gz_len = 0;
        snprintf(path, sizeof path, "%s/%s", argv[2], l.rel[i]);
        if (read_file(path, &data, &len) != 0)
            goto done;
        if (gzip(data, len, &gz, &gz_len) != 0) {
            fprintf(stderr, "embed_assets: %s: gzip failed\n", path);
            free(data);
            goto done;
        }
        snprintf(name, sizeof name, "a%zu", i);
        emit_bytes(f, name, data, len);
        lens[i] = len;
        if (gz_len * 10 < len * 9) {
            snprintf(name, sizeof name, "a%zu_gz", i);
            emit_bytes(f, name, gz, gz_len);
            gz_lens[i] = gz_len;
        }
        free(data);
        free(gz);
    }
    /* the table, sorted by path */
    fprintf(f, "\nconst serve_asset trove__serve_static_assets[] = {\n");
    for (size_t i = 0; i < l.n; i++) {
        int immutable = strncmp(l.rel[i], "assets/", 7) == 0;
        fprintf(f, "    { \"/");
        for (const char *c = l.rel[i]; *c; c++)
            fputc(*c == '"' || *c == '\\' ? '_' : *c, f);
        fprintf(f, "\", ");
        emit_c_string(f, content_type(l.rel[i]));
        if (gz_lens[i] > 0)
            fprintf(f, ", a%zu, %zu, a%zu_gz, %zu, %d },\n", i, lens[i], i,
                    gz_lens[i], immutable);
        else
            fprintf(f, ", a%zu, %zu, NULL, 0, %d },\n", i, lens[i], immutable);
    }
    fprintf(f, "    { NULL, NULL, NULL, 0, NULL, 0, 0 }\n};\n"
               "const size_t trove__serve_static_n_assets = %zu;\n", l.n);
    if (fclose(f) != 0) {
        f = NULL;
        fprintf(stderr, "embed_assets: %s: write error\n", tmp);
        goto done;
    }
    f = NULL;
    if (rename(tmp, argv[1]) != 0) {
        fprintf(stderr, "embed_assets: %s: %s\n", argv[1], strerror(errno));
        goto done;
    }
    rc = 0;
done:
    if (f != NULL)
        fclose(f);
    for (size_t i = 0; i < l.n; i++)
        free(l.rel[i]);
    free(l.rel);
    free(lens);
    free(gz_lens);
    return rc;
}
