/*
 * cmd_cycle.c - `trove cycle run|plan --store S --market M --cycle ID`: one
 * assignment cycle of a market (trove/cycle.h): eligible users and offers,
 * top-N by the active model, test/control arms by salted hashing, control
 * offers per the market's policy, new-offer slots, one transaction, an
 * optional CSV export. A cycle key that exists is refused unless --replace.
 * `plan` computes the same and writes nothing to the store.
 */
#include "cli.h"
#include "trove/cycle.h"

#include <getopt.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CMD "cycle"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: trove cycle run|plan --store FILE --market CODE --cycle KEY\n"
            "                       [--replace] [--export FILE.csv] [--now TS]\n"
            "                       [--markets-dir DIR] [--rules DIR] [--threads N]\n"
            "                       [--json]\n"
            "\n"
            "Assign offers to every user of a market for one cycle: the top-N\n"
            "eligible offers of the market's active model in the test arm, the\n"
            "control policy's offers in the control arm (arms by GrowthBook\n"
            "hashing with the market's salt), with slots for offers launched\n"
            "since the previous cycle. The cycle and its assignments are written\n"
            "in one transaction. With --rules, the market's rules file\n"
            "(DIR/<market>.yaml, if there is one) is applied to every user's list\n"
            "in both arms: eligibility by user features and segments, schedules,\n"
            "frequency caps over the user's assignments of the last days, budget\n"
            "caps, pins, boosts, exclusive groups, diversity, exploration, bundles.\n"
            "`plan` computes the same lists (and the export) without writing\n"
            "anything to the store.\n"
            "\n"
            "options:\n"
            "  -s, --store FILE       the store (a path or sqlite:PATH)\n"
            "  -m, --market CODE      market code; its config is read from\n"
            "                         --markets-dir (default: markets)\n"
            "  -c, --cycle KEY        cycle key, unique per market (e.g. 2026-W48)\n"
            "      --replace          replace the cycle if the key exists\n"
            "      --export FILE      also write the assignments as CSV\n"
            "      --now TS           start of the cycle, Unix seconds (default: now)\n"
            "      --markets-dir DIR  directory of market YAML files\n"
            "      --rules DIR        directory of rule files (rules/<market>.yaml)\n"
            "      --threads N        scoring threads (default 2)\n"
            "      --json             print the summary as JSON\n"
            "  -h, --help             this help\n");
}

static int find_config(const char *dir, const char *code,
                       trove_market_config ***all, size_t *n,
                       trove_market_config **out, trove_error *err)
{
    int st = trove_market_config_load_dir(dir, all, n, err);
    if (st != TROVE_OK)
        return st;
    for (size_t i = 0; i < *n; i++) {
        if (strcmp((*all)[i]->code, code) == 0) {
            *out = (*all)[i];
            return TROVE_OK;
        }
    }
    return trove_error_set(err, TROVE_ENOTFOUND, "%s: no config for market '%s'",
                           dir, code);
}

int cmd_cycle(int argc, char **argv)
{
    enum { O_REPLACE = 1000, O_EXPORT, O_NOW, O_DIR, O_THREADS, O_JSON, O_RULES };
    static const struct option opts[] = {
        {"store", required_argument, NULL, 's'},
        {"market", required_argument, NULL, 'm'},
        {"cycle", required_argument, NULL, 'c'},
        {"replace", no_argument, NULL, O_REPLACE},
        {"export", required_argument, NULL, O_EXPORT},
        {"now", required_argument, NULL, O_NOW},
        {"markets-dir", required_argument, NULL, O_DIR},
        {"rules", required_argument, NULL, O_RULES},
        {"threads", required_argument, NULL, O_THREADS},
        {"json", no_argument, NULL, O_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}
    };
    const char *store = NULL, *market = NULL, *dir = "markets", *rules_dir = NULL;
    trove_rule_set *rs = NULL;
    trove_cycle_run_params p = trove_cycle_run_default_params();
    trove_market_config **all = NULL, *cfg = NULL;
    trove_store *s = NULL;
    trove_cycle_summary sum;
    trove_error err;
    size_t n_cfg = 0;
    int c, json = 0, rc = CLI_EXIT_FAIL;
    long v;
    double t0;

    trove_error_clear(&err);
    if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (argc < 2 || (strcmp(argv[1], "run") != 0 && strcmp(argv[1], "plan") != 0)) {
        usage(stderr);
        return cli_usage_error(CMD, "expected the action 'run' or 'plan'");
    }
    p.dry_run = strcmp(argv[1], "plan") == 0;
    argc--;
    argv++;
    optind = 1;
    while ((c = getopt_long(argc, argv, "s:m:c:h", opts, NULL)) != -1) {
        switch (c) {
        case 's': store = optarg; break;
        case 'm': market = optarg; break;
        case 'c': p.cycle_key = optarg; break;
        case O_REPLACE: p.replace = 1; break;
        case O_EXPORT: p.export_csv = optarg; break;
        case O_NOW:
            if (cli_parse_long(optarg, 1, 253402300799L, &v) != 0)
                return cli_usage_error(CMD, "--now must be Unix seconds, got '%s'", optarg);
            p.now = v;
            break;
        case O_DIR: dir = optarg; break;
        case O_RULES: rules_dir = optarg; break;
        case O_THREADS:
            if (cli_parse_long(optarg, 1, 256, &v) != 0)
                return cli_usage_error(CMD, "--threads must be 1..256, got '%s'", optarg);
            p.threads = (int)v;
            break;
        case O_JSON: json = 1; break;
        case 'h': usage(stdout); return CLI_EXIT_OK;
        default: usage(stderr); return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc)
        return cli_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    if (store == NULL || market == NULL || p.cycle_key == NULL)
        return cli_usage_error(CMD, "--store, --market and --cycle are required");
    if (p.cycle_key[0] == '\0' || strlen(p.cycle_key) > 63)
        return cli_usage_error(CMD, "--cycle must have 1 to 63 bytes");
    if (p.now == 0)
        p.now = (int64_t)time(NULL);

    cli_setup_log(0);
    if (find_config(dir, market, &all, &n_cfg, &cfg, &err) != TROVE_OK)
        goto done;
    if (rules_dir != NULL) {
        char path[4096];
        if (snprintf(path, sizeof path, "%s/%s.yaml", rules_dir, cfg->code) >=
            (int)sizeof path) {
            trove_error_set(&err, TROVE_EINVAL, "%s: path too long", rules_dir);
            goto done;
        }
        if (access(path, F_OK) == 0) {
            if (trove_rule_set_load(path, &rs, &err) != TROVE_OK)
                goto done;
            p.rules = rs;
        } else {
            trove_log(TROVE_LOG_INFO, "market %s: no rules file %s", cfg->code, path);
        }
    }
    if (trove_store_open(store, 0, &s, &err) != TROVE_OK)
        goto done;
    t0 = cli_now();
    if (trove_cycle_run(s, cfg, &p, &sum, &err) != TROVE_OK)
        goto done;
    if (json) {
        printf("{\"market\":");
        cli_json_string(stdout, cfg->code);
        printf(",\"cycle\":");
        cli_json_string(stdout, p.cycle_key);
        printf(",\"stored\":%s", p.dry_run ? "false" : "true");
        printf(",\"cycle_id\":%lld,\"now\":%lld,\"replaced\":%s,\"model_version\":%d,"
               "\"users\":%llu,\"test_users\":%llu,\"control_users\":%llu,"
               "\"eligible_offers\":%llu,\"new_offers\":%llu,\"assignments\":%llu,"
               "\"sources\":{\"model\":%llu,\"popularity\":%llu,\"random\":%llu,"
               "\"new_offer\":%llu,\"rule\":%llu},\"rules\":%s,"
               "\"budgeted_offers\":%llu,\"read_s\":%.3f,\"plan_s\":%.3f,"
               "\"write_s\":%.3f,\"seconds\":%.3f}\n",
               (long long)sum.cycle_id, (long long)p.now, sum.replaced ? "true" : "false",
               sum.model_version, (unsigned long long)sum.users,
               (unsigned long long)sum.test_users, (unsigned long long)sum.control_users,
               (unsigned long long)sum.eligible_offers, (unsigned long long)sum.new_offers,
               (unsigned long long)sum.assignments, (unsigned long long)sum.model_rows,
               (unsigned long long)sum.popularity_rows, (unsigned long long)sum.random_rows,
               (unsigned long long)sum.new_offer_rows, (unsigned long long)sum.rule_rows,
               sum.rules_applied ? "true" : "false",
               (unsigned long long)sum.budgeted_offers, sum.read_seconds, sum.plan_seconds,
               sum.write_seconds, cli_now() - t0);
    } else {
        printf("market %s cycle %s%s: %llu users (%llu test, %llu control), "
               "%llu eligible offers (%llu new), %llu assignments, model v%d, %.2f s\n",
               cfg->code, p.cycle_key,
               p.dry_run ? " (plan only, nothing stored)" : sum.replaced ? " (replaced)" : "",
               (unsigned long long)sum.users, (unsigned long long)sum.test_users,
               (unsigned long long)sum.control_users,
               (unsigned long long)sum.eligible_offers, (unsigned long long)sum.new_offers,
               (unsigned long long)sum.assignments, sum.model_version, cli_now() - t0);
        printf("  sources: model %llu, popularity %llu, random %llu, new offer %llu, "
               "rule %llu%s\n",
               (unsigned long long)sum.model_rows, (unsigned long long)sum.popularity_rows,
               (unsigned long long)sum.random_rows, (unsigned long long)sum.new_offer_rows,
               (unsigned long long)sum.rule_rows,
               sum.rules_applied ? " (rules applied)" : "");
        printf("  read %.2f s, plan %.2f s, write %.2f s\n", sum.read_seconds,
               sum.plan_seconds, sum.write_seconds);
    }
    rc = CLI_EXIT_OK;
done:
    if (rc != CLI_EXIT_OK)
        cli_fail(CMD, &err);
    trove_store_close(s);
    trove_rule_set_free(rs);
    trove_market_configs_free(all, n_cfg);
    return rc;
}
