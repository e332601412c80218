/* test_checkpoint.c - checkpoints: an exact round trip of everything a run
 * needs to resume, refusal of truncated, corrupt and hostile files, and a
 * kill -9 during a write that leaves the previous checkpoint whole. */
#include "t.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char dir[] = "/tmp/cnn_ckpt_XXXXXX";

static const char *at(const char *name)
{
    static char path[4][256];
    static int  k;
    k = (k + 1) % 4;
    snprintf(path[k], sizeof path[k], "%s/%s", dir, name);
    return path[k];
}

/* conv - bn - relu - pool - linear, with a frozen layer, trained a step so
 * every kind of state is non-trivial. */
static cnn_graph *small_net(cnn_optim **opt)
{
    cnn_graph      *g = cnn_graph_new();
    cnn_conv2d_attr a = cnn_conv2d_defaults(4, 3, 3);
    cnn_pool2d_attr p = cnn_pool2d_defaults(2, 2);
    cnn_optim_cfg   c = cnn_optim_defaults(CNN_ADAM);
    int             x, h, labels[3] = {0, 1, 2};
    float           loss;

    x = cnn_input(g, 2, 6, 6, "x");
    h = cnn_conv2d(g, x, &a, "conv");
    h = cnn_batchnorm2d(g, h, 1e-5f, 0.1f, "bn");
    h = cnn_relu(g, h, "relu");
    h = cnn_maxpool2d(g, h, &p, "pool");
    h = cnn_linear(g, h, 5, true, "fc1");
    h = cnn_linear(g, h, 3, true, "fc2");
    if (h < 0)
        T_FAILED("%s", cnn_last_error());
    T_OK(cnn_node_set_trainable(g, cnn_graph_find(g, "fc1"), false));
    T_OK(cnn_graph_init(g, CNN_INIT_HE_NORMAL, 3));
    T_TRUE((*opt = cnn_optim_new(g, &c)) != NULL);
    T_OK(cnn_graph_plan(g, 3));
    for (int i = 0; i < 3 * 72; i++)
        cnn_graph_data(g, x)[i] = (float)sin(i);
    T_OK(cnn_graph_forward(g, CNN_TRAIN));
    T_OK(cnn_graph_softmax_xent(g, h, labels, 0.1f, &loss, NULL));
    T_OK(cnn_graph_zero_param_grads(g));
    T_OK(cnn_graph_backward(g));
    T_OK(cnn_optim_step(*opt, 0.01f));
    return g;
}

static void round_trip(void)
{
    cnn_optim      *o1, *o2;
    cnn_graph      *g1 = small_net(&o1), *g2;
    cnn_train_state s1 = {.epoch = 3, .step = 1234, .rng = {1, 2, 3, 0xffffffffffffffffull},
                          .best_metric = 0.8125}, s2;
    char           *meta;
    cnn_optim_cfg   c1, c2;

    T_OK(cnn_checkpoint_save(at("a"), g1, o1, &s1, "model=small\nclass.0=T-shirt/top\n"));
    T_TRUE((g2 = cnn_checkpoint_load(at("a"), &o2, &s2, &meta)) != NULL);
    T_TRUE(o2 != NULL);
    T_EQ(cnn_graph_param_count(g2), cnn_graph_param_count(g1));
    T_TRUE(memcmp(cnn_graph_params(g1), cnn_graph_params(g2),
                  (size_t)cnn_graph_param_count(g1) * 4) == 0);
    T_TRUE(memcmp(cnn_graph_buffers(g1), cnn_graph_buffers(g2),
                  (size_t)cnn_graph_buffer_count(g1) * 4) == 0);
    T_EQ(cnn_optim_steps(o2), cnn_optim_steps(o1));
    T_EQ(cnn_optim_state_size(o2), cnn_optim_state_size(o1));
    T_TRUE(memcmp(cnn_optim_state(o1), cnn_optim_state(o2),
                  (size_t)cnn_optim_state_size(o1) * 4) == 0);
    T_OK(cnn_optim_config(o1, &c1));
    T_OK(cnn_optim_config(o2, &c2));
    /* Field by field: the struct has padding bytes. */
    T_TRUE(c1.kind == c2.kind && c1.lr == c2.lr && c1.momentum == c2.momentum &&
           c1.dampening == c2.dampening && c1.nesterov == c2.nesterov &&
           c1.weight_decay == c2.weight_decay && c1.beta1 == c2.beta1 && c1.beta2 == c2.beta2 &&
           c1.eps == c2.eps);
    T_TRUE(s1.epoch == s2.epoch && s1.step == s2.step && s1.best_metric == s2.best_metric &&
           memcmp(s1.rng, s2.rng, sizeof s1.rng) == 0);
    T_TRUE(strcmp(meta, "model=small\nclass.0=T-shirt/top\n") == 0);
    T_TRUE(!cnn_node_trainable(g2, cnn_graph_find(g2, "fc1")));
    T_TRUE(cnn_node_trainable(g2, cnn_graph_find(g2, "fc2")));
    /* No temporary file is left behind. */
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", at("a"), (long)getpid());
    T_TRUE(access(tmp, F_OK) != 0);
    free(meta);
    cnn_optim_free(o1);
    cnn_optim_free(o2);
    cnn_graph_free(g1);
    cnn_graph_free(g2);
}

/* Optional parts may be absent: weights only. */
static void weights_only(void)
{
    cnn_optim      *o1, *o2;
    cnn_graph      *g1 = small_net(&o1), *g2;
    cnn_train_state st;
    char           *meta;

    T_OK(cnn_checkpoint_save(at("w"), g1, NULL, NULL, NULL));
    T_TRUE((g2 = cnn_checkpoint_load(at("w"), &o2, &st, &meta)) != NULL);
    T_TRUE(o2 == NULL && meta == NULL);
    T_EQ(st.epoch, 0);
    T_TRUE(memcmp(cnn_graph_params(g1), cnn_graph_params(g2),
                  (size_t)cnn_graph_param_count(g1) * 4) == 0);
    cnn_optim_free(o1);
    cnn_graph_free(g1);
    cnn_graph_free(g2);
}

/* ==== @@HOSTILE ==== */

static unsigned char *slurp(const char *path, long *len)
{
    FILE          *f = fopen(path, "rb");
    unsigned char *b;
    fseek(f, 0, SEEK_END);
    *len = ftell(f);
    fseek(f, 0, SEEK_SET);
    b = malloc((size_t)*len);
    if (fread(b, 1, (size_t)*len, f) != (size_t)*len)
        *len = -1;
    fclose(f);
    return b;
}

static void spill(const char *path, const unsigned char *b, long len)
{
    FILE *f = fopen(path, "wb");
    fwrite(b, 1, (size_t)len, f);
    fclose(f);
}

/* The CRC-32 the format uses, to forge files whose checksum is right but
 * whose fields lie. */
static uint32_t crc32_of(const unsigned char *p, long n)
{
    uint32_t c = 0xffffffffu;
    for (long i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
    }
    return ~c;
}

static void reseal(unsigned char *b, long len)
{
    uint32_t c = crc32_of(b, len - 4);
    for (int i = 0; i < 4; i++)
        b[len - 4 + i] = (unsigned char)(c >> (8 * i));
}

static void expect_refused(const char *path, const char *what)
{
    cnn_optim      *o;
    cnn_train_state st;
    char           *meta;
    cnn_graph      *g = cnn_checkpoint_load(path, &o, &st, &meta);
    if (g) {
        cnn_graph_free(g);
        cnn_optim_free(o);
        free(meta);
        T_FAILED("%s was accepted", what);
    }
    T_TRUE(strstr(cnn_last_error(), path) != NULL);
}

static void corrupt_files(void)
{
    cnn_optim     *o;
    cnn_graph     *g = small_net(&o);
    cnn_train_state st = {.epoch = 1};
    unsigned char *b, *c;
    long           len;

    T_OK(cnn_checkpoint_save(at("good"), g, o, &st, "k=v\n"));
    b = slurp(at("good"), &len);
    T_TRUE(len > 100);
    c = malloc((size_t)len);

    /* Truncated at every length up to the end (a sample of cuts). */
    for (long cut = 0; cut < len; cut += cut < 64 ? 1 : 37) {
        spill(at("bad"), b, cut);
        expect_refused(at("bad"), "a truncated file");
    }
    /* One flipped bit anywhere: the checksum catches it. */
    for (long i = 0; i < len; i += 13) {
        memcpy(c, b, (size_t)len);
        c[i] ^= 0x10;
        spill(at("bad"), c, len);
        expect_refused(at("bad"), "a flipped bit");
    }
    /* Forged with a correct checksum: wrong magic, version, section length,
     * parameter count, and a graph section with a NUL byte. */
    memcpy(c, b, (size_t)len);
    c[0] = 'X';
    reseal(c, len);
    spill(at("bad"), c, len);
    expect_refused(at("bad"), "wrong magic");
    T_TRUE(strstr(cnn_last_error(), "not a cnn checkpoint") != NULL);

    memcpy(c, b, (size_t)len);
    c[8] = 99;
    reseal(c, len);
    spill(at("bad"), c, len);
    expect_refused(at("bad"), "an unknown version");
    T_TRUE(strstr(cnn_last_error(), "version") != NULL);

    memcpy(c, b, (size_t)len);
    for (int i = 20; i < 28; i++) /* first section's length: huge */
        c[i] = 0xff;
    reseal(c, len);
    spill(at("bad"), c, len);
    expect_refused(at("bad"), "a huge section length");

    memcpy(c, b, (size_t)len);
    c[16 + 12] = 0; /* a NUL in the graph text */
    reseal(c, len);
    spill(at("bad"), c, len);
    expect_refused(at("bad"), "a NUL in the graph");

    /* A graph text that declares a different network: the parameter count
     * no longer matches. "out=4" -> "out=5" in the conv line. */
    memcpy(c, b, (size_t)len);
    unsigned char *p = NULL;
    for (long i = 0; i + 5 <= len && !p; i++)
        if (memcmp(c + i, "out=4", 5) == 0)
            p = c + i;
    T_TRUE(p != NULL);
    p[4] = '5';
    reseal(c, len);
    spill(at("bad"), c, len);
    expect_refused(at("bad"), "a parameter count mismatch");
    T_TRUE(strstr(cnn_last_error(), "parameter") != NULL);

    /* An optimizer section of another kind than its state was saved for
     * (Adam's m and v read as SGD's): the state count no longer matches.
     * Found by fuzzing: the message read the freed optimizer. */
    memcpy(c, b, (size_t)len);
    p = NULL;
    for (long i = 0; i + 4 <= len && !p; i++)
        if (memcmp(c + i, "OPTM", 4) == 0)
            p = c + i;
    T_TRUE(p != NULL);
    p[12] = CNN_SGD; /* the kind, after the tag and the section length */
    reseal(c, len);
    spill(at("bad"), c, len);
    expect_refused(at("bad"), "an optimizer state of another kind");
    T_TRUE(strstr(cnn_last_error(), "optimizer state holds") != NULL);

    /* An empty file, a directory, a missing file. */
    spill(at("bad"), b, 0);
    expect_refused(at("bad"), "an empty file");
    expect_refused(dir, "a directory");
    expect_refused(at("missing"), "a missing file");

    free(b);
    free(c);
    cnn_optim_free(o);
    cnn_graph_free(g);
}

/* kill -9 while checkpoints are being written, again and again: the path
 * always holds a whole checkpoint (one of those written). */
static void kill_during_write(void)
{
    cnn_graph *g = cnn_model_new("resnet18", 10, 3, 32, 32); /* ~45 MB per file */
    pid_t      pid;
    int        status;

    T_TRUE(g != NULL);
    T_OK(cnn_graph_init(g, CNN_INIT_HE_NORMAL, 1));
    T_OK(cnn_checkpoint_save(at("k"), g, NULL, NULL, "generation=0\n"));
    for (int round = 0; round < 3; round++) {
        fflush(stdout);
        if ((pid = fork()) == 0) {
            char m[64];
            for (int i = 1;; i++) {
                snprintf(m, sizeof m, "generation=%d\n", i);
                cnn_graph_params(g)[0] = (float)i;
                if (cnn_checkpoint_save(at("k"), g, NULL, NULL, m) < 0)
                    _exit(3);
            }
        }
        struct timespec wait = {0, 150000000L + 100000000L * round};
        nanosleep(&wait, NULL);
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        T_TRUE(WIFSIGNALED(status));

        char      *meta;
        cnn_graph *r = cnn_checkpoint_load(at("k"), NULL, NULL, &meta);
        if (!r)
            T_FAILED("after kill -9: %s", cnn_last_error());
        int gen = atoi(strchr(meta, '=') + 1);
        T_EQ((int)cnn_graph_params(r)[0], gen == 0 ? (int)cnn_graph_params(g)[0] : gen);
        free(meta);
        cnn_graph_free(r);
    }
    cnn_graph_free(g);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    T_RUN(round_trip);
    T_RUN(weights_only);
    T_RUN(corrupt_files);
    T_RUN(kill_during_write);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        printf("note: could not remove %s\n", dir);
    return t_done("checkpoint");
}
