/* meta.c - the "key=value" metadata lines stored in checkpoints. */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void meta_init(meta *m)
{
    m->text = NULL;
    m->len = m->cap = 0;
}

void meta_free(meta *m)
{
    free(m->text);
    meta_init(m);
}

int meta_set(meta *m, const char *key, const char *fmt, ...)
{
    char    val[4096];
    va_list ap;
    size_t  need;

    va_start(ap, fmt);
    vsnprintf(val, sizeof val, fmt, ap);
    va_end(ap);
    /* Values are single lines. */
    for (char *p = val; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    need = m->len + strlen(key) + strlen(val) + 3;
    if (need > m->cap) {
        size_t cap = m->cap ? m->cap : 1024;
        while (cap < need)
            cap *= 2;
        char *t = realloc(m->text, cap);
        if (!t)
            return -1;
        m->text = t;
        m->cap  = cap;
    }
    m->len += (size_t)sprintf(m->text + m->len, "%s=%s\n", key, val);
    return 0;
}

/* The value of `key` in text (the last one if repeated), copied into out. */
const char *meta_get(const char *text, const char *key, char *out, size_t size)
{
    size_t      klen  = strlen(key);
    const char *found = NULL;

    if (!text)
        return NULL;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        if (strncmp(p, key, klen) == 0 && p[klen] == '=')
            found = p + klen + 1;
        if (!nl)
            break;
        p = nl + 1;
    }
    if (!found)
        return NULL;
    size_t n = strcspn(found, "\n");
    if (n >= size)
        n = size - 1;
    memcpy(out, found, n);
    out[n] = '\0';
    return out;
}

void meta_norm(const char *text, float *mean, float *std)
{
    char buf[512];
    cli_str_floats(meta_get(text, "mean", buf, sizeof buf), mean, 4);
    cli_str_floats(meta_get(text, "std", buf, sizeof buf), std, 4);
}
