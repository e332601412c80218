/* data.c - `--data SPEC` for every subcommand: which reader a dataset
 * needs, found from what the directory holds. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static bool exists(const char *dir, const char *name)
{
    char        path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0;
}

int cli_load_data(const char *cmd, const char *spec, int c, int h, int w, cnn_dataset **train,
                  cnn_dataset **test)
{
    struct stat st;
    int         rc;

    *train = *test = NULL;
    if (strcmp(spec, "fashion-mnist") != 0 && (stat(spec, &st) != 0 || !S_ISDIR(st.st_mode))) {
        cli_error(cmd, "--data %s: expected fashion-mnist or a directory (MNIST-format IDX files, "
                  "CIFAR-10 binary batches, or an image folder with train/ and test/)", spec);
        return -1;
    }
    if (strcmp(spec, "fashion-mnist") == 0 || exists(spec, "train-images-idx3-ubyte") ||
        exists(spec, "train-images-idx3-ubyte.gz")) {
        rc = cnn_mnist_load(spec, train, test);
    } else if (exists(spec, "data_batch_1.bin")) {
        rc = cnn_cifar10_load_dir(spec, train, test);
    } else if (exists(spec, "train") && (exists(spec, "test") || exists(spec, "val"))) {
        char tr[4096], te[4096];
        if (c <= 0 || h <= 0 || w <= 0) {
            cli_error(cmd, "--data %s: an image folder needs the model's input size (--input CxHxW)",
                      spec);
            return -1;
        }
        snprintf(tr, sizeof tr, "%s/train", spec);
        snprintf(te, sizeof te, "%s/%s", spec, exists(spec, "test") ? "test" : "val");
        rc     = -1;
        *train = cnn_imagefolder_load(tr, c, h, w);
        if (*train && (*test = cnn_imagefolder_load(te, c, h, w)))
            rc = 0;
    } else {
        cli_error(cmd, "--data %s: no train-images-idx3-ubyte[.gz], data_batch_1.bin, or train/ and "
                  "test/ folders in it", spec);
        return -1;
    }
    if (rc < 0) {
        cli_error(cmd, "%s", cnn_last_error());
        cnn_dataset_free(*train);
        cnn_dataset_free(*test);
        *train = *test = NULL;
        return -1;
    }
    if (*train && *test &&
        ((*train)->c != (*test)->c || (*train)->h != (*test)->h || (*train)->w != (*test)->w)) {
        cli_error(cmd, "--data %s: train images are %dx%dx%d but test images %dx%dx%d", spec,
                  (*train)->c, (*train)->h, (*train)->w, (*test)->c, (*test)->h, (*test)->w);
        cnn_dataset_free(*train);
        cnn_dataset_free(*test);
        *train = *test = NULL;
        return -1;
    }
    return 0;
}

int cli_parse_classes(const char *s, int *lo, int *hi)
{
    char        buf[64];
    const char *dash = strchr(s, '-');

    if (!dash)
        return cli_parse_int(s, 0, 65535, lo) ? -1 : (*hi = *lo, 0);
    if ((size_t)(dash - s) >= sizeof buf)
        return -1;
    memcpy(buf, s, (size_t)(dash - s));
    buf[dash - s] = '\0';
    if (cli_parse_int(buf, 0, 65535, lo) || cli_parse_int(dash + 1, 0, 65535, hi) || *hi < *lo)
        return -1;
    return 0;
}

/* Replaces *d by its classes lo..hi. */
static int keep_classes(const char *cmd, int lo, int hi, cnn_dataset **d)
{
    cnn_dataset *s;

    if (!*d)
        return 0;
    if (hi >= (*d)->classes) {
        cli_error(cmd, "data classes %d-%d: the data has classes 0 to %d", lo, hi,
                  (*d)->classes - 1);
        return -1;
    }
    if (!(s = cnn_dataset_subset(*d, lo, hi, 0))) {
        cli_error(cmd, "%s", cnn_last_error());
        return -1;
    }
    cnn_dataset_free(*d);
    *d = s;
    return 0;
}

int cli_select_data(const char *cmd, int lo, int hi, int sample, uint64_t seed,
                    cnn_dataset **train, cnn_dataset **test)
{
    cnn_dataset *s;

    if (lo >= 0 && (keep_classes(cmd, lo, hi, train) || keep_classes(cmd, lo, hi, test)))
        return -1;
    if (sample <= 0 || !*train)
        return 0;
    if (sample > (*train)->n) {
        cli_error(cmd, "--train-sample %d: the training set has %lld images%s", sample,
                  (long long)(*train)->n, lo >= 0 ? " in those classes" : "");
        return -1;
    }
    if (!(s = cnn_dataset_sample(*train, sample, seed))) {
        cli_error(cmd, "%s", cnn_last_error());
        return -1;
    }
    cnn_dataset_free(*train);
    *train = s;
    return 0;
}

int cli_meta_classes(const char *cmd, const char *metatext, cnn_dataset **train,
                     cnn_dataset **test)
{
    char buf[64];
    int  lo, hi;

    if (!meta_get(metatext, "data_classes", buf, sizeof buf))
        return 0;
    if (cli_parse_classes(buf, &lo, &hi)) {
        cli_error(cmd, "the checkpoint's data_classes=%s is not LO-HI", buf);
        return -1;
    }
    return cli_select_data(cmd, lo, hi, 0, 0, train, test);
}

void cli_floats_str(const float *v, int n, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, i ? ",%.9g" : "%.9g", (double)v[i]);
}

int cli_str_floats(const char *s, float *v, int max)
{
    char  buf[512], *save = NULL, *tok;
    int   n = 0;

    if (!s || strlen(s) >= sizeof buf)
        return -1;
    strcpy(buf, s);
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (n == max || cli_parse_float(tok, -1e30f, 1e30f, &v[n]))
            return -1;
        n++;
    }
    return n;
}
