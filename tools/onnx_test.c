/* onnx_test.c - `cnn onnx-test DIR...`: runs tests in the layout of ONNX's
 * backend tests (DIR/model.onnx, DIR/test_data_set_N/input_K.pb and
 * output_K.pb) and compares with ONNX's tolerances. */
#include "cli.h"

#include <dirent.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_SETS 256
#define MAX_PATH 4096

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cnn onnx-test [--rtol R] [--atol A] [--threads N] DIR...\n"
            "\n"
            "Each DIR is a test in the layout of ONNX's backend tests: DIR/model.onnx and\n"
            "DIR/test_data_set_N/input_K.pb, output_K.pb (serialized TensorProtos). The model\n"
            "is imported with the inputs of each data set (inputs an op needs constant, such\n"
            "as a Conv weight, become constants), run in eval mode, and every output compared\n"
            "with |got - want| <= atol + rtol * |want| (NumPy's assert_allclose; NaN equals\n"
            "NaN). One line per test: PASS, FAIL with the largest errors, or SKIP with what\n"
            "is not supported; then \"N passed, N failed, N skipped\". Exit status 1 if any\n"
            "test failed.\n"
            "\n"
            "  --rtol R     relative tolerance (default 1e-3, ONNX's)\n"
            "  --atol A     absolute tolerance (default 1e-7, ONNX's)\n"
            "               (DIR/data.json's \"rtol\" and \"atol\", where given, take precedence)\n"
            "  --threads N  threads per graph (default 1)\n");
}

typedef enum { T_PASS, T_FAIL, T_SKIP } verdict;

typedef struct run {
    double rtol, atol;
    int    threads;
    char   why[1024]; /* the reason of a FAIL or SKIP */
} run;

static verdict fail(run *r, verdict v, const char *fmt, ...) CLI_PRINTF(3, 4);
static verdict fail(run *r, verdict v, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->why, sizeof r->why, fmt, ap);
    va_end(ap);
    return v;
}

/* A library message without the leading "PATH: " of the model, or with
 * "DIR/" cut from the front of a data file's path. */
static const char *trim(const char *msg, const char *path)
{
    size_t n = strlen(path);
    if (strncmp(msg, path, n) != 0)
        return msg;
    return msg[n] == ':' && msg[n + 1] == ' ' ? msg + n + 2 : msg[n] == '/' ? msg + n + 1 : msg;
}

/* "rtol" and "atol" from DIR/data.json, where the test states them. */
static void tolerances(const char *dir, double *rtol, double *atol)
{
    char  path[MAX_PATH], text[4096];
    FILE *f;
    size_t n;

    snprintf(path, sizeof path, "%s/data.json", dir);
    if (!(f = fopen(path, "r")))
        return;
    n       = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    for (int k = 0; k < 2; k++) {
        char *p = strstr(text, k ? "\"atol\"" : "\"rtol\"");
        if (p && (p = strchr(p, ':'))) {
            char  *end;
            double v = strtod(p + 1, &end);
            if (end != p + 1 && v >= 0 && isfinite(v))
                *(k ? atol : rtol) = v;
        }
    }
}

static int cmp_sets(const void *a, const void *b)
{
    return atoi(strrchr(*(char *const *)a, '_') + 1) - atoi(strrchr(*(char *const *)b, '_') + 1);
}

/* The test_data_set_N folders of dir, in the order of N. */
static int data_sets(const char *dir, char **names, int max)
{
    DIR           *d = opendir(dir);
    struct dirent *e;
    int            n = 0;

    if (!d)
        return -1;
    while ((e = readdir(d)) && n < max)
        if (strncmp(e->d_name, "test_data_set_", 14) == 0 && e->d_name[14] &&
            strspn(e->d_name + 14, "0123456789") == strlen(e->d_name + 14) &&
            (names[n] = malloc(strlen(e->d_name) + 1)))
            strcpy(names[n++], e->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_sets);
    return n;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Reads PREFIX_0.pb, PREFIX_1.pb ... of a data set into t (at most max).
 * A file that is no tensor of a type read here is judged by the model: the
 * backend tests also hold sequences and optionals, whose models this
 * library does not import anyway (SKIP with the model's reason). */
static int read_tensors(run *r, const char *model, const char *dir, const char *set,
                        const char *prefix, cnn_onnx_tensor *t, int max, int *n, verdict *v)
{
    char path[MAX_PATH];

    for (*n = 0; *n < max; (*n)++) {
        int rc;
        snprintf(path, sizeof path, "%s/%s_%d.pb", set, prefix, *n);
        if (!exists(path))
            break;
        if ((rc = cnn_onnx_tensor_load(path, &t[*n])) < 0) {
            cnn_onnx_opts o;
            cnn_graph    *g;
            *v = fail(r, rc == CNN_EUNSUPPORTED ? T_SKIP : T_FAIL, "%s",
                      trim(cnn_last_error(), dir));
            memset(&o, 0, sizeof o);
            g = cnn_onnx_load(model, &o);
            cnn_graph_free(g);
            if (!g && o.error == CNN_EUNSUPPORTED)
                *v = fail(r, T_SKIP, "%s", trim(cnn_last_error(), model));
            return -1;
        }
    }
    return 0;
}

/* Element-wise comparison; the largest absolute and relative errors. */
static bool allclose(const run *r, const float *got, const float *want, int64_t n, double *max_abs,
                     double *max_rel)
{
    bool ok = true;

    *max_abs = *max_rel = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double g = got[i], w = want[i], err = fabs(g - w);
        if (isnan(g) && isnan(w))
            continue;
        if (isinf(w) && g == w)
            continue;
        if (!(err <= r->atol + r->rtol * fabs(w)))
            ok = false;
        if (!(err <= *max_abs))
            *max_abs = err;
        if (w != 0.0 && !(err / fabs(w) <= *max_rel))
            *max_rel = err / fabs(w);
    }
    return ok;
}

/* One data set: import with its inputs, run, compare its outputs. */
static verdict run_set(run *r, const char *model, const char *dir, const char *set)
{
    const char     *sname = trim(set, dir);
    cnn_onnx_tensor in[CNN_ONNX_MAX_IO] = {{0}}, out[CNN_ONNX_MAX_IO] = {{0}};
    cnn_onnx_opts   o;
    cnn_graph      *g = NULL;
    verdict         v = T_PASS;
    int             n_in = 0, n_out = 0, batch;

    memset(&o, 0, sizeof o);
    if (read_tensors(r, model, dir, set, "input", in, CNN_ONNX_MAX_IO, &n_in, &v) < 0 ||
        read_tensors(r, model, dir, set, "output", out, CNN_ONNX_MAX_IO, &n_out, &v) < 0)
        goto done;
    o.feeds   = in;
    o.n_feeds = n_in;
    if (!(g = cnn_onnx_load(model, &o))) {
        v = fail(r, o.error == CNN_EUNSUPPORTED ? T_SKIP : T_FAIL, "%s",
                 trim(cnn_last_error(), model));
        goto done;
    }
    if (n_in < o.n_inputs || n_out != o.n_outputs) {
        v = fail(r, T_FAIL, "%s: %d inputs and %d outputs, the model has %d and %d", sname, n_in,
                 n_out, o.n_inputs, o.n_outputs);
        goto done;
    }
    batch = o.inputs[0].ndim > 0 ? (int)o.inputs[0].dim[0] : 1;
    if (batch < 1 || cnn_graph_set_threads(g, r->threads) < 0 || cnn_graph_plan(g, batch) < 0) {
        v = fail(r, T_FAIL, "%s: batch %d: %s", sname, batch, cnn_last_error());
        goto done;
    }
    for (int k = 0; k < o.n_inputs; k++)
        if (o.inputs[k].node >= 0 && cnn_graph_set_input(g, o.inputs[k].node, in[k].data) < 0) {
            v = fail(r, T_FAIL, "%s: input %d: %s", sname, k, cnn_last_error());
            goto done;
        }
    if (cnn_graph_forward(g, CNN_EVAL) < 0) {
        v = fail(r, T_FAIL, "%s: %s", sname, cnn_last_error());
        goto done;
    }
    for (int k = 0; k < n_out; k++) {
        const cnn_onnx_value *ov = &o.outputs[k];
        bool                  same = out[k].ndim == ov->ndim;
        double                ea, er;

        if (!out[k].data) {
            v = fail(r, T_SKIP, "%s: output %d holds integers; only float outputs are compared",
                     set, k);
            goto done;
        }
        for (int d = 0; same && d < ov->ndim; d++)
            same = out[k].dim[d] == (d == 0 ? batch : ov->dim[d]);
        if (!same) {
            char a[128] = "", b[128] = "";
            for (int d = 0; d < out[k].ndim; d++)
                snprintf(a + strlen(a), sizeof a - strlen(a), "%s%lld", d ? "x" : "",
                         (long long)out[k].dim[d]);
            for (int d = 0; d < ov->ndim; d++)
                snprintf(b + strlen(b), sizeof b - strlen(b), "%s%lld", d ? "x" : "",
                         (long long)(d == 0 ? batch : ov->dim[d]));
            v = fail(r, T_FAIL, "%s: output %d has shape [%s], expected [%s]", sname, k, b, a);
            goto done;
        }
        if (!allclose(r, cnn_graph_data(g, ov->node), out[k].data, out[k].numel, &ea, &er)) {
            v = fail(r, T_FAIL, "%s: output %d: max abs err %.3g, max rel err %.3g", sname, k, ea,
                     er);
            goto done;
        }
    }
done:
    cnn_graph_free(g);
    for (int k = 0; k < CNN_ONNX_MAX_IO; k++) {
        cnn_onnx_tensor_free(&in[k]);
        cnn_onnx_tensor_free(&out[k]);
    }
    return v;
}

static verdict run_dir(run *r, const char *dir)
{
    char    model[MAX_PATH], set[MAX_PATH], *names[MAX_SETS];
    int     n;
    verdict v = T_PASS;
    double  rtol = r->rtol, atol = r->atol;

    snprintf(model, sizeof model, "%s/model.onnx", dir);
    if (!exists(model))
        return fail(r, T_FAIL, "no %s", model);
    if ((n = data_sets(dir, names, MAX_SETS)) < 0)
        return fail(r, T_FAIL, "cannot list %s", dir);
    if (n == 0)
        return fail(r, T_FAIL, "no %s/test_data_set_N folders", dir);
    tolerances(dir, &r->rtol, &r->atol);
    for (int i = 0; i < n && v == T_PASS; i++) {
        snprintf(set, sizeof set, "%s/%s", dir, names[i]);
        v = run_set(r, model, dir, set);
    }
    for (int i = 0; i < n; i++)
        free(names[i]);
    r->rtol = rtol, r->atol = atol;
    return v;
}

int cmd_onnx_test(int argc, char **argv)
{
    static const struct option opts[] = {
        {"rtol", required_argument, NULL, 'r'}, {"atol", required_argument, NULL, 'a'},
        {"threads", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    run   r = {.rtol = 1e-3, .atol = 1e-7, .threads = 1};
    int   opt, count[3] = {0, 0, 0};
    float f;

    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case 'r':
        case 'a':
            if (cli_parse_float(optarg, 0.0f, 1.0f, &f) < 0)
                return cli_error("onnx-test", "--%s %s: expected a number from 0 to 1",
                                 opt == 'r' ? "rtol" : "atol", optarg);
            *(opt == 'r' ? &r.rtol : &r.atol) = f;
            break;
        case 't':
            if (cli_parse_int(optarg, 1, 1024, &r.threads) < 0)
                return cli_error("onnx-test", "--threads %s: expected 1 to 1024", optarg);
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind == argc) {
        usage(stderr);
        return 2;
    }
    if (!cnn_onnx_available())
        return cli_error("onnx-test", "this cnn was built without ONNX support (install "
                         "protobuf-c and onnx.proto: sh scripts/setup.sh, then rebuild)");
    for (int i = optind; i < argc; i++) {
        const char *dir  = argv[i];
        size_t      len  = strlen(dir);
        const char *name;
        verdict     v;

        while (len > 1 && dir[len - 1] == '/')
            len--;
        name = dir + len;
        while (name > dir && name[-1] != '/')
            name--;
        r.why[0] = '\0';
        v        = run_dir(&r, dir);
        count[v]++;
        if (v == T_PASS)
            printf("PASS %.*s\n", (int)(dir + len - name), name);
        else
            printf("%s %.*s: %s\n", v == T_FAIL ? "FAIL" : "SKIP", (int)(dir + len - name), name,
                   r.why);
        fflush(stdout);
    }
    printf("%d passed, %d failed, %d skipped\n", count[T_PASS], count[T_FAIL], count[T_SKIP]);
    return count[T_FAIL] ? 1 : 0;
}
