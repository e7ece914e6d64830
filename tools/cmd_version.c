/*
 * cmd_version.c - `trove version`: the library version and build facts.
 */
#include "cli.h"

#include <string.h>

int cmd_version(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: trove version\n\nPrint the version of the trove library.\n");
        return CLI_EXIT_OK;
    }
    printf("trove %s\n", trove_version());
    return CLI_EXIT_OK;
}
