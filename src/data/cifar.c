/* cifar.c - CIFAR-10's binary version
 * (https://www.cs.toronto.edu/~kriz/cifar.html): files of records, each one
 * label byte (0..9) then 3072 pixel bytes, the red, green and blue 32x32
 * planes, which is already the NCHW layout of one image. */
#include "data.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PIXELS 3072            /* 3 x 32 x 32 */
#define RECORD (1 + PIXELS)
#define CHUNK  256             /* records per read */

const char *const cnn_cifar10_names[10] = {
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
};

/* The records of one file into d from image `at`; `count` records expected. */
static int read_file(const char *path, int64_t count, cnn_dataset *d, int64_t at)
{
    unsigned char *buf = malloc((size_t)CHUNK * RECORD);
    FILE          *f   = NULL;
    int            rc  = CNN_OK;

    if (!buf)
        return cnn_fail(CNN_ENOMEM, "%s: out of memory", path);
    if (!(f = fopen(path, "rb"))) {
        rc = cnn_fail(CNN_EIO, "%s: %s", path, strerror(errno));
        goto out;
    }
    for (int64_t done = 0; done < count;) {
        size_t want = count - done < CHUNK ? (size_t)(count - done) : CHUNK;
        size_t got  = fread(buf, RECORD, want, f);
        if (got < want) {
            rc = ferror(f) ? cnn_fail(CNN_EIO, "%s: read error: %s", path, strerror(errno))
                           : cnn_fail(CNN_EFORMAT, "%s: truncated while reading: %lld records, "
                                      "expected %lld", path, (long long)(done + (int64_t)got),
                                      (long long)count);
            goto out;
        }
        for (size_t r = 0; r < got; r++) {
            const unsigned char *rec = buf + r * RECORD;
            int64_t              i   = at + done + (int64_t)r;
            if (rec[0] >= 10) {
                rc = cnn_fail(CNN_EFORMAT, "%s: record %lld has label %d, expected 0..9", path,
                              (long long)(done + (int64_t)r), rec[0]);
                goto out;
            }
            d->labels[i] = rec[0];
            memcpy(d->pixels + i * PIXELS, rec + 1, PIXELS);
        }
        done += (int64_t)got;
    }
out:
    if (f)
        fclose(f);
    free(buf);
    return rc;
}

/* cnn_cifar10_load, returning the error code. */
static int cifar_load(const char *const *paths, int n_paths, cnn_dataset **out)
{
    int64_t     *count = NULL, total = 0;
    cnn_dataset *d     = NULL;
    int          rc    = CNN_OK;

    *out = NULL;
    if (!paths || n_paths <= 0)
        return cnn_fail(CNN_EINVAL, "cifar10 load: no files given");
    if (!(count = calloc((size_t)n_paths, sizeof *count)))
        return cnn_fail(CNN_ENOMEM, "cifar10 load: out of memory");
    for (int i = 0; i < n_paths; i++) {
        struct stat st;
        if (!paths[i]) {
            rc = cnn_fail(CNN_EINVAL, "cifar10 load: path %d is NULL", i);
            goto out;
        }
        if (stat(paths[i], &st) != 0) {
            rc = cnn_fail(CNN_EIO, "%s: %s", paths[i], strerror(errno));
            goto out;
        }
        if (!S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size % RECORD != 0) {
            rc = cnn_fail(CNN_EFORMAT, "%s: %lld bytes, expected a positive multiple of %d "
                          "(records of 1 label byte + 3x32x32 pixels)", paths[i],
                          (long long)st.st_size, RECORD);
            goto out;
        }
        count[i] = (int64_t)st.st_size / RECORD;
        if ((rc = cnn_size_add(total, count[i], &total)) < 0)
            goto out;
    }
    if ((rc = cnn_data_new(total, 3, 32, 32, paths[0], &d)) < 0)
        goto out;
    total = 0;
    for (int i = 0; i < n_paths; i++) {
        if ((rc = read_file(paths[i], count[i], d, total)) < 0)
            goto out;
        total += count[i];
    }
    if ((rc = cnn_data_set_names(d, cnn_cifar10_names, 10)) < 0)
        goto out;
    *out = d;
    d    = NULL;
out:
    cnn_dataset_free(d);
    free(count);
    return rc;
}

cnn_dataset *cnn_cifar10_load(const char *const *paths, int n_paths)
{
    cnn_dataset *d;
    cifar_load(paths, n_paths, &d);
    return d;
}

/* Class names from batches.meta.txt: ten non-empty lines (blank lines and
 * trailing white space ignored). */
static int read_meta(const char *path, cnn_dataset *d)
{
    char  line[256], *names[10] = {0};
    FILE *f  = fopen(path, "r");
    int   n  = 0, rc = CNN_OK, no = 0;

    if (!f)
        return cnn_fail(CNN_EIO, "%s: %s", path, strerror(errno));
    while (fgets(line, sizeof line, f)) {
        size_t len = strlen(line);
        no++;
        if (len == sizeof line - 1 && line[len - 1] != '\n') {
            rc = cnn_fail(CNN_EFORMAT, "%s:%d: line too long for a class name", path, no);
            goto out;
        }
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' ||
                           line[len - 1] == ' ' || line[len - 1] == '\t'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        if (n == 10) {
            rc = cnn_fail(CNN_EFORMAT, "%s:%d: more than 10 class names", path, no);
            goto out;
        }
        if (!(names[n++] = strdup(line))) {
            rc = cnn_fail(CNN_ENOMEM, "%s: out of memory", path);
            goto out;
        }
    }
    if (ferror(f)) {
        rc = cnn_fail(CNN_EIO, "%s: read error", path);
        goto out;
    }
    if (n != 10) {
        rc = cnn_fail(CNN_EFORMAT, "%s: %d class names, expected 10 (one per line)", path, n);
        goto out;
    }
    rc = cnn_data_set_names(d, (const char *const *)names, 10);
out:
    for (int k = 0; k < n; k++)
        free(names[k]);
    fclose(f);
    return rc;
}

static char *join(const char *dir, const char *name)
{
    size_t len = strlen(dir) + strlen(name) + 2;
    char  *p   = malloc(len);
    if (p)
        snprintf(p, len, "%s/%s", dir, name);
    else
        cnn_fail(CNN_ENOMEM, "%s: out of memory", dir);
    return p;
}

int cnn_cifar10_load_dir(const char *dir, cnn_dataset **train, cnn_dataset **test)
{
    static const char *const train_names[5] = {
        "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
        "data_batch_5.bin",
    };
    char        *paths[6] = {0}, *meta = NULL;
    cnn_dataset *tr = NULL, *te = NULL;
    struct stat  st;
    int          rc = CNN_OK;

    if (train)
        *train = NULL;
    if (test)
        *test = NULL;
    if (!dir)
        return cnn_fail(CNN_EINVAL, "cifar10 load: NULL directory");
    for (int i = 0; i < 5; i++)
        if (!(paths[i] = join(dir, train_names[i]))) {
            rc = CNN_ENOMEM;
            goto out;
        }
    if (!(paths[5] = join(dir, "test_batch.bin")) || !(meta = join(dir, "batches.meta.txt"))) {
        rc = CNN_ENOMEM;
        goto out;
    }
    if ((train && (rc = cifar_load((const char *const *)paths, 5, &tr)) < 0) ||
        (test && (rc = cifar_load((const char *const *)paths + 5, 1, &te)) < 0))
        goto out;
    if (stat(meta, &st) == 0 &&
        ((tr && (rc = read_meta(meta, tr)) < 0) || (te && (rc = read_meta(meta, te)) < 0)))
        goto out;
    if (train)
        *train = tr;
    if (test)
        *test = te;
    tr = te = NULL;
out:
    cnn_dataset_free(tr);
    cnn_dataset_free(te);
    for (int i = 0; i < 6; i++)
        free(paths[i]);
    free(meta);
    return rc;
}
