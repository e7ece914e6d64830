# gen-sample.awk - writes the demo's sample world as three CSV files into
# the directory `out` (awk -v out=DIR -f gen-sample.awk):
#   offers.csv  offer_id,title,category,price,market
#   users.csv   user_id,market,age_band,loyalty
#   events.csv  event_id,user_id,offer_id,type,timestamp,market
# Two markets with different tastes (DE leans to burgers and coffee, CH to
# salads and desserts), users who redeem mostly in their market's favourite
# categories, and three deliberately broken event rows at the end.
# Deterministic: a Park-Miller generator (exact in awk's doubles), no srand().

function rnd() { seed = (seed * 16807) % 2147483647; return seed / 2147483647 }
function pick(n) { return int(rnd() * n) }

BEGIN {
    seed = 42
    ncat = split("burger,chicken,coffee,dessert,breakfast,salad,vegan,drinks", cat, ",")
    split("5,2,5,1,3,1,1,2", de_w, ",")   # category weights per market
    split("1,2,2,5,2,5,3,1", ch_w, ",")
    nbands = split("18-24,25-34,35-44,45-54,55+", band, ",")
    n_offers = 240; n_users = 1200; t0 = 1767225600   # 2026-01-01 UTC

    print "offer_id,title,category,price,market" > (out "/offers.csv")
    for (i = 1; i <= n_offers; i++) {
        c = 1 + (i - 1) % ncat
        m = (i % 3 == 0) ? "CH" : "DE"
        price = sprintf("%.2f", 1.5 + pick(1200) / 100)
        printf "O%04d,\"%s deal %d\",%s,%s,%s\n", i, cat[c], i, cat[c], price, m > (out "/offers.csv")
        ocat[i] = c; omkt[i] = m
    }
    print "user_id,market,age_band,loyalty" > (out "/users.csv")
    for (u = 1; u <= n_users; u++) {
        m = (u % 5 < 2) ? "CH" : "DE"
        umkt[u] = m
        printf "U%05d,%s,%s,%s\n", u, m, band[1 + pick(nbands)], (pick(4) == 0 ? "gold" : "basic") > (out "/users.csv")
    }
    print "event_id,user_id,offer_id,type,timestamp,market" > (out "/events.csv")
    ev = 0
    for (u = 1; u <= n_users; u++) {
        m = umkt[u]
        n = 4 + pick(16)
        for (k = 0; k < n; k++) {
            # draw a category by the market's taste, then an offer of it in the market
            tot = 0
            for (c = 1; c <= ncat; c++) tot += (m == "DE" ? de_w[c] : ch_w[c])
            r = rnd() * tot; c = 1
            while (c < ncat && r >= (m == "DE" ? de_w[c] : ch_w[c])) { r -= (m == "DE" ? de_w[c] : ch_w[c]); c++ }
            do { o = 1 + pick(n_offers) } while (ocat[o] != c || omkt[o] != m)
            ts = t0 + pick(60 * 86400)
            printf "E%07d,U%05d,O%04d,impression,%d,%s\n", ++ev, u, o, ts, m > (out "/events.csv")
            if (rnd() < 0.35)
                printf "E%07d,U%05d,O%04d,redemption,%d,%s\n", ++ev, u, o, ts + 600 + pick(86400), m > (out "/events.csv")
        }
    }
    # three broken rows: a bad timestamp, a missing user, an unknown event type
    printf "E%07d,U00001,O0001,redemption,yesterday,DE\n", ++ev > (out "/events.csv")
    printf "E%07d,,O0002,redemption,%d,DE\n", ++ev, t0 > (out "/events.csv")
    printf "E%07d,U00002,O0003,teleport,%d,CH\n", ++ev, t0 > (out "/events.csv")
}
