/*
 * status.c - version, status codes, the per-thread error message, memory.
 */
#include "core/internal.h"

#include <stdarg.h>
#include <string.h>

const char *attn_version(void) { return ATTN_VERSION_STRING; }
int attn_version_number(void) { return ATTN_VERSION_NUMBER; }

const char *attn_status_str(attn_status status)
{
    switch (status) {
    case ATTN_OK: return "ok";
    case ATTN_ERR_INVALID: return "invalid argument";
    case ATTN_ERR_NOMEM: return "out of memory";
    case ATTN_ERR_OVERFLOW: return "size overflow";
    case ATTN_ERR_IO: return "input/output error";
    case ATTN_ERR_FORMAT: return "corrupt or unsupported file";
    case ATTN_ERR_UNSUPPORTED: return "not supported";
    case ATTN_ERR_MISUSE: return "library misuse";
    }
    return "unknown status";
}

/* The one piece of per-thread state: the last failure's message. */
static _Thread_local char last_error[1024];

const char *attn_errmsg(void) { return last_error; }

attn_status attn_set_error(attn_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt ? fmt : "", ap);
    va_end(ap);
    return status;
}

void *attn_alloc(size_t bytes, const char *what)
{
    size_t rounded = (bytes + 63) / 64 * 64;
    if (rounded < bytes) {
        attn_fail(ATTN_ERR_OVERFLOW, "cannot allocate %s: %zu bytes overflows", what, bytes);
        return NULL;
    }
    void *p = aligned_alloc(64, rounded ? rounded : 64);
    if (!p)
        attn_fail(ATTN_ERR_NOMEM, "out of memory allocating %s (%zu bytes)", what, bytes);
    return p;
}

void attn_free(void *ptr) { free(ptr); }

