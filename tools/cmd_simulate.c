/*
 * cmd_simulate.c - `trove simulate --world FILE.yaml --store S --cycles N`:
 * write the simulated world into the store (first run), then simulate N
 * periods: users react to the cycles that started in each period
 * (impressions, redemptions) and new offers are launched for the next one
 * (trove/sim.h). --clock prints the start of the next period, the `--now`
 * to give `trove cycle run` in a closed loop.
 */
#include "cli.h"
#include "trove/sim.h"

#include <getopt.h>
#include <string.h>
#include <time.h>

#define CMD "simulate"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: trove simulate --world FILE.yaml --store FILE [--cycles N]\n"
            "                      [--clock] [--json]\n"
            "\n"
            "Simulate an offer world. The first run writes the world into the\n"
            "store (created if needed): markets, users with features, offers,\n"
            "and an organic history. Each simulated cycle shows every user the\n"
            "offers assigned by the market's cycle that started in the period\n"
            "(`trove cycle run`), draws redemptions from the hidden ground truth\n"
            "with position bias, and launches the next period's new offers.\n"
            "\n"
            "options:\n"
            "  -w, --world FILE   the world file (docs/simulator.md)\n"
            "  -s, --store FILE   the store (a path or sqlite:PATH)\n"
            "  -n, --cycles N     periods to simulate (default 0: only write the\n"
            "                     world if it is not there)\n"
            "      --clock        print only the start of the next period (Unix\n"
            "                     seconds) at the end\n"
            "      --json         one JSON line per simulated period\n"
            "  -h, --help         this help\n");
}

static void day_of(int64_t ts, char *buf, size_t size)
{
    struct tm tm;
    time_t t = (time_t)ts;
    if (gmtime_r(&t, &tm) == NULL)
        snprintf(buf, size, "-");
    else
        strftime(buf, size, "%Y-%m-%d", &tm);
}

static void print_stats(const trove_sim_stats *st, int json)
{
    char from[32];
    day_of(st->from_ts, from, sizeof from);
    if (json) {
        printf("{\"period\":%u,\"from\":%lld,\"to\":%lld,\"offers_launched\":%llu,"
               "\"markets\":[", st->period, (long long)st->from_ts,
               (long long)st->to_ts, (unsigned long long)st->offers_launched);
        for (size_t m = 0; m < st->n_markets; m++) {
            const trove_sim_market_stats *ms = &st->markets[m];
            printf("%s{\"market\":", m ? "," : "");
            cli_json_string(stdout, ms->code);
            printf(",\"cycle\":");
            if (ms->had_cycle)
                cli_json_string(stdout, ms->cycle_key);
            else
                printf("null");
            printf(",\"users_shown\":%llu,\"impressions\":%llu,\"redemptions\":%llu}",
                   (unsigned long long)ms->users_shown,
                   (unsigned long long)ms->impressions,
                   (unsigned long long)ms->redemptions);
        }
        printf("]}\n");
        return;
    }
    printf("period %u (from %s):", st->period, from);
    for (size_t m = 0; m < st->n_markets; m++) {
        const trove_sim_market_stats *ms = &st->markets[m];
        if (ms->had_cycle)
            printf("  %s cycle %s: %llu users shown, %llu impressions, %llu redemptions;",
                   ms->code, ms->cycle_key, (unsigned long long)ms->users_shown,
                   (unsigned long long)ms->impressions,
                   (unsigned long long)ms->redemptions);
        else
            printf("  %s: no cycle;", ms->code);
    }
    printf("  %llu new offers launched\n", (unsigned long long)st->offers_launched);
}

int cmd_simulate(int argc, char **argv)
{
    enum { O_CLOCK = 1000, O_JSON };
    static const struct option opts[] = {
        {"world", required_argument, NULL, 'w'},
        {"store", required_argument, NULL, 's'},
        {"cycles", required_argument, NULL, 'n'},
        {"clock", no_argument, NULL, O_CLOCK},
        {"json", no_argument, NULL, O_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}
    };
    const char *world = NULL, *store = NULL;
    long cycles = 0;
    int c, clock = 0, json = 0, created = 0, rc = CLI_EXIT_FAIL;
    trove_world *w = NULL;
    trove_store *s = NULL;
    trove_error err;
    int64_t now;

    trove_error_clear(&err);
    optind = 1;
    while ((c = getopt_long(argc, argv, "w:s:n:h", opts, NULL)) != -1) {
        switch (c) {
        case 'w': world = optarg; break;
        case 's': store = optarg; break;
        case 'n':
            if (cli_parse_long(optarg, 0, 1000, &cycles) != 0)
                return cli_usage_error(CMD, "--cycles must be 0..1000, got '%s'", optarg);
            break;
        case O_CLOCK: clock = 1; break;
        case O_JSON: json = 1; break;
        case 'h': usage(stdout); return CLI_EXIT_OK;
        default: usage(stderr); return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc)
        return cli_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    if (world == NULL || store == NULL)
        return cli_usage_error(CMD, "--world and --store are required");

    cli_setup_log(0);
    if (trove_world_load(world, &w, &err) != TROVE_OK ||
        trove_store_open(store, TROVE_STORE_CREATE, &s, &err) != TROVE_OK ||
        trove_sim_init(s, w, &created, &err) != TROVE_OK)
        goto done;
    if (created && !clock && !json)
        printf("world %s written: %zu markets, %u offers\n", world, w->n_markets,
               w->initial_offers);
    for (long i = 0; i < cycles; i++) {
        trove_sim_stats st;
        if (trove_sim_step(s, w, &st, &err) != TROVE_OK)
            goto done;
        if (!clock)
            print_stats(&st, json);
    }
    if (clock) {
        if (trove_sim_clock(s, w, &now, &err) != TROVE_OK)
            goto done;
        printf("%lld\n", (long long)now);
    }
    rc = CLI_EXIT_OK;
done:
    if (rc != CLI_EXIT_OK)
        cli_fail(CMD, &err);
    trove_store_close(s);
    trove_world_free(w);
    return rc;
}
