/* file.c - reading a whole file, with the checks every reader needs, and
 * writing one atomically. */
#include "core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

uint8_t *cnn_read_file(const char *path, uint64_t max, uint64_t *len)
{
    FILE       *f = fopen(path, "rb");
    uint8_t    *buf;
    long        size;
    struct stat sb;

    if (!f) {
        cnn_fail(CNN_EIO, "%s: %s", path, strerror(errno));
        return NULL;
    }
    /* A regular file only: a directory or a device has no size to trust. */
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(f);
        cnn_fail(CNN_EIO, "%s: not a regular file", path);
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        cnn_fail(CNN_EIO, "%s: cannot read: %s", path, strerror(errno));
        return NULL;
    }
    if ((uint64_t)size > max || (uint64_t)size > SIZE_MAX - 1) {
        fclose(f);
        cnn_fail(CNN_EFORMAT, "%s: %ld bytes, more than the %llu this reader takes", path, size,
                 (unsigned long long)max);
        return NULL;
    }
    if (!(buf = malloc((size_t)size + 1))) {
        fclose(f);
        cnn_fail(CNN_ENOMEM, "%s: out of memory for %ld bytes", path, size);
        return NULL;
    }
    if (fread(buf, 1, (size_t)size, f) != (size_t)size) {
        fclose(f);
        free(buf);
        cnn_fail(CNN_EIO, "%s: short read", path);
        return NULL;
    }
    fclose(f);
    buf[size] = '\0';
    *len      = (uint64_t)size;
    return buf;
}

int cnn_atomic_begin(cnn_atomic *a, const char *path)
{
    size_t n = strlen(path) + 32;

    *a = (cnn_atomic){.path = path};
    if (!(a->tmp = malloc(n)))
        return cnn_fail(CNN_ENOMEM, "%s: out of memory", path);
    snprintf(a->tmp, n, "%s.tmp.%ld", path, (long)getpid());
    if (!(a->f = fopen(a->tmp, "wb"))) {
        int rc = cnn_fail(CNN_EIO, "%s: %s", a->tmp, strerror(errno));
        free(a->tmp);
        a->tmp = NULL;
        return rc;
    }
    return CNN_OK;
}

int cnn_atomic_end(cnn_atomic *a, bool ok)
{
    int rc = CNN_OK;

    if (!a->tmp)
        return CNN_OK;
    /* Flushed to the disk before the rename makes it the file. */
    if (ok && (fflush(a->f) != 0 || fsync(fileno(a->f)) != 0))
        rc = cnn_fail(CNN_EIO, "%s: write failed: %s", a->tmp, strerror(errno));
    if (fclose(a->f) != 0 && ok && rc == CNN_OK)
        rc = cnn_fail(CNN_EIO, "%s: write failed: %s", a->tmp, strerror(errno));
    if (ok && rc == CNN_OK && rename(a->tmp, a->path) != 0)
        rc = cnn_fail(CNN_EIO, "%s: cannot rename to %s: %s", a->tmp, a->path, strerror(errno));
    if (!ok || rc < 0)
        remove(a->tmp);
    free(a->tmp);
    *a = (cnn_atomic){0};
    return rc;
}
