/* file.c - reading a whole file, with the checks every reader needs. */
#include "core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
