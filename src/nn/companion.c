/*
 * companion.c - attn_set_error: the public door to the per-thread error
 * message for libraries built on libattn (libattn_checkpoint).  It lives
 * beside the layers because those libraries are their clients; the message
 * itself stays in core/status.c.
 */
#include "core/internal.h"

#include <stdarg.h>

attn_status attn_set_error(attn_status status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt ? fmt : "", ap);
    va_end(ap);
    return attn_fail(status, "%s", msg);
}
