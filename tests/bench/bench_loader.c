// bench_loader.c — loader throughput (images/s) on a prepared dataset, e.g. Fashion-MNIST from
// `aprep fashion-mnist /tmp/fm`. Not a ctest; figures go to tests/bench/RESULTS.md.
//
//   bench_loader [--dir /tmp/fm] [--batch 128] [--m 16] [--images 200000] [--threads 1,2] [--resize S --crop
//   S] [--augment 1] [--exact 1]
// --augment 1: train mode draws RandomResizedCrop(crop) + flip; --exact 1: jpeg rows decoded at full size
// (no DCT-domain downscaling); --eval-split S: the split eval mode reads (default test; a small one makes
// the timing include re-creating the loader, and its batch buffers, after every pass).
//
// For each thread count: train mode (epoch sampler, global batch B = --batch, m = --m (Fashion-MNIST has 10
// classes: C = 8), float output normalised with mean 0.5 / std 0.5) and eval mode (the test split in order,
// batch --batch), both timed over --images images after one warm-up batch. A consumer that does no work is
// the worst case for the loader: it must produce as fast as it can.
#include "core/timer.h"
#include "data/loader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

// CPU seconds of the process so far (all threads): images per CPU-second is the per-core rate, which a
// shared machine's load distorts far less than wall time.
static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + 1e-6 * (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static double run(const AptLoaderOptions *o, long images, double *checksum, double *per_cpu, double *first) {
    const double tc = apt_time_now();
    AptLoader *l = apt_loader_create(o);
    const AptBatch *b = apt_loader_next(l); // warm-up: threads started, first shards opened
    *first = apt_time_now() - tc; // start to first batch: manifest, sampler plan, first shards
    long done = 0;
    double sum = 0, t0 = apt_time_now(), c0 = cpu_seconds();
    while (done < images) {
        b = apt_loader_next(l);
        if (!b) { // eval pass over: start again
            apt_loader_destroy(l);
            l = apt_loader_create(o);
            continue;
        }
        sum += b->x[0] + b->x[(size_t)b->b * b->C * b->H * b->W - 1]; // touch the batch
        done += b->b;
    }
    double dt = apt_time_now() - t0;
    *per_cpu = done / (cpu_seconds() - c0);
    apt_loader_destroy(l);
    *checksum = sum;
    return done / dt;
}

int main(int argc, char **argv) {
    const char *dir = "/tmp/fm", *threads = "1,2", *eval_split = "test";
    int batch = 128, m = 16, resize = 0, crop = 0, augment = 0, exact = 0;
    long images = 200000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--dir"))
            dir = argv[i + 1];
        else if (!strcmp(argv[i], "--batch"))
            batch = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--m"))
            m = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--images"))
            images = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads"))
            threads = argv[i + 1];
        else if (!strcmp(argv[i], "--resize"))
            resize = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--crop"))
            crop = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--augment"))
            augment = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--eval-split"))
            eval_split = argv[i + 1];
        else if (!strcmp(argv[i], "--exact"))
            exact = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "unknown option %s\n", argv[i]);
            return 2;
        }
    }
    printf("bench_loader: %s, batch %d, %ld images per run, float output%s%s%s\n", dir, batch, images,
           resize || crop ? " with resize+crop" : "", augment ? ", train: RandomResizedCrop + flip" : "",
           exact ? ", full-size JPEG decode" : "");
    printf("%-8s %-6s %14s %18s %16s\n", "threads", "mode", "images/s", "images/CPU-second", "first batch (s)");
    char buf[64];
    snprintf(buf, sizeof buf, "%s", threads);
    for (char *t = strtok(buf, ","); t; t = strtok(NULL, ",")) {
        for (int mode = 0; mode < 2; mode++) {
            AptLoaderOptions o;
            apt_loader_options_default(&o);
            o.dir = dir;
            o.mode = mode ? APT_LOADER_EVAL : APT_LOADER_TRAIN;
            o.split = mode ? eval_split : "train";
            o.batch_size = batch;
            o.samples_per_class = m;
            o.seed = 1;
            o.threads = atoi(t);
            o.resize = resize;
            o.crop = crop;
            o.augment = augment && !mode;
            o.exact_decode = exact;
            for (int c = 0; c < 4; c++)
                o.mean[c] = o.std[c] = 0.5f;
            double cs, pc, first;
            double ips = run(&o, images, &cs, &pc, &first);
            printf("%-8s %-6s %14.0f %18.0f %16.3f\n", t, mode ? "eval" : "train", ips, pc, first);
        }
    }
    return 0;
}
