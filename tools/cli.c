/* cli.c - helpers shared by the subcommands. */
#include "cli.h"
#include "dist.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cli_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    if (dist_size() > 1) /* which of the job's processes says it */
        fprintf(stderr, "cnn %s: rank %d of %d: ", cmd, dist_rank(), dist_size());
    else
        fprintf(stderr, "cnn %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

int cli_parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    long  v;

    if (!s)
        return -1;
    errno = 0;
    v     = strtol(s, &end, 10);
    if (end == s || *end || errno || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

int cli_parse_chw(const char *s, int *c, int *h, int *w)
{
    char buf[64], *x1, *x2;

    if (!s || strlen(s) >= sizeof buf)
        return -1;
    strcpy(buf, s);
    if (!(x1 = strchr(buf, 'x')) || !(x2 = strchr(x1 + 1, 'x')))
        return -1;
    *x1 = *x2 = '\0';
    if (cli_parse_int(buf, 1, 1 << 24, c) || cli_parse_int(x1 + 1, 1, 1 << 24, h) ||
        cli_parse_int(x2 + 1, 1, 1 << 24, w))
        return -1;
    return 0;
}

static bool is_zoo(const char *name)
{
    for (int i = 0; cnn_model_name(i); i++)
        if (strcmp(cnn_model_name(i), name) == 0)
            return true;
    return false;
}

cnn_graph *cli_load_model(const char *cmd, const char *model, int classes, int c, int h, int w,
                          bool sized)
{
    struct stat st;
    cnn_graph  *g;

    if (is_zoo(model)) {
        if (!(g = cnn_model_new(model, classes, c, h, w)))
            cli_error(cmd, "%s", cnn_last_error());
        return g;
    }
    if (stat(model, &st) != 0) {
        cli_error(cmd, "'%s' is neither a zoo model nor a readable file (zoo: see cnn summary --list)",
                  model);
        return NULL;
    }
    if (sized) {
        cli_error(cmd, "--input and --classes apply to zoo models; '%s' sets its own", model);
        return NULL;
    }
    /* An ONNX model by its name, else a network description. */
    if (strlen(model) > 5 && strcmp(model + strlen(model) - 5, ".onnx") == 0)
        g = cnn_onnx_load(model, NULL);
    else
        g = cnn_netdesc_load(model);
    if (!g)
        cli_error(cmd, "%s", cnn_last_error());
    return g;
}

const char *cli_commas(long long v, char *buf, size_t size)
{
    char digits[32];
    int  n, out = 0;

    n = snprintf(digits, sizeof digits, "%lld", v < 0 ? -v : v);
    if (v < 0 && out < (int)size - 1)
        buf[out++] = '-';
    for (int i = 0; i < n && out < (int)size - 1; i++) {
        buf[out++] = digits[i];
        if ((n - i - 1) % 3 == 0 && i < n - 1 && out < (int)size - 1)
            buf[out++] = ',';
    }
    buf[out] = '\0';
    return buf;
}

int cli_parse_float(const char *s, float lo, float hi, float *out)
{
    char *end;
    float v;

    if (!s)
        return -1;
    errno = 0;
    v     = strtof(s, &end);
    if (end == s || *end || errno || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

int cli_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN) / dist_local_size(); /* shared by the ranks here */
    return n < 1 ? 1 : n > 256 ? 256 : (int)n;
}

int cli_mkdirs(const char *path)
{
    char buf[4096];
    size_t n = strlen(path);

    if (n == 0 || n >= sizeof buf)
        return -1;
    strcpy(buf, path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0777) != 0 && errno != EEXIST ? -1 : 0;
}
