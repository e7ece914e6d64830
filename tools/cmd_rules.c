/*
 * cmd_rules.c - `trove rules check FILE...`: validate market rule files
 * (rules/<market>.yaml) as serving and cycles would load them: the YAML,
 * every rule and key, and the time zone (its TZif file must load). Prints
 * the rules by kind; errors carry file:line:column.
 */
#include "cli.h"

#include <getopt.h>
#include <string.h>

#define CMD "rules"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: trove rules check FILE... [--json]\n\n"
        "Validate rule files (rules/<market>.yaml): YAML, rule kinds, keys,\n"
        "values and the time zone. Exit 1 at the first bad file with\n"
        "file:line:column. docs/rules.md describes every rule kind.\n\n"
        "  --json      one JSON object per file\n"
        "  -h, --help  this help\n");
}

/* Compile against an empty catalog: checks the time zone file. */
static int check_zone(const trove_rule_set *rs, trove_error *err)
{
    static const uint32_t no_pairs[1] = {0};
    trove_rules_catalog cat;
    trove_rules *r = NULL;
    int rc;
    memset(&cat, 0, sizeof cat);
    cat.copurchase_offsets = no_pairs;
    cat.copurchase_items = no_pairs;
    rc = trove_rules_compile(rs, &cat, &r, err);
    trove_rules_free(r);
    return rc;
}

static void print_file(const trove_rule_set *rs, int json)
{
    if (json) {
        printf("{\"file\":");
        cli_json_string(stdout, rs->path);
        printf(",\"market\":");
        if (rs->market)
            cli_json_string(stdout, rs->market);
        else
            printf("null");
        printf(",\"timezone\":");
        cli_json_string(stdout, rs->timezone ? rs->timezone : "UTC");
        printf(",\"frequency_window_days\":%d,\"rules\":[", rs->frequency_window_days);
        for (size_t k = 0; k < rs->n_rules; k++) {
            printf("%s{\"name\":", k ? "," : "");
            cli_json_string(stdout, rs->rules[k].name);
            printf(",\"kind\":\"%s\",\"line\":%d}",
                   trove_rule_kind_name(rs->rules[k].kind), rs->rules[k].line);
        }
        printf("]}\n");
        return;
    }
    printf("%s: ok, %zu rules, market %s, time zone %s, frequency window %d days\n",
           rs->path, rs->n_rules, rs->market ? rs->market : "-",
           rs->timezone ? rs->timezone : "UTC", rs->frequency_window_days);
    for (size_t k = 0; k < rs->n_rules; k++)
        printf("  %4d  %-14s %s\n", rs->rules[k].line,
               trove_rule_kind_name(rs->rules[k].kind), rs->rules[k].name);
}

int cmd_rules(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}
    };
    int json = 0, c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'j': json = 1; break;
        case 'h':
            usage(stdout);
            return CLI_EXIT_OK;
        default:
            usage(stderr);
            return CLI_EXIT_USAGE;
        }
    }
    if (optind >= argc || strcmp(argv[optind], "check") != 0)
        return cli_usage_error(CMD, "expected 'check FILE...'");
    if (optind + 1 >= argc)
        return cli_usage_error(CMD, "expected at least one FILE");
    for (int a = optind + 1; a < argc; a++) {
        trove_rule_set *rs = NULL;
        trove_error err;
        trove_error_clear(&err);
        if (trove_rule_set_load(argv[a], &rs, &err) != TROVE_OK)
            return cli_fail(CMD, &err);
        if (check_zone(rs, &err) != TROVE_OK) {
            trove_error_prefix(&err, "%s", argv[a]);
            trove_rule_set_free(rs);
            return cli_fail(CMD, &err);
        }
        print_file(rs, json);
        trove_rule_set_free(rs);
    }
    return CLI_EXIT_OK;
}
