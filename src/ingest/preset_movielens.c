/*
 * preset_movielens.c - the MovieLens presets (Harper & Konstan, "The
 * MovieLens Datasets: History and Context", ACM TiiS 5(4), 2015).
 *
 * "movielens-100k": a folder with
 *   u.genre  name|index (optional: the 19 standard names otherwise);
 *   u.user   id|age|gender|occupation|zip -> user features "age=<band>"
 *            (the MovieLens 1M bands: under 18, 18-24, 25-34, 35-44, 45-49,
 *            50-55, 56+), "gender=M|F", "occupation=<name>";
 *   u.item   id|title|release|video release|url|19 genre flags, latin-1:
 *            title converted to UTF-8 (kept as is when already valid UTF-8),
 *            one feature "genre=<name>" per flag set;
 *   u.data   user<TAB>item<TAB>rating<TAB>unix time -> RATING events.
 * Users and items are read before the events.
 *
 * "movielens-latest": a folder with
 *   movies.csv   movieId,title,genres ("A|B|C"; "(no genres listed)" = none)
 *                -> items with "genre=<name>" features (optional file);
 *   ratings.csv  userId,movieId,rating,timestamp -> RATING events;
 *   tags.csv     userId,movieId,tag,timestamp -> item features
 *                "tag=<lower-case tag>" weighted by the number of distinct
 *                users who applied the tag to the movie (optional file).
 * Columns are found by header name.
 */
#include "ingest/ingest_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define N_GENRES 19

static const char *const std_genres[N_GENRES] = {
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western"
};

typedef struct ml {
    trove_ingest *in;
    char genres[N_GENRES][64];
    /* movielens-latest: column positions */
    int c_user, c_item, c_rating, c_ts, c_title, c_genres, c_tag;
    /* tags: (item, tag, user) triples, aggregated at the end */
    trove_idmap *tags;
    uint32_t (*triples)[3];
    size_t n_triples, cap_triples;
} ml;

static const char *join(char *buf, size_t cap, const char *dir, const char *name)
{
    snprintf(buf, cap, "%s/%s", dir, name);
    return buf;
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int need_dir(const char *dir, trove_error *err)
{
    struct stat st;
    if (stat(dir, &st) != 0)
        return trove_error_set(err, TROVE_ENOTFOUND, "%s: no such folder", dir);
    if (!S_ISDIR(st.st_mode))
        return trove_error_set(err, TROVE_EINVAL, "%s: not a folder (the MovieLens presets "
                               "read a folder)", dir);
    return TROVE_OK;
}

/* ------------------------------------------------------------ 100k */

static int genre_row(void *ctx, trove__field *f, size_t n, trove_error *err)
{
    ml *m = ctx;
    int64_t idx;
    (void)n;
    if (trove__parse_i64(f[1].s, f[1].len, &idx) != 0 || idx < 0 || idx >= N_GENRES ||
        f[0].len == 0 || f[0].len >= sizeof m->genres[0])
        return trove__ingest_reject(m->in, TROVE_INGEST_NO_MARKET, "bad genre", err,
                                    "genre '%s|%s' is not name|index (0-18)", f[0].s, f[1].s);
    memcpy(m->genres[idx], f[0].s, f[0].len + 1);
    trove__ingest_accept(m->in);
    return TROVE_OK;
}

static const char *age_band(int64_t age)
{
    if (age < 18)
        return "under 18";
    if (age < 25)
        return "18-24";
    if (age < 35)
        return "25-34";
    if (age < 45)
        return "35-44";
    if (age < 50)
        return "45-49";
    if (age < 56)
        return "50-55";
    return "56+";
}

static int user_row(void *ctx, trove__field *f, size_t n, trove_error *err)
{
    ml *m = ctx;
    trove_ingest *in = m->in;
    int64_t age;
    uint32_t u;
    const char *band;
    int rc;
    (void)n;
    if (f[0].len == 0)
        return trove__ingest_reject(in, TROVE_INGEST_NO_MARKET, "missing id", err,
                                    "missing user id");
    if (trove__parse_i64(f[1].s, f[1].len, &age) != 0 || age < 0 || age > 150)
        return trove__ingest_reject(in, TROVE_INGEST_NO_MARKET, "non-numeric value", err,
                                    "age '%s' is not a number of years", f[1].s);
    if (!(f[2].len == 1 && (f[2].s[0] == 'M' || f[2].s[0] == 'F')))
        return trove__ingest_reject(in, TROVE_INGEST_NO_MARKET, "bad value", err,
                                    "gender '%s' is not M or F", f[2].s);
    if (f[3].len == 0)
        return trove__ingest_reject(in, TROVE_INGEST_NO_MARKET, "bad value", err,
                                    "missing occupation");
    rc = trove__ingest_user(in, f[0].s, f[0].len, TROVE_INGEST_NO_MARKET, &u, NULL, err);
    if (rc != TROVE_OK)
        return rc;
    band = age_band(age);
    rc = trove__ingest_feature_kv(in, TROVE_FEATURE_USER, u, "age", band, strlen(band), 0, err);
    if (rc == TROVE_OK)
        rc = trove__ingest_feature_kv(in, TROVE_FEATURE_USER, u, "gender", f[2].s, f[2].len,
                                      0, err);
    if (rc == TROVE_OK)
        rc = trove__ingest_feature_kv(in, TROVE_FEATURE_USER, u, "occupation", f[3].s,
                                      f[3].len, 0, err);
    if (rc == TROVE_OK)
        trove__ingest_accept(in);
    return rc;
}

/* Title to UTF-8 in in->text: kept when valid UTF-8, else read as latin-1. */
static const char *title_utf8(trove_ingest *in, const char *s, size_t n)
{
    if (trove__utf8_valid(s, n))
        return s;
    if (trove__buf_reserve(&in->text, 2 * n + 1) != TROVE_OK)
        return NULL;
    trove__latin1_to_utf8(s, n, in->text.p);
    return in->text.p;
}

static int item_row(void *ctx, trove__field *f, size_t n, trove_error *err)
{
    ml *m = ctx;
    trove_ingest *in = m->in;
    const char *title;
    uint32_t it;
    int rc, g;
    (void)n;
    if (f[0].len == 0)
        return trove__ingest_reject(in, TROVE_INGEST_NO_MARKET, "missing id", err,
                                    "missing movie id");
    for (g = 0; g < N_GENRES; g++) {
        const trove__field *fl = &f[5 + g];
        if (fl->len != 1 || (fl->s[0] != '0' && fl->s[0] != '1'))
            return trove__ingest_reject(in, TROVE_INGEST_NO_MARKET, "bad value", err,
                                        "genre flag %d is '%s', not 0 or 1", g + 1, fl->s);
    }
    if (!trove__utf8_valid(f[0].s, f[0].len))
        return trove__ingest_reject(in, TROVE_INGEST_NO_MARKET, "invalid UTF-8", err,
                                    "invalid UTF-8 in movie id");
    title = title_utf8(in, f[1].s, f[1].len);
    if (title == NULL)
        return trove_error_set(err, TROVE_ENOMEM, "ingest: out of memory");
    rc = trove__ingest_item(in, f[0].s, f[0].len, title, &it, NULL, err);
    if (rc != TROVE_OK)
        return rc;
    for (g = 0; g < N_GENRES && rc == TROVE_OK; g++)
        if (f[5 + g].s[0] == '1')
            rc = trove__ingest_feature_kv(in, TROVE_FEATURE_ITEM, it, "genre", m->genres[g],
                                          strlen(m->genres[g]), 0, err);
    if (rc == TROVE_OK)
        trove__ingest_accept(in);
    return rc;
}

/* One rating: shared by both presets. */
static int rating(ml *m, trove__field *fu, trove__field *fi, trove__field *fr,
                  trove__field *ft, trove_error *err)
{
    trove_ingest *in = m->in;
    trove_ingest_event ev;
    double value;
    int64_t ts;
    int rc;

    if (fu->len == 0 || fi->len == 0)
        return trove__ingest_reject(in, TROVE_INGEST_NO_MARKET, "missing id", err,
                                    "missing %s id", fu->len == 0 ? "user" : "movie");
    if (trove__parse_double(fr->s, fr->len, &value) != 0)
        return trove__ingest_reject(in, TROVE_INGEST_NO_MARKET, "non-numeric value", err,
                                    "rating '%s' is not a number", fr->s);
    if (trove__parse_i64(ft->s, ft->len, &ts) != 0)
        return trove__ingest_reject(in, TROVE_INGEST_NO_MARKET, "bad timestamp", err,
                                    "timestamp '%s' is not Unix seconds", ft->s);
    memset(&ev, 0, sizeof ev);
    ev.id = trove__ingest_event_id(in, fu->s, fu->len, fi->s, fi->len, NULL, 0, NULL, 0,
                                   TROVE_EVENT_RATING, ts, value);
    trove__ingest_prefetch(in, ev.id);
    rc = trove__ingest_user(in, fu->s, fu->len, TROVE_INGEST_NO_MARKET, &ev.user, NULL, err);
    if (rc == TROVE_OK)
        rc = trove__ingest_item(in, fi->s, fi->len, NULL, &ev.item, NULL, err);
    if (rc != TROVE_OK)
        return rc;
    ev.market = TROVE_INGEST_NO_MARKET;
    ev.user_ext = fu->s;
    ev.item_ext = fi->s;
    ev.type = TROVE_EVENT_RATING;
    ev.value = value;
    ev.ts = ts;
    return trove__ingest_event(in, &ev, err);
}

static int data_row(void *ctx, trove__field *f, size_t n, trove_error *err)
{
    (void)n;
    return rating(ctx, &f[0], &f[1], &f[2], &f[3], err);
}

int trove__preset_ml100k(trove_ingest *in, const char *dir, trove_error *err)
{
    char path[4096];
    ml m;
    int rc;
    static const char *const files[] = {"u.user", "u.item", "u.data"};

    memset(&m, 0, sizeof m);
    m.in = in;
    for (int g = 0; g < N_GENRES; g++)
        snprintf(m.genres[g], sizeof m.genres[g], "%s", std_genres[g]);
    rc = need_dir(dir, err);
    if (rc != TROVE_OK)
        return rc;
    for (size_t k = 0; k < sizeof files / sizeof files[0]; k++)
        if (!file_exists(join(path, sizeof path, dir, files[k])))
            return trove_error_set(err, TROVE_ENOTFOUND,
                                   "%s: missing (movielens-100k reads u.user, u.item and "
                                   "u.data)", path);
    if (file_exists(join(path, sizeof path, dir, "u.genre"))) {
        rc = trove__ingest_read_rows(in, path, '|', 0, 0, 2, 1, NULL, genre_row, &m, err);
        if (rc != TROVE_OK)
            return rc;
    }
    rc = trove__ingest_read_rows(in, join(path, sizeof path, dir, "u.user"), '|', 0, 0, 5, 1,
                                 NULL, user_row, &m, err);
    if (rc == TROVE_OK)
        rc = trove__ingest_read_rows(in, join(path, sizeof path, dir, "u.item"), '|', 0, 0,
                                     5 + N_GENRES, 0, NULL, item_row, &m, err);
    if (rc == TROVE_OK)
        rc = trove__ingest_read_rows(in, join(path, sizeof path, dir, "u.data"), '\t', 0, 0,
                                     4, 1, NULL, data_row, &m, err);
    return rc;
}

/* ------------------------------------------------------------ latest */

static int find_col(trove__field *f, size_t n, const char *name)
{
    for (size_t k = 0; k < n; k++)
        if (strcmp(f[k].s, name) == 0)
            return (int)k;
    return -1;
}

static int cols(ml *m, trove__field *f, size_t n, const char *const *names, int **slots,
                trove_error *err)
{
    for (int k = 0; names[k]; k++) {
        *slots[k] = find_col(f, n, names[k]);
        if (*slots[k] < 0)
            return trove_error_set(err, TROVE_EFORMAT, "%s:1: no column '%s' in the header",
                                   m->in->cur_path ? m->in->cur_path : "?", names[k]);
    }
    return TROVE_OK;
}

static int movies_header(void *ctx, trove__field *f, size_t n, trove_error *err)
{
    ml *m = ctx;
    static const char *const names[] = {"movieId", "title", "genres", NULL};
    int *slots[] = {&m->c_item, &m->c_title, &m->c_genres};
    return cols(m, f, n, names, slots, err);
}

static int movies_row(void *ctx, trove__field *f, size_t n, trove_error *err)
{
    ml *m = ctx;
    trove_ingest *in = m->in;
    trove__field *id = &f[m->c_item], *g = &f[m->c_genres];
    size_t tlen = f[m->c_title].len;
    char *title = trove__trim(f[m->c_title].s, &tlen);
    uint32_t it;
    int rc;
    (void)n;
    if (id->len == 0)
        return trove__ingest_reject(in, TROVE_INGEST_NO_MARKET, "missing id", err,
                                    "missing movieId");
    rc = trove__ingest_item(in, id->s, id->len, title, &it, NULL, err);
    if (rc != TROVE_OK)
        return rc;
    if (strcmp(g->s, "(no genres listed)") != 0) {
        char *p = g->s, *end = g->s + g->len;
        while (p < end && rc == TROVE_OK) {
            char *bar = memchr(p, '|', (size_t)(end - p));
            size_t len = (size_t)((bar ? bar : end) - p);
            if (len > 0)
                rc = trove__ingest_feature_kv(in, TROVE_FEATURE_ITEM, it, "genre", p, len, 0,
                                              err);
            p += len + 1;
        }
    }
    if (rc == TROVE_OK)
        trove__ingest_accept(in);
    return rc;
}

static int ratings_header(void *ctx, trove__field *f, size_t n, trove_error *err)
{
    ml *m = ctx;
    static const char *const names[] = {"userId", "movieId", "rating", "timestamp", NULL};
    int *slots[] = {&m->c_user, &m->c_item, &m->c_rating, &m->c_ts};
    return cols(m, f, n, names, slots, err);
}

static int ratings_row(void *ctx, trove__field *f, size_t n, trove_error *err)
{
    ml *m = ctx;
    (void)n;
    return rating(m, &f[m->c_user], &f[m->c_item], &f[m->c_rating], &f[m->c_ts], err);
}

static int tags_header(void *ctx, trove__field *f, size_t n, trove_error *err)
{
    ml *m = ctx;
    static const char *const names[] = {"userId", "movieId", "tag", NULL};
    int *slots[] = {&m->c_user, &m->c_item, &m->c_tag};
    return cols(m, f, n, names, slots, err);
}

static int tags_row(void *ctx, trove__field *f, size_t n, trove_error *err)
{
    ml *m = ctx;
    trove_ingest *in = m->in;
    trove__field *fu = &f[m->c_user], *fi = &f[m->c_item];
    size_t tlen = f[m->c_tag].len;
    char *tag = trove__trim(f[m->c_tag].s, &tlen);
    uint32_t u, it, t;
    int rc;
    (void)n;
    if (fu->len == 0 || fi->len == 0)
        return trove__ingest_reject(in, TROVE_INGEST_NO_MARKET, "missing id", err,
                                    "missing %s id", fu->len == 0 ? "user" : "movie");
    if (tlen == 0)
        return trove__ingest_reject(in, TROVE_INGEST_NO_MARKET, "bad value", err, "empty tag");
    for (size_t k = 0; k < tlen; k++)
        if (tag[k] >= 'A' && tag[k] <= 'Z')
            tag[k] = (char)(tag[k] - 'A' + 'a');
    rc = trove__ingest_user(in, fu->s, fu->len, TROVE_INGEST_NO_MARKET, &u, NULL, err);
    if (rc == TROVE_OK)
        rc = trove__ingest_item(in, fi->s, fi->len, NULL, &it, NULL, err);
    if (rc != TROVE_OK)
        return rc;
    rc = trove_idmap_intern(m->tags, tag, tlen, &t, NULL);
    if (rc == TROVE_OK && m->n_triples == m->cap_triples) {
        size_t cap = m->cap_triples ? m->cap_triples * 2 : 1024;
        void *p = trove_realloc(m->triples, cap * sizeof *m->triples);
        if (p == NULL)
            rc = TROVE_ENOMEM;
        else {
            m->triples = p;
            m->cap_triples = cap;
        }
    }
    if (rc != TROVE_OK)
        return trove_error_set(err, rc, "ingest: %s", trove_strerror(rc));
    m->triples[m->n_triples][0] = it;
    m->triples[m->n_triples][1] = t;
    m->triples[m->n_triples][2] = u;
    m->n_triples++;
    trove__ingest_accept(in);
    return TROVE_OK;
}

static int cmp_triple(const void *a, const void *b)
{
    const uint32_t *x = a, *y = b;
    for (int k = 0; k < 3; k++)
        if (x[k] != y[k])
            return x[k] < y[k] ? -1 : 1;
    return 0;
}

/* "tag=<t>" on each movie, weight = distinct users who applied it. */
static int tag_features(ml *m, trove_error *err)
{
    size_t i = 0;
    qsort(m->triples, m->n_triples, sizeof *m->triples, cmp_triple);
    while (i < m->n_triples) {
        size_t j = i + 1;
        double users = 1;
        size_t tlen;
        const char *tag;
        int rc;
        while (j < m->n_triples && m->triples[j][0] == m->triples[i][0] &&
               m->triples[j][1] == m->triples[i][1]) {
            if (m->triples[j][2] != m->triples[j - 1][2])
                users++;
            j++;
        }
        tag = trove_idmap_name(m->tags, m->triples[i][1], &tlen);
        if (trove__buf_set(&m->in->text, "tag=", 4) != TROVE_OK ||
            trove__buf_append(&m->in->text, tag, tlen) != TROVE_OK)
            return trove_error_set(err, TROVE_ENOMEM, "ingest: out of memory");
        rc = trove__ingest_feature(m->in, TROVE_FEATURE_ITEM, m->triples[i][0], m->in->text.p,
                                   m->in->text.len, TROVE_FEATURE_CATEGORICAL, users, err);
        if (rc != TROVE_OK)
            return rc;
        i = j;
    }
    return TROVE_OK;
}

int trove__preset_mllatest(trove_ingest *in, const char *dir, trove_error *err)
{
    char path[4096];
    ml m;
    int rc;

    memset(&m, 0, sizeof m);
    m.in = in;
    rc = need_dir(dir, err);
    if (rc != TROVE_OK)
        return rc;
    if (!file_exists(join(path, sizeof path, dir, "ratings.csv")))
        return trove_error_set(err, TROVE_ENOTFOUND, "%s: missing (movielens-latest reads "
                               "ratings.csv, and movies.csv and tags.csv when present)", path);
    m.tags = trove_idmap_new();
    if (m.tags == NULL)
        return trove_error_set(err, TROVE_ENOMEM, "ingest: out of memory");
    if (file_exists(join(path, sizeof path, dir, "movies.csv"))) {
        in->cur_path = path;
        rc = trove__ingest_read_rows(in, path, ',', 1, 1, 0, 1, movies_header, movies_row,
                                     &m, err);
        if (rc != TROVE_OK)
            goto done;
    }
    in->cur_path = join(path, sizeof path, dir, "ratings.csv");
    rc = trove__ingest_read_rows(in, path, ',', 1, 1, 0, 1, ratings_header, ratings_row, &m,
                                 err);
    if (rc != TROVE_OK)
        goto done;
    if (file_exists(join(path, sizeof path, dir, "tags.csv"))) {
        in->cur_path = path;
        rc = trove__ingest_read_rows(in, path, ',', 1, 1, 0, 1, tags_header, tags_row, &m,
                                     err);
        if (rc == TROVE_EEMPTY)
            rc = TROVE_OK;   /* a header-only tags file is fine */
        if (rc == TROVE_OK || rc == TROVE_ECORRUPT || rc == TROVE_EIO) {
            int rc2 = tag_features(&m, err);
            if (rc == TROVE_OK)
                rc = rc2;
        }
    }
done:
    in->cur_path = NULL;
    trove_idmap_free(m.tags);
    trove_free(m.triples);
    return rc;
}
