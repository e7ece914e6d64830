/*
 * cmd_serve.c - `trove serve --store S [--config DIR] [--port P]`: run the
 * HTTP API (trove/serve.h) until SIGINT or SIGTERM.
 *
 * The admin token comes from the file given with --admin-token-file or from
 * the environment variable TROVE_ADMIN_TOKEN, never from the command line
 * (where other users could read it). It is never printed.
 */
#include "cli.h"
#include "trove/model.h"
#include "trove/serve.h"

#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: trove serve --store FILE [--config DIR] [--rules DIR] [--port P] [options]\n"
            "\n"
            "Serve recommendations, event intake, offer uploads, flags and the\n"
            "model registry over HTTP (docs/serve.md, docs/openapi.yaml).\n"
            "Admin endpoints need the bearer token of TROVE_ADMIN_TOKEN or of\n"
            "--admin-token-file. Stops on SIGINT or SIGTERM.\n"
            "\n"
            "options:\n"
            "  -s, --store FILE          the store (a path or sqlite:PATH)\n"
            "  -c, --config DIR          market configs (markets/<code>.yaml)\n"
            "  -r, --rules DIR           business rules (rules/<code>.yaml)\n"
            "      --hunts DIR           treasure-hunt templates (hunts/<code>.yaml;\n"
            "                            markets without one use the built-in\n"
            "                            default template)\n"
            "  -p, --port P              TCP port (default 8080; 0 = any free one)\n"
            "  -b, --bind ADDR           IPv4 address (default 127.0.0.1)\n"
            "  -t, --threads N           worker threads (default 2)\n"
            "      --max-body BYTES      request body limit (default 1048576)\n"
            "      --timeout S           idle connection timeout (default 10)\n"
            "      --admin-token-file F  read the admin token from F\n"
            "      --item-fallback F     offers the model was not trained with and\n"
            "                            none of whose features it knows: 'mean'\n"
            "                            (ranked as the mean trained offer, default)\n"
            "                            or 'none' (exploration slots only)\n"
            "      --public-read         read-only views (model registry, dashboard\n"
            "                            reads) without the token; changes still\n"
            "                            need it\n"
            "  -v, --verbose             log requests of the admin endpoints\n"
            "  -h, --help                this help\n");
}

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* First line of `path` into a malloc'd string (NULL on failure). */
static char *read_token(const char *path)
{
    FILE *f = fopen(path, "r");
    char buf[1024];
    if (f == NULL)
        return NULL;
    if (fgets(buf, sizeof buf, f) == NULL)
        buf[0] = '\0';
    fclose(f);
    buf[strcspn(buf, "\r\n")] = '\0';
    return strdup(buf);
}

int cmd_serve(int argc, char **argv)
{
    enum { OPT_MAX_BODY = 256, OPT_TIMEOUT, OPT_TOKEN_FILE, OPT_PUBLIC_READ,
           OPT_ITEM_FALLBACK, OPT_HUNTS };
    static const struct option options[] = {
        { "store", required_argument, NULL, 's' },
        { "config", required_argument, NULL, 'c' },
        { "rules", required_argument, NULL, 'r' },
        { "port", required_argument, NULL, 'p' },
        { "bind", required_argument, NULL, 'b' },
        { "threads", required_argument, NULL, 't' },
        { "max-body", required_argument, NULL, OPT_MAX_BODY },
        { "timeout", required_argument, NULL, OPT_TIMEOUT },
        { "admin-token-file", required_argument, NULL, OPT_TOKEN_FILE },
        { "public-read", no_argument, NULL, OPT_PUBLIC_READ },
        { "hunts", required_argument, NULL, OPT_HUNTS },
        { "item-fallback", required_argument, NULL, OPT_ITEM_FALLBACK },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    trove_serve_params p = trove_serve_default_params();
    const char *token_file = NULL;
    char *token = NULL;
    long v;
    int c, verbose = 0, rc = CLI_EXIT_FAIL;
    trove_server *server = NULL;
    trove_error err;
    trove_error_clear(&err);
    p.port = 8080;
    p.warm_dashboard = 1;
    optind = 1;
    while ((c = getopt_long(argc, argv, "s:c:r:p:b:t:vh", options, NULL)) != -1) {
        switch (c) {
        case 's': p.store_uri = optarg; break;
        case 'c': p.config_dir = optarg; break;
        case 'r': p.rules_dir = optarg; break;
        case 'b': p.bind_address = optarg; break;
        case 'v': verbose = 1; break;
        case 'p':
            if (cli_parse_long(optarg, 0, 65535, &v) != 0)
                return cli_usage_error("serve", "--port must be 0..65535");
            p.port = (uint16_t)v;
            break;
        case 't':
            if (cli_parse_long(optarg, 1, 256, &v) != 0)
                return cli_usage_error("serve", "--threads must be 1..256");
            p.threads = (unsigned)v;
            break;
        case OPT_MAX_BODY:
            if (cli_parse_long(optarg, 1, 1L << 30, &v) != 0)
                return cli_usage_error("serve", "--max-body must be 1..2^30");
            p.max_body = (size_t)v;
            break;
        case OPT_TIMEOUT:
            if (cli_parse_long(optarg, 1, 3600, &v) != 0)
                return cli_usage_error("serve", "--timeout must be 1..3600");
            p.conn_timeout = (unsigned)v;
            break;
        case OPT_TOKEN_FILE: token_file = optarg; break;
        case OPT_PUBLIC_READ: p.public_read = 1; break;
        case OPT_HUNTS: p.hunts_dir = optarg; break;
        case OPT_ITEM_FALLBACK:
            if (strcmp(optarg, "mean") == 0)
                p.item_cold_fallback = TROVE_COLD_MEAN;
            else if (strcmp(optarg, "none") == 0)
                p.item_cold_fallback = TROVE_COLD_NONE;
            else
                return cli_usage_error("serve", "--item-fallback must be mean "
                                       "or none");
            break;
        case 'h': usage(stdout); return CLI_EXIT_OK;
        default:
            return cli_usage_error("serve", "unknown or incomplete option '%s'",
                                   argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("serve", "unexpected argument '%s'", argv[optind]);
    if (p.store_uri == NULL)
        return cli_usage_error("serve", "--store is required");
    cli_setup_log(verbose);
    if (token_file != NULL) {
        token = read_token(token_file);
        if (token == NULL) {
            trove_error_set(&err, TROVE_EIO, "%s: cannot read the admin token",
                            token_file);
            return cli_fail("serve", &err);
        }
        p.admin_token = token;
    } else {
        p.admin_token = getenv("TROVE_ADMIN_TOKEN");
    }
    if (p.admin_token == NULL || p.admin_token[0] == '\0')
        fprintf(stderr, "trove serve: no admin token (TROVE_ADMIN_TOKEN or "
                        "--admin-token-file): admin endpoints answer 403\n");

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (trove_server_start(&p, &server, &err) != TROVE_OK) {
        rc = cli_fail("serve", &err);
        goto done;
    }
    fprintf(stderr, "trove serve: listening on http://%s:%u/\n",
            p.bind_address, (unsigned)trove_server_port(server));
    fflush(stderr);
    while (!stop_requested)
        pause();
    trove_server_stop(server);
    rc = CLI_EXIT_OK;
done:
    if (token != NULL) {
        memset(token, 0, strlen(token));
        free(token);
    }
    return rc;
}
