/*
 * test_config.c - market configuration files: the shipped examples, every
 * kind of bad input with its file:line:column message, the config hash
 * (stable under formatting, sensitive to values), loading a directory,
 * out-of-memory at every allocation, and the eligibility filter.
 */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static trove_market_config *parse_ok(const char *text)
{
    trove_market_config *c = NULL;
    trove_error err;
    trove_error_clear(&err);
    int rc = trove_market_config_parse(text, strlen(text), "t.yaml", &c, &err);
    if (rc != TROVE_OK)
        fail_msg("parse failed: %s", err.msg);
    return c;
}

static void test_examples(void **state)
{
    trove_market_config *de = NULL, *ch = NULL;
    trove_error err;
    const trove_param *p;
    (void)state;

    assert_int_equal(trove_market_config_load(testutil_fixture("../../markets/DE.yaml"),
                                              &de, &err), TROVE_OK);
    assert_int_equal(trove_market_config_load(testutil_fixture("../../markets/CH.yaml"),
                                              &ch, &err), TROVE_OK);
    assert_string_equal(de->code, "DE");
    assert_string_equal(de->name, "Germany");
    assert_string_equal(de->timezone, "Europe/Berlin");
    assert_int_equal(de->window_last_days, 180);
    assert_null(de->window_start_date);
    assert_int_equal(de->n_user_features, 2);
    assert_string_equal(de->item_features[2], "price_band");
    assert_string_equal(de->model_family, "hybrid");
    assert_int_equal(de->n_model_params, 7);
    assert_string_equal(de->model_params[0].key, "no_components");
    assert_int_equal(de->model_params[0].type, TROVE_PARAM_INT);
    assert_int_equal(de->model_params[0].i, 48);
    p = trove_market_config_param(de, "learning_rate");
    assert_non_null(p);
    assert_int_equal(p->type, TROVE_PARAM_DOUBLE);
    assert_true(p->d == 0.05);
    p = trove_market_config_param(de, "loss");
    assert_string_equal(p->s, "warp");
    assert_null(trove_market_config_param(de, "rho"));
    assert_int_equal(de->number_of_predictions, 10);
    assert_int_equal(de->new_offer_exposure, 2);
    assert_true(de->test_share == 0.9);
    assert_int_equal(de->control_policy, TROVE_CONTROL_POPULARITY);
    assert_string_equal(de->salt, "de-offers-2024");
    assert_int_equal(de->keep_versions, 5);
    assert_true(de->rules.min_price == 1 && de->rules.max_price == 500);

    assert_string_equal(ch->code, "CH");
    assert_string_equal(ch->window_start_date, "2024-01-01");
    assert_int_equal(ch->window_start_ts, 1704067200);
    assert_int_equal(ch->window_last_days, 0);
    assert_int_equal(ch->control_policy, TROVE_CONTROL_RANDOM);
    assert_true(ch->test_share == 0.5);
    assert_true(isinf(ch->rules.min_price) && ch->rules.min_price < 0);
    assert_int_equal(strlen(de->hash), 16);
    assert_string_not_equal(de->hash, ch->hash);
    trove_market_config_free(de);
    trove_market_config_free(ch);
}

/* Every learning schedule of the hybrid model is accepted. */
static void test_schedules(void **state)
{
    static const char *const names[] = {"adagrad", "adagrad-rowwise", "adadelta"};
    (void)state;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char text[200];
        snprintf(text, sizeof text,
                 "market: {code: DE}\nmodel: {params: {learning_schedule: %s}}\n", names[i]);
        trove_market_config *c = parse_ok(text);
        const trove_param *p = trove_market_config_param(c, "learning_schedule");
        assert_non_null(p);
        assert_string_equal(p->s, names[i]);
        trove_market_config_free(c);
    }
}

static void test_defaults(void **state)
{
    trove_market_config *c = parse_ok("market: {code: FR}\n");
    (void)state;
    assert_string_equal(c->name, "FR");
    assert_string_equal(c->timezone, "UTC");
    assert_string_equal(c->model_family, "hybrid");
    assert_string_equal(c->salt, "FR");
    assert_int_equal(c->window_last_days, 365);
    assert_int_equal(c->number_of_predictions, 10);
    assert_true(c->test_share == 0.9);
    assert_int_equal(c->keep_versions, 5);
    assert_int_equal(c->new_offer_exposure, 0);
    assert_int_equal(c->rules.require_active, 1);
    assert_string_equal(c->rules.price_feature, "price");
    assert_int_equal(c->n_model_params, 0);
    trove_market_config_free(c);
}

/* Same content in another layout (flow style, other key order, comments,
 * 1e-6 vs 0.000001) hashes the same; any value change does not. */
static void test_hash(void **state)
{
    const char *a =
        "market: {code: X, name: Ex}\n"
        "model:\n  family: hybrid\n  params:\n    loss: warp\n"
        "    item_alpha: 0.000001\n    epochs: 5\n"
        "experiment: {salt: s1, test_share: 0.8}\n";
    const char *b =
        "# comment\nexperiment:\n  test_share: 0.80\n  salt: \"s1\"\n"
        "model: {params: {epochs: 5, item_alpha: 1e-6, loss: warp}}\n"
        "market:\n  name: Ex\n  code: X\n";
    const char *c2 =
        "market: {code: X, name: Ex}\n"
        "model: {params: {loss: warp, item_alpha: 0.000001, epochs: 6}}\n"
        "experiment: {salt: s1, test_share: 0.8}\n";
    const char *d =
        "market: {code: X, name: Ex}\n"
        "model: {params: {loss: warp, item_alpha: 0.000001, epochs: 5}}\n"
        "experiment: {salt: s2, test_share: 0.8}\n";
    trove_market_config *ca = parse_ok(a), *cb = parse_ok(b), *cc = parse_ok(c2),
                        *cd = parse_ok(d);
    char again[17];
    (void)state;
    assert_string_equal(ca->hash, cb->hash);
    assert_string_not_equal(ca->hash, cc->hash);
    assert_string_not_equal(ca->hash, cd->hash);
    trove_market_config_hash(ca, again);
    assert_string_equal(again, ca->hash);
    /* a known value, so that the hash never drifts between releases */
    assert_string_equal(ca->hash, "bccdd618f999be62");
    trove_market_config_free(ca);
    trove_market_config_free(cb);
    trove_market_config_free(cc);
    trove_market_config_free(cd);
}

typedef struct bad_case {
    const char *yaml;
    int code;
    const char *message;   /* exact */
} bad_case;

static void test_errors(void **state)
{
    static const bad_case cases[] = {
        {"market:\n  code: DE\nmodel:\n  params:\n    learning_rat: 0.05\n",
         TROVE_EFORMAT, "t.yaml:5:5: unknown key 'learning_rat' in model.params "
         "(family hybrid) (did you mean 'learning_rate'?)"},
        {"market: {code: DE}\nexperimnt: {salt: x}\n", TROVE_EFORMAT,
         "t.yaml:2:1: unknown key 'experimnt' (did you mean 'experiment'?)"},
        {"market: {code: DE}\nfoo: 1\n", TROVE_EFORMAT,
         "t.yaml:2:1: unknown key 'foo'"},
        {"market: {code: DE}\nmodel: {params: {epochs: ten}}\n", TROVE_EFORMAT,
         "t.yaml:2:26: 'epochs' must be an integer, not 'ten'"},
        {"market: {code: DE}\nmodel: {params: {epochs: 2.5}}\n", TROVE_EFORMAT,
         "t.yaml:2:26: 'epochs' must be an integer, not '2.5'"},
        {"market: {code: DE}\nmodel: {params: {no_components: 0}}\n", TROVE_EFORMAT,
         "t.yaml:2:33: 'no_components' is 0, must be in [1, 4096]"},
        {"market: {code: DE}\nmodel: {params: {learning_rate: 0}}\n", TROVE_EFORMAT,
         "t.yaml:2:33: 'learning_rate' is 0, must be in (0, 10]"},
        {"market: {code: DE}\nmodel: {params: {learning_schedule: rowwise}}\n",
         TROVE_EFORMAT, "t.yaml:2:37: 'learning_schedule' is 'rowwise', must be one of "
         "adagrad, adagrad-rowwise, adadelta"},
        {"market: {code: DE}\nmodel: {params: {loss: wrap}}\n", TROVE_EFORMAT,
         "t.yaml:2:24: 'loss' is 'wrap', must be one of logistic, bpr, warp, "
         "warp-kos (did you mean 'warp'?)"},
        {"market: {code: DE}\nexperiment: {test_share: 1.5}\n", TROVE_EFORMAT,
         "t.yaml:2:26: 'test_share' is 1.5, must be in [0, 1]"},
        {"market: {code: DE}\nexperiment: {control_policy: populariti}\n",
         TROVE_EFORMAT, "t.yaml:2:30: 'control_policy' is 'populariti', must be "
         "random or popularity (did you mean 'popularity'?)"},
        {"market: {code: DE}\nwindow: {last_days: 30, start_date: 2024-01-01}\n",
         TROVE_EFORMAT, "t.yaml:2:9: 'window' takes start_date or last_days, "
         "not both"},
        {"market: {code: DE}\nwindow: {start_date: 2023-02-29}\n", TROVE_EFORMAT,
         "t.yaml:2:22: 'start_date' '2023-02-29' is not a date YYYY-MM-DD "
         "(1970 or later)"},
        {"market: {code: DE}\nmarket: {code: CH}\n", TROVE_EFORMAT,
         "t.yaml:2:1: duplicate key 'market' (first at line 1)"},
        {"market: {name: Germany}\n", TROVE_EFORMAT,
         "t.yaml:1:1: missing 'market.code'"},
        {"market: {code: DE, timezone: Berlin}\n", TROVE_EFORMAT,
         "t.yaml:1:30: 'timezone' 'Berlin' is not an IANA time zone name "
         "(e.g. Europe/Berlin)"},
        {"market: {code: DE}\nfeatures: {user: age}\n", TROVE_EFORMAT,
         "t.yaml:2:18: 'user' must be a list, not a scalar"},
        {"market: {code: DE}\nfeatures: {item: [a, b, a]}\n", TROVE_EFORMAT,
         "t.yaml:2:25: 'item' lists 'a' twice"},
        {"market: {code: DE}\nrules: {eligibility: {require_active: yes}}\n",
         TROVE_EFORMAT, "t.yaml:2:39: 'require_active' must be true or false, "
         "not 'yes'"},
        {"market: {code: DE}\nrules: {eligibility: {min_price: 10, max_price: 5}}\n",
         TROVE_EFORMAT, "t.yaml:1:1: rules.eligibility: min_price 10 is above "
         "max_price 5"},
        {"market: {code: DE}\nassignment: {number_of_predictions: 3, "
         "new_offer_exposure: 4}\n", TROVE_EFORMAT,
         "t.yaml:1:1: assignment: new_offer_exposure 4 is more than "
         "number_of_predictions 3"},
        {"market: {code: DE}\nmodel: {family: Hybrid}\n", TROVE_EFORMAT,
         "t.yaml:2:17: 'family' 'Hybrid' must be a lower-case name (hybrid, "
         "ials, ease, popularity, ...)"},
        {"market: {code: DE\n", TROVE_EFORMAT,
         "t.yaml:2:1: did not find expected ',' or '}' while parsing a flow mapping"},
        {"market: [DE]\n", TROVE_EFORMAT,
         "t.yaml:1:9: 'market' must be a mapping, not a list"},
        {"- a\n- b\n", TROVE_EFORMAT,
         "t.yaml:1:1: 'the file' must be a mapping, not a list"},
        {"", TROVE_EFORMAT,
         "t.yaml:1:1: empty file (a market needs at least market.code)"},
        {"market: {code: DE}\n---\nmarket: {code: CH}\n", TROVE_EFORMAT,
         "t.yaml:3:1: more than one YAML document"},
        {"market: {code: DE}\nmodel: {params: {k: 5, k: 6}}\n", TROVE_EFORMAT,
         "t.yaml:2:24: duplicate key 'k' (first at line 2)"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        trove_market_config *c = NULL;
        trove_error err;
        int rc;
        trove_error_clear(&err);
        rc = trove_market_config_parse(cases[i].yaml, strlen(cases[i].yaml),
                                       "t.yaml", &c, &err);
        if (rc != cases[i].code || strcmp(err.msg, cases[i].message) != 0)
            fail_msg("case %zu: got %d '%s', want %d '%s'", i, rc, err.msg,
                     cases[i].code, cases[i].message);
        assert_null(c);
    }
}

/* Families other than hybrid take free keys, typed from the YAML; the
 * LightFM names keep their checks. */
static void test_free_params(void **state)
{
    trove_market_config *c = parse_ok(
        "market: {code: DE}\n"
        "model:\n  params: {factors: 64, regularization: 0.01, "
        "cg: true, solver: \"cg\", epochs: 3}\n  family: ials\n");
    trove_market_config *bad = NULL;
    trove_error err;
    const char *text = "market: {code: DE}\nmodel: {family: ials, params: "
                       "{epochs: -1}}\n";
    (void)state;
    assert_string_equal(c->model_family, "ials");
    assert_int_equal(c->n_model_params, 5);
    assert_int_equal(trove_market_config_param(c, "factors")->type, TROVE_PARAM_INT);
    assert_int_equal(trove_market_config_param(c, "regularization")->type,
                     TROVE_PARAM_DOUBLE);
    assert_int_equal(trove_market_config_param(c, "cg")->type, TROVE_PARAM_BOOL);
    assert_int_equal(trove_market_config_param(c, "cg")->i, 1);
    assert_int_equal(trove_market_config_param(c, "solver")->type, TROVE_PARAM_STRING);
    assert_int_equal(trove_market_config_param(c, "factors")->line, 3);
    assert_int_equal(trove_market_config_param(c, "factors")->column, 21);
    assert_int_equal(trove_market_config_parse(text, strlen(text), "t.yaml", &bad,
                                               &err), TROVE_EFORMAT);
    assert_string_equal(err.msg, "t.yaml:2:40: 'epochs' is -1, must be in [1, 100000]");
    trove_market_config_free(c);
}

static void test_load_dir(void **state)
{
    trove_market_config **cs = NULL, *one = NULL;
    size_t n = 0;
    trove_error err;
    const char *dup = testutil_tmp_path("dup");
    const char *empty = testutil_tmp_path("empty");
    char a[512], b[512];
    (void)state;

    assert_int_equal(trove_market_config_load_dir(testutil_fixture("../../markets"),
                                                  &cs, &n, &err), TROVE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(cs[0]->code, "CH");
    assert_string_equal(cs[1]->code, "DE");
    trove_market_configs_free(cs, n);

    mkdir(dup, 0700);
    snprintf(a, sizeof a, "%s/a.yaml", dup);
    snprintf(b, sizeof b, "%s/b.yml", dup);
    assert_int_equal(testutil_write_file(a, "market: {code: DE}\n"), 0);
    assert_int_equal(testutil_write_file(b, "market: {code: DE, name: Again}\n"), 0);
    cs = NULL;
    assert_int_equal(trove_market_config_load_dir(dup, &cs, &n, &err), TROVE_EEXIST);
    assert_null(cs);
    assert_non_null(strstr(err.msg, "b.yml: market 'DE' is already configured by"));

    assert_int_equal(testutil_write_file(b, "market: {code: CH}\nbad: 1\n"), 0);
    assert_int_equal(trove_market_config_load_dir(dup, &cs, &n, &err), TROVE_EFORMAT);
    assert_non_null(strstr(err.msg, "b.yml:2:1: unknown key 'bad'"));

    mkdir(empty, 0700);
    assert_int_equal(trove_market_config_load_dir(empty, &cs, &n, &err), TROVE_EEMPTY);
    assert_int_equal(trove_market_config_load_dir(testutil_tmp_path("nope"), &cs, &n,
                                                  &err), TROVE_ENOTFOUND);
    assert_int_equal(trove_market_config_load(testutil_tmp_path("nope.yaml"),
                                              &one, &err), TROVE_ENOTFOUND);
}

/* Fail each allocation in turn: a clean TROVE_ENOMEM, no leak (ASan), and
 * finally success with the same content. */
static void test_out_of_memory(void **state)
{
    trove_market_config *c = NULL, *ref = NULL;
    const char *path = testutil_fixture("../../markets/DE.yaml");
    trove_error err;
    int rc = TROVE_ENOMEM;
    (void)state;
    assert_int_equal(trove_market_config_load(path, &ref, &err), TROVE_OK);
    for (long k = 0; k < 1000 && rc == TROVE_ENOMEM; k++) {
        testutil_fail_alloc_after(k);
        rc = trove_market_config_load(path, &c, &err);
        testutil_fail_alloc_after(-1);
        if (rc == TROVE_ENOMEM)
            assert_null(c);
    }
    assert_int_equal(rc, TROVE_OK);
    assert_string_equal(c->hash, ref->hash);
    trove_market_config_free(c);
    trove_market_config_free(ref);
}

static void test_eligible(void **state)
{
    trove_market_config *c = parse_ok(
        "market: {code: DE}\nrules: {eligibility: {min_price: 5, max_price: 10}}\n");
    trove_market_config *open = parse_ok(
        "market: {code: DE}\nrules: {eligibility: {require_active: false, "
        "exclude_blocked: false, respect_dates: false}}\n");
    trove_item it;
    (void)state;
    memset(&it, 0, sizeof it);
    it.active = 1;
    assert_int_equal(trove_market_rules_eligible(&c->rules, &it, 7, 100), 1);
    assert_int_equal(trove_market_rules_eligible(&c->rules, &it, 5, 100), 1);
    assert_int_equal(trove_market_rules_eligible(&c->rules, &it, 10.5, 100), 0);
    assert_int_equal(trove_market_rules_eligible(&c->rules, &it, NAN, 100), 0);
    it.start_ts = 200;
    assert_int_equal(trove_market_rules_eligible(&c->rules, &it, 7, 100), 0);
    assert_int_equal(trove_market_rules_eligible(&c->rules, &it, 7, 200), 1);
    it.end_ts = 300;
    assert_int_equal(trove_market_rules_eligible(&c->rules, &it, 7, 300), 0);
    it.start_ts = it.end_ts = 0;
    it.blocked = 1;
    assert_int_equal(trove_market_rules_eligible(&c->rules, &it, 7, 100), 0);
    it.blocked = 0;
    it.active = 0;
    assert_int_equal(trove_market_rules_eligible(&c->rules, &it, 7, 100), 0);
    it.blocked = 1;
    it.end_ts = 50;
    assert_int_equal(trove_market_rules_eligible(&open->rules, &it, NAN, 100), 1);
    assert_string_equal(trove_control_policy_name(TROVE_CONTROL_RANDOM), "random");
    assert_string_equal(trove_control_policy_name(9), "unknown");
    trove_market_config_free(c);
    trove_market_config_free(open);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_examples),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_schedules),
        cmocka_unit_test(test_hash),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_free_params),
        cmocka_unit_test(test_load_dir),
        cmocka_unit_test(test_out_of_memory),
        cmocka_unit_test(test_eligible),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
