/*
 * hunts.c - the treasure-hunt endpoints (GET /v1/hunts...). No endpoint is
 * registered yet: owns() claims nothing, so these paths answer 404.
 */
#include "serve_int.h"

int trove__serve_hunts_owns(const char *url)
{
    (void)url;
    return 0;
}

int trove__serve_hunts_handle(trove_server *s, const serve_req *r,
                              serve_resp *out)
{
    (void)s;
    (void)r;
    (void)out;
    return 0;
}
