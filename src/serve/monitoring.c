/*
 * monitoring.c - GET /v1/monitoring. No endpoint is
 * registered yet: owns() claims nothing, so these paths answer 404.
 */
#include "serve_int.h"

int trove__serve_monitoring_owns(const char *url)
{
    (void)url;
    return 0;
}

int trove__serve_monitoring_handle(trove_server *s, const serve_req *r,
                              serve_resp *out)
{
    (void)s;
    (void)r;
    (void)out;
    return 0;
}
