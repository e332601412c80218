/* dataset.c - datasets in memory (free, subset, statistics) and the loader
 * that turns one into batches: the epoch's order, sharding, random crop and
 * flip, normalization, and an optional prefetch thread.
 *
 * Every random choice is a function of (seed, epoch, position in the
 * epoch's order), each drawn from its own generator, so a batch does not
 * depend on which batches came before it: a run resumed at batch k, a shard
 * of the epoch and a prefetching loader all see the same bits. */
#include "data.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ==== @@DATASET ==== */

int cnn_data_new(int64_t n, int c, int h, int w, const char *what, cnn_dataset **out)
{
    cnn_dataset *d = NULL;
    int64_t      per, px, lb;

    *out = NULL;
    if (n < 0 || c <= 0 || h <= 0 || w <= 0 || cnn_size_mul(c, h, &per) < 0 ||
        cnn_size_mul(per, w, &per) < 0 || cnn_size_mul(n, per, &px) < 0 ||
        cnn_size_mul(n, (int64_t)sizeof *d->labels, &lb) < 0 || (uint64_t)px > SIZE_MAX)
        return cnn_fail(CNN_EOVERFLOW, "%s: %lld images of %dx%dx%d do not fit in memory", what,
                        (long long)n, c, h, w);
    if (!(d = calloc(1, sizeof *d)) || !(d->pixels = malloc(px ? (size_t)px : 1)) ||
        !(d->labels = malloc(lb ? (size_t)lb : 1))) {
        cnn_dataset_free(d);
        return cnn_fail(CNN_ENOMEM, "%s: out of memory for %lld images of %dx%dx%d", what,
                        (long long)n, c, h, w);
    }
    d->n = n;
    d->c = c;
    d->h = h;
    d->w = w;
    *out = d;
    return CNN_OK;
}

static void free_names(char **names, int count)
{
    if (!names)
        return;
    for (int k = 0; k < count; k++)
        free(names[k]);
    free(names);
}

int cnn_data_set_names(cnn_dataset *d, const char *const *names, int count)
{
    char **v = calloc(count > 0 ? (size_t)count : 1, sizeof *v);

    if (!v)
        return cnn_fail(CNN_ENOMEM, "dataset: out of memory for %d class names", count);
    for (int k = 0; k < count; k++)
        if (!(v[k] = strdup(names[k] ? names[k] : ""))) {
            free_names(v, count);
            return cnn_fail(CNN_ENOMEM, "dataset: out of memory for %d class names", count);
        }
    free_names(d->class_names, d->classes);
    d->class_names = v;
    d->classes     = count;
    return CNN_OK;
}

void cnn_dataset_free(cnn_dataset *d)
{
    if (!d)
        return;
    free_names(d->class_names, d->classes);
    free(d->pixels);
    free(d->labels);
    free(d);
}

/* The dataset's fields are consistent enough to read every pixel. */
static int check_dataset(const cnn_dataset *d, const char *who, int64_t *sample)
{
    if (!d)
        return cnn_fail(CNN_EINVAL, "%s: NULL dataset", who);
    if (d->n < 0 || d->c <= 0 || d->h <= 0 || d->w <= 0 || d->classes < 0)
        return cnn_fail(CNN_EINVAL, "%s: dataset of %lld images of %dx%dx%d, %d classes: expected "
                        "positive sizes", who, (long long)d->n, d->c, d->h, d->w, d->classes);
    if (d->n > 0 && (!d->pixels || !d->labels))
        return cnn_fail(CNN_EINVAL, "%s: dataset without pixels or labels", who);
    if (cnn_size_mul(d->c, d->h, sample) < 0 || cnn_size_mul(*sample, d->w, sample) < 0)
        return cnn_fail(CNN_EOVERFLOW, "%s: images of %dx%dx%d are too large", who, d->c, d->h,
                        d->w);
    return CNN_OK;
}

cnn_dataset *cnn_dataset_subset(const cnn_dataset *d, int lo, int hi, int64_t max)
{
    cnn_dataset *s = NULL;
    int64_t      sample, count = 0, j = 0;

    if (check_dataset(d, "dataset subset", &sample) < 0)
        return NULL;
    if (lo < 0 || hi < lo || hi >= d->classes) {
        cnn_fail(CNN_EINVAL, "dataset subset: classes [%d, %d], expected 0 <= lo <= hi < %d", lo,
                 hi, d->classes);
        return NULL;
    }
    for (int64_t i = 0; i < d->n && (max <= 0 || count < max); i++)
        count += d->labels[i] >= lo && d->labels[i] <= hi;
    if (count == 0) {
        cnn_fail(CNN_EINVAL, "dataset subset: no image has a label in [%d, %d]", lo, hi);
        return NULL;
    }
    if (cnn_data_new(count, d->c, d->h, d->w, "dataset subset", &s) < 0)
        return NULL;
    for (int64_t i = 0; i < d->n && j < count; i++)
        if (d->labels[i] >= lo && d->labels[i] <= hi) {
            memcpy(s->pixels + j * sample, d->pixels + i * sample, (size_t)sample);
            s->labels[j++] = d->labels[i] - lo;
        }
    s->classes = hi - lo + 1;
    if (d->class_names &&
        cnn_data_set_names(s, (const char *const *)d->class_names + lo, hi - lo + 1) < 0) {
        cnn_dataset_free(s);
        return NULL;
    }
    return s;
}

/* Knuth's selection sampling (TAOCP 3.4.2, Algorithm S): image i is taken
 * with probability (still needed) / (still left), which gives exactly n
 * images, every subset of n equally likely, in file order. */
cnn_dataset *cnn_dataset_sample(const cnn_dataset *d, int64_t n, uint64_t seed)
{
    cnn_dataset *s = NULL;
    cnn_rng      r;
    int64_t      sample, j = 0;

    if (check_dataset(d, "dataset sample", &sample) < 0)
        return NULL;
    if (n < 1 || n > d->n) {
        cnn_fail(CNN_EINVAL, "dataset sample: %lld images asked of %lld, expected 1 to %lld",
                 (long long)n, (long long)d->n, (long long)d->n);
        return NULL;
    }
    if (cnn_data_new(n, d->c, d->h, d->w, "dataset sample", &s) < 0)
        return NULL;
    cnn_rng_seed(&r, seed ^ 0x8e5a3c1b2d4f6071ull);
    for (int64_t i = 0; i < d->n && j < n; i++)
        if ((double)(d->n - i) * cnn_rng_uniform(&r) < (double)(n - j)) {
            memcpy(s->pixels + j * sample, d->pixels + i * sample, (size_t)sample);
            s->labels[j++] = d->labels[i];
        }
    s->classes = d->classes;
    if (d->class_names &&
        cnn_data_set_names(s, (const char *const *)d->class_names, d->classes) < 0) {
        cnn_dataset_free(s);
        return NULL;
    }
    return s;
}

int cnn_dataset_stats(const cnn_dataset *d, float *mean, float *std)
{
    int64_t sample, plane, (*hist)[256];
    int     rc;

    if ((rc = check_dataset(d, "dataset stats", &sample)) < 0)
        return rc;
    if (!mean || !std)
        return cnn_fail(CNN_EINVAL, "dataset stats: NULL output");
    if (d->n == 0)
        return cnn_fail(CNN_EINVAL, "dataset stats: the dataset is empty");
    /* A histogram per channel: exact counts, then the moments in double. */
    if (!(hist = calloc((size_t)d->c, sizeof *hist)))
        return cnn_fail(CNN_ENOMEM, "dataset stats: out of memory");
    plane = (int64_t)d->h * d->w;
    for (int64_t i = 0; i < d->n; i++)
        for (int ch = 0; ch < d->c; ch++) {
            const uint8_t *p = d->pixels + i * sample + ch * plane;
            int64_t       *hc = hist[ch];
            for (int64_t k = 0; k < plane; k++)
                hc[p[k]]++;
        }
    for (int ch = 0; ch < d->c; ch++) {
        double total = (double)d->n * (double)plane, m = 0.0, v = 0.0;
        for (int b = 0; b < 256; b++)
            m += (double)hist[ch][b] * (b / 255.0);
        m /= total;
        for (int b = 0; b < 256; b++)
            v += (double)hist[ch][b] * (b / 255.0 - m) * (b / 255.0 - m);
        mean[ch] = (float)m;
        std[ch]  = (float)sqrt(v / total);
    }
    free(hist);
    return CNN_OK;
}

/* ==== @@LOADER ==== */

struct cnn_loader {
    const cnn_dataset *d;
    cnn_loader_cfg     cfg;
    int64_t            sample;   /* c*h*w                                    */
    int64_t            count;    /* samples of this shard per epoch          */
    int64_t            batches;  /* per epoch, of this shard                 */
    int64_t           *order;    /* [n] the epoch's order of the dataset     */
    int64_t            epoch;
    int64_t            next;     /* the batch the next call returns          */
    float              lut[4][256]; /* normalized value of each pixel value  */

    /* Prefetch: the worker fills bx/by with batch `job` while the caller
     * computes; `ready` says which batch they hold. Guarded by mu. */
    bool            threaded;
    pthread_t       thread;
    pthread_mutex_t mu;
    pthread_cond_t  cv;
    float          *bx;          /* [batch, c, h, w]                         */
    int            *by;          /* [batch]                                  */
    int             bcount;
    int64_t         job, ready;  /* batch numbers, -1: none                  */
    bool            quit;
};

cnn_loader_cfg cnn_loader_defaults(int batch)
{
    cnn_loader_cfg c;

    memset(&c, 0, sizeof c);
    c.batch   = batch > 0 ? batch : 64;
    c.shuffle = true;
    for (int ch = 0; ch < 4; ch++) {
        c.mean[ch] = 0.0f;
        c.std[ch]  = 1.0f;
    }
    c.shard  = 0;
    c.shards = 1;
    return c;
}

/* splitmix64's finalizer: the seeds of the generators below. */
static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Separate streams for the order and for each sample's augmentation. */
#define STREAM_ORDER 0x6f72646572ull /* "order" */
#define STREAM_AUG   0x617567ull     /* "aug"   */

static void seed_rng(cnn_rng *r, uint64_t seed, uint64_t stream, int64_t epoch, int64_t pos)
{
    cnn_rng_seed(r, mix(mix(mix(seed ^ mix(stream)) ^ (uint64_t)epoch) ^ (uint64_t)pos));
}

/* Uniform in [0, n), n > 0, without modulo bias (rejection). */
static uint64_t below(cnn_rng *r, uint64_t n)
{
    uint64_t lim = (0 - n) % n, x;

    do
        x = cnn_rng_next(r);
    while (x < lim);
    return x % n;
}

static void make_order(cnn_loader *l)
{
    int64_t n = l->d->n;
    cnn_rng r;

    for (int64_t i = 0; i < n; i++)
        l->order[i] = i;
    if (!l->cfg.shuffle)
        return;
    seed_rng(&r, l->cfg.seed, STREAM_ORDER, l->epoch, 0);
    for (int64_t i = n - 1; i > 0; i--) { /* Fisher-Yates */
        int64_t j   = (int64_t)below(&r, (uint64_t)i + 1);
        int64_t t   = l->order[i];
        l->order[i] = l->order[j];
        l->order[j] = t;
    }
}

/* One sample: the image at position `pos` of the epoch's order, cropped,
 * flipped and normalized into x [c, h, w]. */
static void fill_sample(const cnn_loader *l, int64_t pos, float *x)
{
    const cnn_dataset *d   = l->d;
    const uint8_t     *img = d->pixels + l->order[pos] * l->sample;
    int                h = d->h, w = d->w, pad = l->cfg.crop_pad, dy = 0, dx = 0;
    bool               flip = false;

    if (pad > 0 || l->cfg.hflip) {
        cnn_rng r;
        seed_rng(&r, l->cfg.seed, STREAM_AUG, l->epoch, pos);
        if (pad > 0) {
            dy = (int)below(&r, 2 * (uint64_t)pad + 1);
            dx = (int)below(&r, 2 * (uint64_t)pad + 1);
        }
        if (l->cfg.hflip)
            flip = cnn_rng_next(&r) >> 63;
    }
    /* Output (i, j) reads the zero-padded image at (i + dy, j' + dx), j' =
     * w - 1 - j when flipped: the original at (i + dy - pad, j' + dx - pad). */
    for (int ch = 0; ch < d->c; ch++) {
        const float   *lut = l->lut[ch];
        const uint8_t *src = img + (int64_t)ch * h * w;
        float         *dst = x + (int64_t)ch * h * w;
        for (int i = 0; i < h; i++) {
            int    sy  = i + dy - pad;
            float *row = dst + (int64_t)i * w;
            if (sy < 0 || sy >= h) {
                for (int j = 0; j < w; j++)
                    row[j] = lut[0];
                continue;
            }
            const uint8_t *srow = src + (int64_t)sy * w;
            if (!flip && dx == pad) {
                for (int j = 0; j < w; j++)
                    row[j] = lut[srow[j]];
                continue;
            }
            for (int j = 0; j < w; j++) {
                int sx = (flip ? w - 1 - j : j) + dx - pad;
                row[j] = sx >= 0 && sx < w ? lut[srow[sx]] : lut[0];
            }
        }
    }
}

/* Batch b of this shard into x, y; returns its size. */
static int fill_batch(const cnn_loader *l, int64_t b, float *x, int *y)
{
    int64_t first = b * l->cfg.batch;
    int64_t left  = l->count - first;
    int     n     = left < l->cfg.batch ? (int)left : l->cfg.batch;

    for (int i = 0; i < n; i++) {
        int64_t pos = l->cfg.shard + (first + i) * l->cfg.shards;
        fill_sample(l, pos, x + i * l->sample);
        y[i] = l->d->labels[l->order[pos]];
    }
    return n;
}

static void *worker(void *arg)
{
    cnn_loader *l = arg;

    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->quit && l->job < 0)
            pthread_cond_wait(&l->cv, &l->mu);
        if (l->quit)
            break;
        int64_t b = l->job;
        pthread_mutex_unlock(&l->mu);
        int n = fill_batch(l, b, l->bx, l->by);
        pthread_mutex_lock(&l->mu);
        l->bcount = n;
        l->ready  = b;
        l->job    = -1;
        pthread_cond_broadcast(&l->cv);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* Waits for the worker to finish any batch it prepares; mu held. */
static void wait_idle(cnn_loader *l)
{
    while (l->job >= 0)
        pthread_cond_wait(&l->cv, &l->mu);
}

/* Asks the worker for batch b; mu held. */
static void post(cnn_loader *l, int64_t b)
{
    l->job = b;
    pthread_cond_broadcast(&l->cv);
}

cnn_loader *cnn_loader_new(const cnn_dataset *d, const cnn_loader_cfg *cfg)
{
    cnn_loader *l = NULL;
    int64_t     sample, bytes;

    if (check_dataset(d, "loader", &sample) < 0)
        return NULL;
    if (!cfg) {
        cnn_fail(CNN_EINVAL, "loader: NULL config");
        return NULL;
    }
    if (cfg->batch <= 0 || cfg->shards < 1 || cfg->shard < 0 || cfg->shard >= cfg->shards ||
        cfg->crop_pad < 0 || cfg->crop_pad > (1 << 20)) {
        cnn_fail(CNN_EINVAL, "loader: batch %d, shard %d of %d, crop_pad %d: expected batch > 0, "
                 "0 <= shard < shards, 0 <= crop_pad <= 2^20", cfg->batch, cfg->shard,
                 cfg->shards, cfg->crop_pad);
        return NULL;
    }
    if (d->c > 4) {
        cnn_fail(CNN_EINVAL, "loader: images of %d channels; mean and std hold 4 at most", d->c);
        return NULL;
    }
    for (int ch = 0; ch < d->c; ch++)
        if (!isfinite(cfg->mean[ch]) || !(cfg->std[ch] > 0.0f) || !isfinite(cfg->std[ch])) {
            cnn_fail(CNN_EINVAL, "loader: channel %d: mean %g, std %g; expected a finite mean "
                     "and std > 0", ch, (double)cfg->mean[ch], (double)cfg->std[ch]);
            return NULL;
        }
    if (cnn_size_mul(sample, cfg->batch, &bytes) < 0 ||
        cnn_size_mul(bytes, (int64_t)sizeof(float), &bytes) < 0 || (uint64_t)bytes > SIZE_MAX ||
        (uint64_t)d->n > SIZE_MAX / sizeof(int64_t)) {
        cnn_fail(CNN_EOVERFLOW, "loader: batches of %d images of %dx%dx%d are too large",
                 cfg->batch, d->c, d->h, d->w);
        return NULL;
    }
    if (!(l = calloc(1, sizeof *l)) ||
        !(l->order = malloc(d->n > 0 ? (size_t)d->n * sizeof *l->order : 1)) ||
        (cfg->prefetch && (!(l->bx = malloc((size_t)bytes)) ||
                           !(l->by = malloc((size_t)cfg->batch * sizeof *l->by))))) {
        cnn_fail(CNN_ENOMEM, "loader: out of memory for %lld images and a batch of %d",
                 (long long)d->n, cfg->batch);
        goto fail;
    }
    l->d      = d;
    l->cfg    = *cfg;
    l->sample = sample;
    l->count  = d->n > cfg->shard ? (d->n - cfg->shard - 1) / cfg->shards + 1 : 0;
    l->batches =
        cfg->drop_last ? l->count / cfg->batch : (l->count + cfg->batch - 1) / cfg->batch;
    l->job   = -1;
    l->ready = -1;
    for (int ch = 0; ch < d->c; ch++)
        for (int p = 0; p < 256; p++)
            l->lut[ch][p] = ((float)p / 255.0f - cfg->mean[ch]) / cfg->std[ch];
    make_order(l); /* epoch 0 from its start, for a first next() without start() */
    if (cfg->prefetch) {
        int e;
        if ((e = pthread_mutex_init(&l->mu, NULL)) != 0) {
            cnn_fail(CNN_ENOMEM, "loader: cannot create a mutex: %s", strerror(e));
            goto fail;
        }
        if ((e = pthread_cond_init(&l->cv, NULL)) != 0) {
            pthread_mutex_destroy(&l->mu);
            cnn_fail(CNN_ENOMEM, "loader: cannot create a condition variable: %s", strerror(e));
            goto fail;
        }
        if ((e = pthread_create(&l->thread, NULL, worker, l)) != 0) {
            pthread_cond_destroy(&l->cv);
            pthread_mutex_destroy(&l->mu);
            cnn_fail(CNN_ENOMEM, "loader: cannot start the prefetch thread: %s", strerror(e));
            goto fail;
        }
        l->threaded = true;
    }
    return l;
fail:
    if (l) {
        free(l->order);
        free(l->bx);
        free(l->by);
        free(l);
    }
    return NULL;
}

void cnn_loader_free(cnn_loader *l)
{
    if (!l)
        return;
    if (l->threaded) {
        pthread_mutex_lock(&l->mu);
        l->quit = true;
        pthread_cond_broadcast(&l->cv);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->thread, NULL);
        pthread_cond_destroy(&l->cv);
        pthread_mutex_destroy(&l->mu);
    }
    free(l->order);
    free(l->bx);
    free(l->by);
    free(l);
}

int64_t cnn_loader_batches(const cnn_loader *l)
{
    if (!l)
        return cnn_fail(CNN_EINVAL, "loader batches: NULL loader");
    return l->batches;
}

int cnn_loader_start(cnn_loader *l, int64_t epoch, int64_t first)
{
    if (!l)
        return cnn_fail(CNN_EINVAL, "loader start: NULL loader");
    if (epoch < 0 || first < 0 || first > l->batches)
        return cnn_fail(CNN_EINVAL, "loader start: epoch %lld, batch %lld; expected epoch >= 0 "
                        "and 0 <= batch <= %lld", (long long)epoch, (long long)first,
                        (long long)l->batches);
    if (l->threaded) {
        pthread_mutex_lock(&l->mu);
        wait_idle(l);
        l->ready = -1;
        pthread_mutex_unlock(&l->mu);
    }
    /* The worker is idle: the order may change. */
    if (epoch != l->epoch) {
        l->epoch = epoch;
        make_order(l);
    }
    l->next = first;
    if (l->threaded && first < l->batches) {
        pthread_mutex_lock(&l->mu);
        post(l, first);
        pthread_mutex_unlock(&l->mu);
    }
    return CNN_OK;
}

int cnn_loader_next(cnn_loader *l, float *x, int *y)
{
    int n;

    if (!l || !x || !y)
        return cnn_fail(CNN_EINVAL, "loader next: NULL argument");
    if (l->next >= l->batches)
        return 0;
    if (!l->threaded) {
        n = fill_batch(l, l->next++, x, y);
        return n;
    }
    pthread_mutex_lock(&l->mu);
    if (l->ready != l->next && l->job != l->next) {
        wait_idle(l);
        post(l, l->next);
    }
    while (l->ready != l->next)
        pthread_cond_wait(&l->cv, &l->mu);
    n = l->bcount;
    memcpy(x, l->bx, (size_t)n * (size_t)l->sample * sizeof *x);
    memcpy(y, l->by, (size_t)n * sizeof *y);
    l->ready = -1;
    l->next++;
    if (l->next < l->batches)
        post(l, l->next); /* prepared while the caller computes */
    pthread_mutex_unlock(&l->mu);
    return n;
}
