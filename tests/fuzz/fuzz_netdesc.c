/* fuzz_netdesc.c - libFuzzer target: the network-description parser (make
 * fuzz, docs/netdesc.md). Any text must give a graph or an error with a
 * message, never a crash, a leak or undefined behaviour; a graph that parses
 * is also written back out and parsed again. */
#include "cnn.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char      *text = malloc(size + 1);
    cnn_graph *g;

    if (!text)
        return 0;
    cnn_fail(CNN_OK, "%s", ""); /* forget the message of the last input */
    memcpy(text, data, size);
    text[size] = '\0'; /* the parser reads a C string: up to the first NUL */
    if ((g = cnn_netdesc_parse(text, "fuzz.txt"))) {
        char      *again = cnn_netdesc_emit(g);
        cnn_graph *h     = again ? cnn_netdesc_parse(again, "emitted") : NULL;
        if (again && (!h || cnn_graph_size(h) != cnn_graph_size(g)))
            abort(); /* what emit writes must parse back to as many nodes */
        cnn_graph_free(h);
        free(again);
        cnn_graph_free(g);
    } else if (!cnn_last_error()[0]) {
        abort();
    }
    free(text);
    return 0;
}
