/*
 * preset_retail.c - the "online-retail" preset: the UCI Online Retail
 * transaction log (Chen, Sain & Guo, 2012) as RFC 4180 CSV with the header
 * InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
 * (columns found by name, in any order).
 *
 * Mapping (docs/ingest.md):
 *   user   = CustomerID without its ".0" suffix (missing -> rejected);
 *   item   = StockCode (case kept), title = first non-empty Description of
 *            an accepted row, trimmed; features "word=<w>" for its lower-case
 *            alphabetic words of >= 3 letters minus stop words, and
 *            "price=<band>" from the median UnitPrice of its purchase rows;
 *   market = Country (every value seen is registered, even when all of its
 *            rows are rejected); a user's home market is the Country of the
 *            user's first accepted row;
 *   event  = PURCHASE with value Quantity, or RETURN with value |Quantity|
 *            when InvoiceNo starts with 'C'; ts = InvoiceDate (UTC);
 *            event id derived with InvoiceNo as the transaction id.
 *
 * The row loop allocates nothing per row. Consecutive rows mostly share a
 * customer and a country (one invoice), so both are reused from the
 * previous row instead of looked up again.
 */
#include "ingest/ingest_int.h"

#include <string.h>

enum { C_INVOICE, C_STOCK, C_DESC, C_QTY, C_DATE, C_PRICE, C_CUSTOMER, C_COUNTRY, C_N };

static const char *const col_names[C_N] = {
    "InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice",
    "CustomerID", "Country"
};

/* Price bands in GBP: [0,1) [1,2) [2,5) [5,10) [10,inf). */
#define N_BANDS 5
static const char *const band_names[N_BANDS] = {"<1", "1-2", "2-5", "5-10", "10+"};

static int price_band(double p)
{
    if (p < 1.0)
        return 0;
    if (p < 2.0)
        return 1;
    if (p < 5.0)
        return 2;
    if (p < 10.0)
        return 3;
    return 4;
}

typedef struct item_state {
    uint32_t bands[N_BANDS];   /* purchase rows with a positive price per band */
    uint8_t  titled;           /* title and words written */
    uint8_t  touched;          /* seen by this call */
} item_state;

typedef struct retail {
    trove_ingest *in;
    item_state *items;
    size_t cap;
    /* the previous accepted row's customer and the previous row's country */
    char last_user[32], last_country[64];
    size_t last_user_len, last_country_len;
    uint32_t last_user_index, last_market;
} retail;

static int grow_items(retail *r, size_t need)
{
    item_state *p;
    size_t cap;
    if (need <= r->cap)
        return TROVE_OK;
    cap = r->cap ? r->cap * 2 : 4096;
    while (cap < need)
        cap *= 2;
    p = trove_realloc(r->items, cap * sizeof *p);
    if (p == NULL)
        return TROVE_ENOMEM;
    memset(p + r->cap, 0, (cap - r->cap) * sizeof *p);
    r->items = p;
    r->cap = cap;
    return TROVE_OK;
}

static int is_stop_word(const char *w, size_t n)
{
    static const char *const stop[] = {
        "and", "the", "for", "with", "from", "into", "its", "this", "that", "are", "was",
        "not", "but", "all", "any", "you", "your", "our", "set", NULL
    };
    for (const char *const *s = stop; *s; s++)
        if (strlen(*s) == n && memcmp(*s, w, n) == 0)
            return 1;
    return 0;
}

/* "word=<w>" features of a description: ASCII letter runs of >= 3 letters,
 * lower-cased, stop words and repeats dropped. */
static int word_features(trove_ingest *in, uint32_t item, const char *desc, size_t n,
                         trove_error *err)
{
    char words[32][24];
    size_t wl[32], nw = 0;
    size_t i = 0;
    while (i < n) {
        size_t start, len;
        while (i < n && !((desc[i] | 0x20) >= 'a' && (desc[i] | 0x20) <= 'z'))
            i++;
        start = i;
        while (i < n && (desc[i] | 0x20) >= 'a' && (desc[i] | 0x20) <= 'z')
            i++;
        len = i - start;
        if (len < 3 || len >= sizeof words[0] || nw == 32)
            continue;
        for (size_t k = 0; k < len; k++)
            words[nw][k] = (char)(desc[start + k] | 0x20);
        if (is_stop_word(words[nw], len))
            continue;
        {
            size_t k;
            for (k = 0; k < nw; k++)
                if (wl[k] == len && memcmp(words[k], words[nw], len) == 0)
                    break;
            if (k < nw)
                continue;
        }
        wl[nw] = len;
        int rc = trove__ingest_feature_kv(in, TROVE_FEATURE_ITEM, item, "word", words[nw],
                                          len, 0, err);
        if (rc != TROVE_OK)
            return rc;
        nw++;
    }
    return TROVE_OK;
}

/* CustomerID "17850.0" -> "17850": digits, optionally '.' and zeros. */
static int customer_id(const char *s, size_t n, size_t *idlen)
{
    size_t i = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    if (i == 0)
        return -1;
    *idlen = i;
    if (i == n)
        return 0;
    if (s[i] != '.')
        return -1;
    for (i++; i < n; i++)
        if (s[i] != '0')
            return -1;
    return 0;
}

static int header_map(trove__field *f, size_t nf, int col[C_N])
{
    for (int c = 0; c < C_N; c++) {
        col[c] = -1;
        for (size_t k = 0; k < nf; k++)
            if (strcmp(trove__trim(f[k].s, &f[k].len), col_names[c]) == 0)
                col[c] = (int)k;
        if (col[c] < 0)
            return c;
    }
    return -1;
}

static int price_features(retail *r, trove_error *err)
{
    trove_ingest *in = r->in;
    for (size_t i = 0; i < r->cap; i++) {
        item_state *st = &r->items[i];
        uint64_t total = 0, half, cum = 0;
        int b;
        if (!st->touched)
            continue;
        for (b = 0; b < N_BANDS; b++)
            total += st->bands[b];
        if (total == 0)
            continue;
        /* band of the lower median price: the band is monotone in the
         * price, so the median's band is the band holding the
         * ceil(total/2)-th smallest price */
        half = (total + 1) / 2;
        for (b = 0; b < N_BANDS; b++) {
            cum += st->bands[b];
            if (cum >= half)
                break;
        }
        int rc = trove__ingest_feature_kv(in, TROVE_FEATURE_ITEM, (uint32_t)i, "price",
                                          band_names[b], strlen(band_names[b]), 0, err);
        if (rc != TROVE_OK)
            return rc;
    }
    return TROVE_OK;
}

static int row(retail *r, const int col[C_N], size_t ncols, trove_error *err)
{
    trove_ingest *in = r->in;
    trove__field *f = in->fields;
    const char *why = NULL;
    size_t nf, idlen, dlen;
    char *line, *desc;
    uint32_t market, user, item;
    int64_t qty, ts;
    double price;
    int type, is_new, rc;
    trove_ingest_event ev;
    trove__field *inv, *stock, *cust, *country;

    line = trove__ingest_line_copy(in);
    if (line == NULL)
        return trove_error_set(err, TROVE_ENOMEM, "ingest: out of memory");
    if (trove__split(line, in->cur_raw_len, ',', 1, f, TROVE__MAX_FIELDS, &nf, &why) != 0)
        return trove__ingest_reject(in, TROVE_INGEST_NO_MARKET, "malformed row", err,
                                    "malformed row: %s", why);
    if (nf != ncols)
        return trove__ingest_reject(in, TROVE_INGEST_NO_MARKET, "wrong column count", err,
                                    "expected %zu columns, found %zu", ncols, nf);
    if (!trove__utf8_valid(in->cur_raw, in->cur_raw_len))
        return trove__ingest_reject(in, TROVE_INGEST_NO_MARKET, "invalid UTF-8", err,
                                    "invalid UTF-8");
    country = &f[col[C_COUNTRY]];
    if (country->len == 0)
        return trove__ingest_reject(in, TROVE_INGEST_NO_MARKET, "missing Country", err,
                                    "missing Country");
    if (country->len == r->last_country_len &&
        memcmp(country->s, r->last_country, country->len) == 0) {
        market = r->last_market;
    } else {
        rc = trove__ingest_market(in, country->s, country->len, &market, err);
        if (rc != TROVE_OK)
            return rc;
        if (country->len < sizeof r->last_country) {
            memcpy(r->last_country, country->s, country->len);
            r->last_country_len = country->len;
            r->last_market = market;
        }
    }
    inv = &f[col[C_INVOICE]];
    stock = &f[col[C_STOCK]];
    cust = &f[col[C_CUSTOMER]];
    if (inv->len == 0)
        return trove__ingest_reject(in, market, "missing InvoiceNo", err, "missing InvoiceNo");
    if (cust->len == 0)
        return trove__ingest_reject(in, market, "missing CustomerID", err,
                                    "missing CustomerID");
    if (stock->len == 0)
        return trove__ingest_reject(in, market, "missing StockCode", err, "missing StockCode");
    if (customer_id(cust->s, cust->len, &idlen) != 0)
        return trove__ingest_reject(in, market, "bad CustomerID", err,
                                    "CustomerID '%s' is not a customer number", cust->s);
    if (trove__parse_i64(f[col[C_QTY]].s, f[col[C_QTY]].len, &qty) != 0)
        return trove__ingest_reject(in, market, "non-numeric value", err,
                                    "Quantity '%s' is not an integer", f[col[C_QTY]].s);
    if (trove__parse_iso(f[col[C_DATE]].s, f[col[C_DATE]].len, &ts) != 0)
        return trove__ingest_reject(in, market, "bad timestamp", err,
                                    "InvoiceDate '%s' is not a date", f[col[C_DATE]].s);
    if (trove__parse_double(f[col[C_PRICE]].s, f[col[C_PRICE]].len, &price) != 0)
        return trove__ingest_reject(in, market, "non-numeric value", err,
                                    "UnitPrice '%s' is not a number", f[col[C_PRICE]].s);
    if (inv->s[0] == 'C' || inv->s[0] == 'c') {
        type = TROVE_EVENT_RETURN;
        if (qty == 0)
            return trove__ingest_reject(in, market, "non-positive quantity", err,
                                        "Quantity 0 on cancellation %s", inv->s);
        if (qty < 0)
            qty = -qty;
    } else {
        type = TROVE_EVENT_PURCHASE;
        if (qty <= 0)
            return trove__ingest_reject(in, market, "non-positive quantity", err,
                                        "Quantity %lld on invoice %s", (long long)qty, inv->s);
    }
    if (price < 0)
        return trove__ingest_reject(in, market, "negative price", err,
                                    "UnitPrice %s is negative", f[col[C_PRICE]].s);

    /* accepted: users and items first, then the event */
    cust->s[idlen] = '\0';
    cust->len = idlen;
    ev.id = trove__ingest_event_id(in, cust->s, idlen, stock->s, stock->len, country->s,
                                   country->len, inv->s, inv->len, type, ts, (double)qty);
    trove__ingest_prefetch(in, ev.id);
    if (idlen == r->last_user_len && memcmp(cust->s, r->last_user, idlen) == 0) {
        user = r->last_user_index;
    } else {
        rc = trove__ingest_user(in, cust->s, idlen, market, &user, NULL, err);
        if (rc != TROVE_OK)
            return rc;
        if (idlen < sizeof r->last_user) {
            memcpy(r->last_user, cust->s, idlen);
            r->last_user_len = idlen;
            r->last_user_index = user;
        }
    }
    dlen = f[col[C_DESC]].len;
    desc = trove__trim(f[col[C_DESC]].s, &dlen);
    rc = trove__ingest_item(in, stock->s, stock->len, dlen ? desc : NULL, &item, &is_new, err);
    if (rc != TROVE_OK)
        return rc;
    if (grow_items(r, (size_t)item + 1) != TROVE_OK)
        return trove_error_set(err, TROVE_ENOMEM, "ingest: out of memory");
    {
        item_state *st = &r->items[item];
        st->touched = 1;
        if (!st->titled && dlen > 0) {
            if (!is_new) {
                rc = trove__ingest_item_title(in, item, desc, err);
                if (rc != TROVE_OK)
                    return rc;
            }
            rc = word_features(in, item, desc, dlen, err);
            if (rc != TROVE_OK)
                return rc;
            st->titled = 1;
        }
    }
    ev.user = user;
    ev.item = item;
    ev.market = market;
    ev.user_ext = cust->s;
    ev.item_ext = stock->s;
    ev.market_code = country->s;
    ev.type = type;
    ev.value = (double)qty;
    ev.ts = ts;
    {
        uint64_t dups = in->duplicates;
        rc = trove__ingest_event(in, &ev, err);
        /* the price band counts purchases once: not their duplicates */
        if (rc == TROVE_OK && in->duplicates == dups && type == TROVE_EVENT_PURCHASE &&
            price > 0)
            r->items[item].bands[price_band(price)]++;
    }
    return rc;
}

int trove__preset_retail(trove_ingest *in, const char *path, trove_error *err)
{
    trove__reader *rd = NULL;
    retail r;
    char *line;
    size_t len, nf;
    int col[C_N];
    uint64_t rows = 0;
    int rc, got;
    const char *why = NULL;

    memset(&r, 0, sizeof r);
    r.in = in;
    rc = trove__ingest_open(in, path, &rd, err);
    if (rc != TROVE_OK)
        goto done;
    got = trove__reader_next(rd, &line, &len, err);
    if (got <= 0) {
        rc = got < 0 ? got : trove_error_set(err, TROVE_EEMPTY, "%s: empty file", path);
        goto done;
    }
    if (trove__split(line, len, ',', 1, in->fields, TROVE__MAX_FIELDS, &nf, &why) != 0) {
        rc = trove_error_set(err, TROVE_EFORMAT, "%s:1: malformed header: %s", path, why);
        goto done;
    }
    {
        int missing = header_map(in->fields, nf < TROVE__MAX_FIELDS ? nf : TROVE__MAX_FIELDS,
                                 col);
        if (missing >= 0) {
            rc = trove_error_set(err, TROVE_EFORMAT,
                                 "%s:1: no column '%s' in the header (online-retail expects "
                                 "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,"
                                 "UnitPrice,CustomerID,Country)", path, col_names[missing]);
            goto done;
        }
    }
    while ((got = trove__reader_next(rd, &line, &len, err)) > 0) {
        if (len == 0)
            continue;   /* blank lines carry no row */
        rows++;
        trove__ingest_row(in, path, trove__reader_lineno(rd), line, len);
        rc = row(&r, col, nf, err);
        if (rc != TROVE_OK)
            goto done;
    }
    rc = price_features(&r, err);
    if (rc != TROVE_OK)
        goto done;
    if (got < 0)
        rc = got;   /* truncated input: the rows before it stay */
    else
        rc = trove__ingest_need_rows(path, rows, err);
done:
    trove__reader_close(rd);
    trove_free(r.items);
    return rc;
}
