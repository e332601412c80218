/* fuzz_checkpoint.c - libFuzzer target: the checkpoint reader (make fuzz,
 * docs/checkpoint.md). The last 4 bytes of the input are replaced by the
 * CRC-32 of the rest, as a writer would put it, so that mutations reach
 * the sections behind the checksum; the file is read with everything it
 * can hold (optimizer, training state, metadata). Any input must give a
 * graph or an error with a message, never a crash, a leak or undefined
 * behaviour. */
#include "cnn.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t crc32(const uint8_t *p, size_t n) /* IEEE 802.3, as zlib */
{
    uint32_t c = 0xffffffffu;
    while (n--) {
        c ^= *p++;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
    }
    return ~c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char      path[64];
    uint8_t         *buf = malloc(size ? size : 1);
    FILE            *f;
    cnn_graph       *g;
    cnn_optim       *opt  = NULL;
    char            *meta = NULL;
    cnn_train_state  st;

    if (!buf)
        return 0;
    if (!path[0])
        snprintf(path, sizeof path, "/tmp/cnn_fuzz_ckpt_%ld", (long)getpid());
    cnn_fail(CNN_OK, "%s", ""); /* forget the message of the last input */
    memcpy(buf, data, size);
    if (size >= 4) {
        uint32_t c = crc32(buf, size - 4);
        for (int b = 0; b < 4; b++)
            buf[size - 4 + b] = (uint8_t)(c >> (8 * b));
    }
    if (!(f = fopen(path, "wb")) || fwrite(buf, 1, size, f) != size || fclose(f) != 0)
        abort(); /* the harness itself failed */
    free(buf);
    if ((g = cnn_checkpoint_load(path, &opt, &st, &meta))) {
        cnn_optim_free(opt);
        free(meta);
        cnn_graph_free(g);
    } else if (!cnn_last_error()[0] || opt || meta) {
        abort();
    }
    remove(path);
    return 0;
}
