/*
 * trove.c - entry point of the trove program: git-style subcommands.
 *
 *   trove <command> [options]      run a command
 *   trove <command> --help         its options
 *   trove help | --help            the list of commands
 */
#include "cli.h"

#include <string.h>

typedef struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
#define X(name, fn, summary) {#name, fn, summary},
#include "commands.def"
#undef X
};

static void usage(FILE *f)
{
    fprintf(f, "usage: trove <command> [options]\n\n"
               "A recommendation and personalized-offer engine.\n\n"
               "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'trove <command> --help' describes a command's options.\n"
               "'trove --version' prints the version.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        if (argc > 2 && strcmp(argv[1], "help") == 0) {
            for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
                if (strcmp(argv[2], commands[i].name) == 0) {
                    char *sub[] = {argv[2], (char *)"--help", NULL};
                    return commands[i].fn(2, sub);
                }
        }
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("trove %s\n", trove_version());
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "trove: '%s' is not a trove command\n\n", argv[1]);
    usage(stderr);
    return CLI_EXIT_USAGE;
}
