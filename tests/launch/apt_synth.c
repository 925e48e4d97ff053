// apt_synth.c — write the synthetic dataset of tests/train/synth_data.h to a directory, for the end-to-end
// launch tests that run the real binaries (Slurm, killed and hung ranks):
//   apt_synth DIR [K n_train_per_class n_test_per_class]      (28x28x1 images; defaults 8 16 8)
#include "synth_data.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: apt_synth DIR [K n_train_per_class n_test_per_class]\n");
        return 2;
    }
    int K = argc > 2 ? atoi(argv[2]) : 8, n_train = argc > 3 ? atoi(argv[3]) : 16, n_test = argc > 4 ? atoi(argv[4]) : 8;
    if (K < 2 || n_train < 2 || n_test < 2) {
        fprintf(stderr, "apt_synth: K, n_train and n_test must be >= 2\n");
        return 2;
    }
    synth_write_split(argv[1], "train", K, n_train, 28, 28, 1, 1);
    synth_write_split(argv[1], "test", K, n_test, 28, 28, 1, 2);
    return 0;
}
