/* image.c - PNG and JPEG files through stb_image (Debian's libstb-dev,
 * whose libstb holds the implementations), resized with stb_image_resize
 * the way torchvision's Resize(max(h, w)) + CenterCrop((h, w)) does: the
 * shorter side to max(h, w), the aspect ratio kept, then the centre h x w.
 * Without stb the functions say so and fail. */
#include "data.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#ifdef CNN_HAVE_STB
#include <stb/stb_image.h>
#include <stb/stb_image_resize.h>
#endif

/* The resized image before the crop may hold at most this many bytes: a
 * 1 x 100000 strip scaled to 224 rows would need gigabytes. */
#define MAX_RESIZED ((int64_t)1 << 28)

static int check_size(const char *who, int c, int h, int w)
{
    if (c != 1 && c != 3)
        return cnn_fail(CNN_EINVAL, "%s: %d channels, expected 1 (grey) or 3 (RGB)", who, c);
    if (h <= 0 || w <= 0 || h > (1 << 16) || w > (1 << 16))
        return cnn_fail(CNN_EINVAL, "%s: size %dx%d, expected 1..65536 on each side", who, h, w);
    return CNN_OK;
}

#ifdef CNN_HAVE_STB

/* The image at `path` as c x h x w bytes (NCHW) into dst. */
static int decode(const char *path, int c, int h, int w, uint8_t *dst)
{
    unsigned char *img = NULL, *big = NULL;
    const uint8_t *src;
    FILE          *f;
    int            iw, ih, ic, rc = CNN_OK;
    int64_t        s = h > w ? h : w, nh, nw, bytes, top, left;

    if (!(f = fopen(path, "rb")))
        return cnn_fail(CNN_EIO, "%s: %s", path, strerror(errno));
    img = stbi_load_from_file(f, &iw, &ih, &ic, c);
    fclose(f);
    if (!img)
        return cnn_fail(CNN_EFORMAT, "%s: cannot decode the image (%s)", path,
                        stbi_failure_reason() ? stbi_failure_reason() : "unknown reason");
    if (iw <= 0 || ih <= 0) {
        rc = cnn_fail(CNN_EFORMAT, "%s: image of %dx%d pixels", path, iw, ih);
        goto out;
    }
    /* The shorter side becomes s, the other keeps the aspect ratio
     * (rounded, and at least s). */
    if (ih <= iw) {
        nh = s;
        nw = ((int64_t)iw * s + ih / 2) / ih;
    } else {
        nw = s;
        nh = ((int64_t)ih * s + iw / 2) / iw;
    }
    nh = nh < s ? s : nh;
    nw = nw < s ? s : nw;
    if (nh > INT_MAX || nw > INT_MAX || cnn_size_mul(nh, nw, &bytes) < 0 ||
        cnn_size_mul(bytes, c, &bytes) < 0 || bytes > MAX_RESIZED) {
        rc = cnn_fail(CNN_EOVERFLOW, "%s: a %dx%d image would be resized to %lldx%lld, too large "
                      "(aspect ratio too extreme)", path, iw, ih, (long long)nw, (long long)nh);
        goto out;
    }
    src = img;
    if (nh != ih || nw != iw) {
        if (!(big = malloc((size_t)bytes))) {
            rc = cnn_fail(CNN_ENOMEM, "%s: out of memory for a %lldx%lld image", path,
                          (long long)nw, (long long)nh);
            goto out;
        }
        if (!stbir_resize_uint8(img, iw, ih, 0, big, (int)nw, (int)nh, 0, c)) {
            rc = cnn_fail(CNN_ENOMEM, "%s: resizing %dx%d to %lldx%lld failed", path, iw, ih,
                          (long long)nw, (long long)nh);
            goto out;
        }
        src = big;
    }
    /* Centre crop (offsets rounded down), interleaved HWC to planar CHW. */
    top  = (nh - h) / 2;
    left = (nw - w) / 2;
    for (int ch = 0; ch < c; ch++)
        for (int i = 0; i < h; i++) {
            const uint8_t *row = src + ((top + i) * nw + left) * c + ch;
            uint8_t       *out = dst + ((int64_t)ch * h + i) * w;
            for (int j = 0; j < w; j++)
                out[j] = row[(int64_t)j * c];
        }
out:
    stbi_image_free(img);
    free(big);
    return rc;
}

int cnn_image_load(const char *path, int c, int h, int w, float *out)
{
    uint8_t *px;
    int      rc;

    if (!path || !out)
        return cnn_fail(CNN_EINVAL, "image load: NULL argument");
    if ((rc = check_size(path, c, h, w)) < 0)
        return rc;
    if (!(px = malloc((size_t)c * (size_t)h * (size_t)w)))
        return cnn_fail(CNN_ENOMEM, "%s: out of memory", path);
    if ((rc = decode(path, c, h, w, px)) == CNN_OK)
        for (int64_t i = 0; i < (int64_t)c * h * w; i++)
            out[i] = px[i] / 255.0f;
    free(px);
    return rc;
}

/* ==== @@FOLDER ==== */

/* A growable list of strings. */
typedef struct strs {
    char **v;
    int    n, cap;
} strs;

static int push(strs *l, char *s)
{
    if (l->n == l->cap) {
        int    cap = l->cap ? 2 * l->cap : 16;
        char **v   = l->cap < INT_MAX / 2 ? realloc(l->v, (size_t)cap * sizeof *v) : NULL;
        if (!v) {
            free(s);
            return CNN_ENOMEM;
        }
        l->v   = v;
        l->cap = cap;
    }
    l->v[l->n++] = s;
    return CNN_OK;
}

static void strs_free(strs *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *join(const char *dir, const char *name)
{
    size_t len = strlen(dir) + strlen(name) + 2;
    char  *p   = malloc(len);
    if (p)
        snprintf(p, len, "%s/%s", dir, name);
    return p;
}

static bool is_image_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && dot != name &&
           (strcasecmp(dot, ".png") == 0 || strcasecmp(dot, ".jpg") == 0 ||
            strcasecmp(dot, ".jpeg") == 0);
}

/* The entries of `dir` that are folders (want_dirs) or image files, as
 * names (not paths), sorted. Names starting with '.' are skipped. */
static int list_dir(const char *dir, bool want_dirs, strs *out)
{
    DIR           *dp;
    struct dirent *e;
    int            rc = CNN_OK;

    if (!(dp = opendir(dir)))
        return cnn_fail(CNN_EIO, "%s: %s", dir, strerror(errno));
    errno = 0;
    while ((e = readdir(dp))) {
        struct stat st;
        char       *path;
        bool        ok;
        if (e->d_name[0] == '.' || (!want_dirs && !is_image_name(e->d_name)))
            continue;
        if (!(path = join(dir, e->d_name))) {
            rc = cnn_fail(CNN_ENOMEM, "%s: out of memory", dir);
            break;
        }
        ok = stat(path, &st) == 0 && (want_dirs ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode));
        free(path);
        if (!ok)
            continue;
        char *name = strdup(e->d_name);
        if (!name || push(out, name) < 0) {
            rc = cnn_fail(CNN_ENOMEM, "%s: out of memory", dir);
            break;
        }
        errno = 0;
    }
    if (rc == CNN_OK && errno != 0)
        rc = cnn_fail(CNN_EIO, "%s: %s", dir, strerror(errno));
    closedir(dp);
    if (rc == CNN_OK && out->n > 1)
        qsort(out->v, (size_t)out->n, sizeof *out->v, by_name);
    return rc;
}

/* cnn_imagefolder_load, returning the error code. */
static int folder_load(const char *dir, int c, int h, int w, cnn_dataset **out)
{
    strs         classes = {0}, files = {0}, names = {0};
    int32_t     *label = NULL;
    signed char *bad   = NULL;
    cnn_dataset *d     = NULL;
    int64_t      sample = (int64_t)c * h * w;
    int          rc;

    *out = NULL;
    if ((rc = list_dir(dir, true, &classes)) < 0)
        goto out;
    if (classes.n == 0) {
        rc = cnn_fail(CNN_EFORMAT, "%s: no sub-folders (expected one per class, holding "
                      ".png/.jpg/.jpeg images)", dir);
        goto out;
    }
    for (int k = 0; k < classes.n; k++) {
        char *sub = join(dir, classes.v[k]);
        int   n0  = files.n;
        if (!sub) {
            rc = cnn_fail(CNN_ENOMEM, "%s: out of memory", dir);
            goto out;
        }
        names.n = 0;
        rc      = list_dir(sub, false, &names);
        for (int i = 0; i < names.n && rc == CNN_OK; i++) {
            char   *p = join(sub, names.v[i]);
            int32_t *nl;
            if (!p || push(&files, p) < 0 ||
                !(nl = realloc(label, (size_t)files.n * sizeof *label))) {
                rc = cnn_fail(CNN_ENOMEM, "%s: out of memory", dir);
                break;
            }
            label               = nl;
            label[files.n - 1] = k;
        }
        for (int i = 0; i < names.n; i++)
            free(names.v[i]);
        if (rc == CNN_OK && files.n == n0)
            rc = cnn_fail(CNN_EFORMAT, "%s: no .png/.jpg/.jpeg files (every class folder needs "
                          "at least one image)", sub);
        free(sub);
        if (rc < 0)
            goto out;
    }
    if ((rc = cnn_data_new(files.n, c, h, w, dir, &d)) < 0)
        goto out;
    if (!(bad = calloc((size_t)files.n, sizeof *bad))) {
        rc = cnn_fail(CNN_ENOMEM, "%s: out of memory", dir);
        goto out;
    }
    /* Decoding is the slow part: spread over threads, then the first
     * failure (in file order) decoded again here for its message, since
     * reasons are kept per thread. */
    CNN_OMP(omp parallel for schedule(dynamic, 4))
    for (int i = 0; i < files.n; i++)
        bad[i] = decode(files.v[i], c, h, w, d->pixels + i * sample) < 0;
    for (int i = 0; i < files.n; i++)
        if (bad[i]) {
            rc = decode(files.v[i], c, h, w, d->pixels + i * sample);
            if (rc == CNN_OK)
                rc = cnn_fail(CNN_EIO, "%s: could not be read", files.v[i]);
            goto out;
        }
    memcpy(d->labels, label, (size_t)files.n * sizeof *label);
    if ((rc = cnn_data_set_names(d, (const char *const *)classes.v, classes.n)) < 0)
        goto out;
    *out = d;
    d    = NULL;
out:
    cnn_dataset_free(d);
    strs_free(&classes);
    strs_free(&files);
    free(names.v);
    free(label);
    free(bad);
    return rc;
}

cnn_dataset *cnn_imagefolder_load(const char *dir, int c, int h, int w)
{
    cnn_dataset *d = NULL;

    if (!dir)
        cnn_fail(CNN_EINVAL, "image folder: NULL directory");
    else if (check_size(dir, c, h, w) == CNN_OK)
        folder_load(dir, c, h, w, &d);
    return d;
}

#else /* !CNN_HAVE_STB */

int cnn_image_load(const char *path, int c, int h, int w, float *out)
{
    (void)c, (void)h, (void)w, (void)out;
    return cnn_fail(CNN_EIO, "%s: cannot read images: this build of libcnn has no image library "
                    "(rebuild it with libstb-dev installed)", path ? path : "image load");
}

cnn_dataset *cnn_imagefolder_load(const char *dir, int c, int h, int w)
{
    (void)c, (void)h, (void)w;
    (void)check_size;
    cnn_fail(CNN_EIO, "%s: cannot read images: this build of libcnn has no image library "
             "(rebuild it with libstb-dev installed)", dir ? dir : "image folder");
    return NULL;
}

#endif
