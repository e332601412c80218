/* error.c - the last error message of each thread, and the log sink. */
#include "core.h"

#include <stdio.h>
#include <string.h>

static _Thread_local char last_msg[512];

static cnn_log_fn log_fn;
static void      *log_user;

int cnn_fail(int code, const char *fmt, ...)
{
    char    msg[sizeof last_msg]; /* the arguments may hold the last message */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    memcpy(last_msg, msg, sizeof msg);
    return code;
}

const char *cnn_last_error(void) { return last_msg; }

const char *cnn_strerror(int code)
{
    switch (code) {
    case CNN_OK:        return "CNN_OK";
    case CNN_EINVAL:    return "CNN_EINVAL";
    case CNN_ESHAPE:    return "CNN_ESHAPE";
    case CNN_ENOMEM:    return "CNN_ENOMEM";
    case CNN_EIO:       return "CNN_EIO";
    case CNN_EFORMAT:   return "CNN_EFORMAT";
    case CNN_EOVERFLOW: return "CNN_EOVERFLOW";
    case CNN_ESTATE:    return "CNN_ESTATE";
    case CNN_EUNSUPPORTED: return "CNN_EUNSUPPORTED";
    default:            return "CNN_E?";
    }
}

void cnn_set_log(cnn_log_fn fn, void *user)
{
    log_fn   = fn;
    log_user = user;
}

void cnn_log(const char *fmt, ...)
{
    char    buf[1024];
    va_list ap;

    if (!log_fn)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    log_fn(buf, log_user);
}

const char *cnn_version(void) { return CNN_VERSION_STRING; }

int cnn_size_mul(int64_t a, int64_t b, int64_t *out)
{
    if (a < 0 || b < 0)
        return cnn_fail(CNN_EOVERFLOW, "size product %lld * %lld: negative factor",
                        (long long)a, (long long)b);
    if (a != 0 && b > INT64_MAX / a)
        return cnn_fail(CNN_EOVERFLOW, "size product %lld * %lld overflows",
                        (long long)a, (long long)b);
    *out = a * b;
    return CNN_OK;
}

int cnn_size_add(int64_t a, int64_t b, int64_t *out)
{
    if (a < 0 || b < 0)
        return cnn_fail(CNN_EOVERFLOW, "size sum %lld + %lld: negative term",
                        (long long)a, (long long)b);
    if (a > INT64_MAX - b)
        return cnn_fail(CNN_EOVERFLOW, "size sum %lld + %lld overflows",
                        (long long)a, (long long)b);
    *out = a + b;
    return CNN_OK;
}

int64_t cnn_shape_numel(const cnn_shape *s)
{
    int64_t n = 1;

    if (!s || s->ndim <= 0)
        return 0;
    for (int i = 0; i < s->ndim; i++)
        n *= s->dim[i];
    return n;
}

char *cnn_shape_str(const cnn_shape *s, char *buf, size_t size)
{
    size_t used = 0;

    if (!buf || size == 0)
        return buf;
    buf[0] = '\0';
    if (!s)
        return buf;
    for (int i = 0; i < s->ndim && used < size; i++) {
        int k = snprintf(buf + used, size - used, i ? "x%lld" : "%lld", (long long)s->dim[i]);
        if (k < 0)
            break;
        used += (size_t)k;
    }
    return buf;
}
