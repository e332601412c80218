/* data.h - private helpers shared by the dataset readers (idx.c, cifar.c,
 * image.c) and the loader (dataset.c). */
#ifndef CNN_DATA_H
#define CNN_DATA_H

#include "../core/core.h"

/* *out = a dataset of n images of c x h x w with room for its pixels and
 * labels (uninitialized), no class names, classes 0. `what` names the
 * source in the error message (a file or a folder). */
int cnn_data_new(int64_t n, int c, int h, int w, const char *what, cnn_dataset **out);

/* Replaces d->class_names by copies of names[0..count) and sets d->classes
 * to count. */
int cnn_data_set_names(cnn_dataset *d, const char *const *names, int count);

/* The standard CIFAR-10 class names, airplane ... truck. */
extern const char *const cnn_cifar10_names[10];

#endif
