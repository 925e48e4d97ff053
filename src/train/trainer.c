// trainer.c — set-up of a training run from its config, the loop over steps with logging, evaluation,
// checkpoints, resume and pre-emption (DESIGN §1, §5). One step is step.c; periodic evaluation is
// evaluate() below, which runs src/eval/eval.c (apt_eval_run) on the test split.
#include "trainer_impl.h"

#include "ckpt/checkpoint.h"
#include "ckpt/ckpt_verify.h"
#include "core/check.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "core/timer.h"
#include "backend/profile/profile_backend.h"
#include "h5/h5check.h"
#include "agree.h"
#include "nan_policy.h"
#include "signals.h"
#include "watchdog.h"

#include <errno.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static void grads_ready(void *buckets, size_t lo) { apt_buckets_ready_from(buckets, lo); }

// The staged communicator's copies: blocking backend copies between backend memory and host scratch.
static void stage_copy(void *be_, void *dst, const void *src, size_t bytes, int dir) {
    AptBackend *be = be_;
    be->copy(be, dst, src, bytes, dir == APT_STAGE_D2H ? APT_COPY_D2H : dir == APT_STAGE_H2D ? APT_COPY_H2D : APT_COPY_D2D);
}

// dist.backend against the device (DESIGN §2): the communicator for backend-memory buffers. On the cpu
// backend that is `comm` itself (MPI or self). Otherwise nccl (the default on cuda), or the host
// communicator with every buffer staged through host scratch (`mpi`/`self`; Open MPI here is not
// CUDA-aware) — the guard test backend always takes that path. scratch: bytes the staged path reserves.
// device_comm_kind: the kind device_comm will build ("mpi"/"self": comm itself, "nccl", "staged"), known
// before anything is built so that the ranks can agree on it first (agree.h).
static const char *device_comm_kind(const AptTrainer *t) {
    const char *want = t->cfg.dist.backend;
    if (apt_backend_is_host(t->be)) return t->comm->name;
    // nccl at W = 1 too when asked for: the same communicator pair and buckets as W > 1, so one GPU
    // exercises that path; auto keeps one process on the staged path (no NCCL set-up for nothing).
    if (!strcmp(t->be->name, "cuda") && (!strcmp(want, "nccl") || (t->comm->world > 1 && !strcmp(want, "auto"))))
        return "nccl";
    return "staged";
}

static AptComm *device_comm(AptTrainer *t, size_t scratch) {
    const char *want = t->cfg.dist.backend;
    const bool cuda = !strcmp(t->be->name, "cuda");
    if (!strcmp(want, "nccl") && !cuda)
        apt_user_error("dist.backend: nccl needs device memory of a CUDA device, but this run uses device %s",
                       t->be->name);
    const char *kind = device_comm_kind(t);
    if (strcmp(kind, "nccl") && strcmp(kind, "staged")) {
        apt_info("dist.backend %s: %s communicator on host memory", want, t->comm->name);
        return t->comm;
    }
    if (!strcmp(kind, "nccl")) {
        const char *why = NULL;
        AptComm *n = apt_comm_nccl_open(t->comm, t->be, &why);
        if (!n) apt_user_error("dist.backend %s: no NCCL communicator: %s", want, why ? why : "unknown reason");
        apt_info("dist.backend %s: nccl on device memory (MPI for host scalars)", want);
        return n;
    }
    apt_info("dist.backend %s: %s, device buffers staged through host memory", want, t->comm->name);
    return apt_comm_staged_create(t->comm, stage_copy, t->be, scratch);
}

// model.bn: local keeps each rank's own running statistics (train-mode batch statistics of its own
// samples), so ranks drift apart. Before an evaluation (each rank embeds its share of the test split with
// its own model) and before a checkpoint (which stores rank 0's), rank 0's are broadcast through the
// communicator that holds them: every rank then evaluates with the same statistics, and a resumed run
// (all ranks load rank 0's) continues from what the uninterrupted one holds. Training never reads running
// statistics (train mode normalises with batch statistics), so overwriting the other ranks' changes no
// step; only what evaluation and checkpoints see, and that is now rank 0's everywhere.
static void share_bn_statistics(AptTrainer *t) {
    if (t->cfg.model.bn != APT_BN_LOCAL || t->comm->world == 1 || !t->ps->buffers_numel) return;
    t->dcomm->bcast(t->dcomm, t->ps->buffers, t->ps->buffers_numel, APT_F32, 0);
}

static void *be_zeros(AptBackend *be, size_t floats) {
    float *p = be->alloc(be, (floats ? floats : 1) * sizeof(float));
    be->fill(be, floats, 0.0f, p);
    return p;
}

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = apt_malloc((size_t)(n > 0 ? n : 0) + 1);
    size_t got = fread(s, 1, (size_t)(n > 0 ? n : 0), f);
    s[got] = 0;
    fclose(f);
    return s;
}

// Rank 0 decides, everyone follows: the path to resume from, or "" for a fresh start.
static void resume_source(AptTrainer *t, char *out, size_t cap) {
    out[0] = 0;
    const char *r = t->cfg.resume;
    if (t->comm->rank == 0) {
        char latest[4096];
        apt_path_join(latest, sizeof latest, t->ckpt_dir, "latest.h5");
        char why[512];
        if (!strcmp(r, "auto")) {
            apt_ckpt_pick_resume(t->ckpt_dir, out, cap); // latest.h5, or the newest intact step-*.h5
        } else if (strcmp(r, "never") != 0) {
            if (!apt_path_exists(r)) apt_user_error("resume: checkpoint %s does not exist", r);
            if (apt_ckpt_verify(r, why, sizeof why) != 0) apt_user_error("resume: checkpoint %s is damaged: %s", r, why);
            snprintf(out, cap, "%s", r);
        } else if (apt_path_exists(latest)) {
            apt_warn("resume: never: starting afresh; %s will be overwritten", latest);
        }
    }
    t->comm->bcast(t->comm, out, cap, APT_U8, 0);
}

// Cumulative step counts at the end of each epoch until total_steps is covered.
static void plan_epochs(AptTrainer *t) {
    const AptScheduleConfig *s = &t->cfg.schedule;
    int cap = s->epochs + 1;
    t->epoch_end = apt_malloc((size_t)cap * sizeof *t->epoch_end);
    long acc = 0;
    int e = 0;
    for (;; e++) {
        bool need = s->max_steps > 0 ? acc < s->max_steps : e < s->epochs;
        if (!need) break;
        if (e == cap) {
            cap *= 2;
            t->epoch_end = realloc(t->epoch_end, (size_t)cap * sizeof *t->epoch_end);
            APT_CHECK(t->epoch_end, "out of memory");
        }
        acc += apt_loader_batches_per_epoch(t->loader, e);
        t->epoch_end[e] = acc;
    }
    t->n_epochs = e;
    t->total_steps = s->max_steps > 0 ? s->max_steps : acc;
}

static long epoch_length(const AptTrainer *t, int e) {
    APT_CHECK(e >= 0 && e < t->n_epochs, "epoch %d outside the plan of %d epochs", e, t->n_epochs);
    return t->epoch_end[e] - (e ? t->epoch_end[e - 1] : 0);
}

AptTrainer *apt_trainer_create(const AptConfig *cfg, AptComm *comm, const AptTrainerOptions *opts) {
    AptTrainer *t = apt_calloc(1, sizeof *t);
    t->cfg = *cfg;
    if (opts) t->opts = *opts;
    comm = apt_comm_record_wrap(comm, "host", 0); // test-only collective log (APT_COMM_RECORD)
    t->comm = comm;
    for (int i = 0; i < APT_LIST_MAX; i++) t->last_recall[i] = NAN;
    apt_config_validate(&t->cfg, comm->world);
    apt_h5_init();
    // From here on a pre-emption signal is remembered (and honoured at the first step boundary) instead
    // of killing the process during set-up. Before any compute or loader thread exists: install blocks the
    // signals in this thread, and the threads created below inherit that (signals.c: a signal delivered
    // inside oneDNN's JIT GEMM corrupts the heap).
    apt_signals_install();

    // ---- run directory, log, resolved config (rank 0)
    apt_path_join(t->run_dir, sizeof t->run_dir, cfg->out_dir, cfg->run_name);
    apt_path_join(t->ckpt_dir, sizeof t->ckpt_dir, t->run_dir, "checkpoints");
    if (comm->rank == 0) {
        if (apt_mkdir_p(t->run_dir) != 0)
            apt_user_error("out_dir: cannot create run directory %s: %s", t->run_dir, strerror(errno));
        char p[4096];
        apt_path_join(p, sizeof p, t->run_dir, "log.txt");
        t->log_file = fopen(p, "a");
        if (!t->log_file) apt_user_error("cannot open %s: %s", p, strerror(errno));
        apt_log_set_mirror(t->log_file);
    }
    // ---- the watchdog, before the first collective and before any communicator is built: start-up runs
    // under dist.timeout_io_s (a rank that never arrives, NCCL's bootstrap blocked between nodes), then
    // each step under dist.timeout_s from the first step boundary on.
    char hb[4200];
    apt_path_join(hb, sizeof hb, t->run_dir, "heartbeat");
    t->watchdog = apt_watchdog_start(comm, hb, cfg->dist.timeout_s, cfg->dist.timeout_io_s, cfg->dist.heartbeat_s);
    // Resume (rank 0 picks the checkpoint, every rank opens it), heartbeats and checkpoints need one run
    // directory that every node sees. 10 s: what NFS may take to show another client's new file.
    int unshared = apt_watchdog_check_shared(t->watchdog, comm, 10.0);
    if (unshared >= 0)
        apt_agree_refuse(comm, "run directory %s is not shared: every node must see the same out_dir (rank %d sees no "
                         "heartbeat of rank 0; put out_dir on a file system all nodes mount, as an absolute path, "
                         "or set dist.heartbeat_s: 0 to run without this check and without heartbeats)",
                         t->run_dir, unshared);
    char resume[4096];
    resume_source(t, resume, sizeof resume);
    AptCkptMeta meta = {0};
    if (resume[0] && apt_checkpoint_peek(resume, &meta) != 0)
        apt_user_error("resume: %s is not a readable aptrain checkpoint", resume);
    t->step = meta.step;
    t->epoch = meta.epoch;
    t->step_in_epoch = meta.step_in_epoch;
    if (comm->rank == 0) {
        char p[4096], header[256];
        apt_path_join(p, sizeof p, t->run_dir, "config.yaml");
        // World size and thread counts: what launch/rerun.sh needs to repeat the run (data.threads is a key).
        snprintf(header, sizeof header, "aptrain %s, world size %d, seed %llu, OMP threads %d (resolved configuration)",
                 APT_VERSION, comm->world, (unsigned long long)cfg->seed, omp_get_max_threads());
        if (apt_config_dump(&t->cfg, p, header) != 0) apt_user_error("cannot write %s", p);
        t->config_text = read_text(p);
    }

    // ---- data, model, loss, optimizer
    const char *dev = cfg->device == APT_DEVICE_CPU ? "cpu" : cfg->device == APT_DEVICE_CUDA ? "cuda" : "auto";
    // The device is chosen from the node-local rank before any CUDA call (comm exists already).
    t->be = apt_backend_create_on(dev, comm->local_rank);
    // Before any device communicator: the ranks agree on what they are about to build (a rank that fell
    // back to cpu under device: auto would otherwise enter MPI's 8-byte broadcasts while the others
    // broadcast NCCL's 128-byte id), and no two ranks on a node drive the same GPU.
    apt_agree_setup(comm, t->be->name, device_comm_kind(t), cfg->precision == APT_PREC_BF16 ? "bf16" : "fp32");
    apt_agree_devices(comm, t->be, !strcmp(cfg->dist.backend, "mpi"));
    // train.profile_steps: rank 0 wraps its backend with the per-op profiler (the other ranks run plain,
    // as only rank 0 reports). It keeps the backend's name; the communicator reaches the real one.
    if (cfg->train.profile_steps > 0 && comm->rank == 0) {
        t->be = t->prof = apt_backend_profile_create(t->be, cfg->train.profile_steps);
        t->prof_from = t->step + 2; // this process's first step is warm-up
    }
    t->B = cfg->data.batch_size;
    t->b = t->B / comm->world;
    AptLoaderOptions lo;
    apt_loader_options_from_config(&lo, &t->cfg, APT_LOADER_TRAIN, comm->rank, comm->world);
    lo.start_epoch = t->epoch;
    lo.start_step = (int)t->step_in_epoch;
    t->loader = apt_loader_create(&lo);
    apt_input_shape_config(&t->cfg.data, apt_loader_manifest(t->loader), &t->C, &t->H, &t->W);
    plan_epochs(t);
    // The device communicator exists before the model (sync BatchNorm reduces through it); the staged
    // path's scratch is sized below, once the gradient buffer's size is known.
    t->dcomm = apt_comm_record_wrap(device_comm(t, 0), "device", 1);
    t->chunk = cfg->train.chunk > 0 && cfg->train.chunk < t->b ? cfg->train.chunk : 0; // step.c chunk loop
    t->model = apt_model_create_ex(&t->cfg.model, t->be, t->dcomm, t->chunk ? t->chunk : t->b, t->C, t->H, t->W,
                                   cfg->seed, cfg->precision == APT_PREC_BF16);
    t->ps = apt_model_params(t->model);
    t->D = apt_model_embed_dim(t->model);
    if (cfg->train.chunk > 0 || cfg->precision == APT_PREC_BF16)
        apt_info("precision %s; %s (activation arena %.1f MiB)", cfg->precision == APT_PREC_BF16 ? "bf16" : "fp32",
                 t->chunk ? "train.chunk: two-pass step, forward in chunks" : "one-pass step",
                 apt_model_activation_bytes(t->model) / 1048576.0);
    if (!strcmp(t->dcomm->name, "staged")) // buckets in flight + one gather/scatter of E + BN sums
        apt_comm_staged_reserve(t->dcomm, t->ps->numel * sizeof(float) + 2 * (size_t)t->B * t->D * sizeof(float) +
                                              (size_t)t->ps->n * 256 + ((size_t)1 << 20));
    if (!t->opts.no_eval) t->eval = apt_eval_create(&t->cfg, comm, t->run_dir, t->chunk ? t->chunk : t->b);
    apt_loss_params_from_config(&t->loss_params, &t->cfg.loss);
    // Largest class in a batch: m under the epoch sampler (distinct classes); the random sampler draws
    // classes with replacement, so only B bounds it. loss.memory (N rows, xbm.h) widens the gallery to
    // B + N rows, which span at most ceil(N / B) + 2 batches (the current one, and partial ones at both
    // ends of the ring), each with at most m rows of a class under the epoch sampler.
    const int N = cfg->loss.memory, G = t->B + N;
    int m_max = cfg->data.sampler == APT_SAMPLER_EPOCH ? cfg->data.samples_per_class : t->B;
    if (N > 0) {
        long long mm = cfg->data.sampler == APT_SAMPLER_EPOCH ? (long long)m_max * ((N + t->B - 1) / t->B + 2) : G;
        m_max = mm < G ? (int)mm : G;
    }
    // loss.simix (src/loss/simix.h, epoch sampler only): C m (m - 1) / 2 virtual rows join the gallery, each
    // rank queries its b real rows and its share of the virtual ones, and a class holds m + m (m - 1) / 2.
    const int simix_V = cfg->loss.simix ? apt_simix_rows(t->B, cfg->data.samples_per_class) : 0;
    if (cfg->loss.simix)
        t->be->loss_create(t->be, &t->loss_params, apt_simix_b_max(t->B, comm->world, simix_V), t->B + simix_V,
                           t->D, m_max + apt_simix_pair_count(m_max), &t->loss_ws);
    else
        t->be->loss_create(t->be, &t->loss_params, t->b, G, t->D, m_max, &t->loss_ws);
    if (!t->loss_ws)
        apt_user_error("loss.name: %s has no kernel on device %s (there: smoothap, pnp-o, pnp-ds, pnp-dq, pnp-iu, "
                       "pnp-ib)", cfg->loss.name, t->be->name);
    t->E_local = be_zeros(t->be, (size_t)t->b * t->D);
    t->dE_local = be_zeros(t->be, (size_t)t->b * t->D);
    t->E = be_zeros(t->be, (size_t)G * t->D); // [B + N, D]: the batch, then the memory's ring
    if (N > 0) t->xbm = apt_xbm_create(t->be, t->E, t->B, t->D, N, cfg->loss.memory_start_step);
    t->dE = be_zeros(t->be, (size_t)t->B * t->D);
    if (cfg->loss.simix) t->simix = apt_simix_create(t->be, t->B, comm->world, t->D, simix_V);
    for (int k = 0; k < 2; k++) t->x[k] = be_zeros(t->be, (size_t)t->b * t->C * t->H * t->W);
    t->scal = t->be->alloc(t->be, APT_SCALAR_COUNT * sizeof(double));
    t->be->fill_f64(t->be, APT_SCALAR_COUNT, 0.0, t->scal);
    apt_optim_init(&t->optim, &t->cfg.optim, t->ps);
    // NCCL builds its buckets at W = 1 as well (the path multi-GPU runs take); so does the test-only
    // pre-multiplied bucket sum (APT_TEST_BUCKET_PREMUL), which the staged path applies too.
    if (comm->world > 1 || !strcmp(t->dcomm->name, "nccl") || apt_comm_test_bucket_premul() != 1.0) {
        size_t elems = (size_t)(cfg->dist.bucket_mb * 1048576.0 / sizeof(float));
        t->gcomm = t->dcomm;
        if (!strcmp(t->dcomm->name, "nccl")) { // NCCL runs one communicator's collectives in issue order
            const char *why = NULL;
            t->gcomm = apt_comm_nccl_open(t->comm, t->be, &why);
            if (!t->gcomm) apt_user_error("dist.backend nccl: no NCCL communicator for gradient buckets: %s",
                                          why ? why : "unknown reason");
        }
        t->gcomm = apt_comm_record_wrap(t->gcomm, "grad", t->gcomm != t->dcomm);
        t->buckets = apt_buckets_create(t->gcomm, t->ps->g, t->ps->numel, APT_F32, elems > 0 ? elems : 1);
        // Backward reports "every gradient at offset >= lo is final"; each bucket starts its all-reduce then.
        // Except with sync BatchNorm on two NCCL communicators: its sums (dcomm, compute stream) run inside
        // backward, and NCCL does not promise progress for two communicators' collectives in flight at
        // once on one GPU (each kernel can hold the SMs the other waits for: a hang). Serialised, not one
        // communicator (one communicator used from two streams needs the same ordering by hand): without
        // the hook apt_buckets_wait starts every bucket after backward, ordered behind its last BN sum by
        // the event nccl iallreduce records on the compute stream, and the next step's first op (its
        // forward BN sum, the E all-gather) waits for the buckets (nccl wait). Other BN modes issue no
        // collective during backward (the E/dE exchange precedes it), so they keep the overlap.
        bool serialise = t->gcomm != t->dcomm && cfg->model.bn == APT_BN_SYNC;
        if (serialise)
            apt_info("model.bn sync on nccl: gradient all-reduces start after backward (not overlapped), so "
                     "they never run beside the BN sums on the other communicator");
        else
            apt_model_set_grad_ready_hook(t->model, grads_ready, t->buckets);
    }
    if (resume[0]) {
        apt_h5_lock();
        apt_checkpoint_load(resume, t->ps, &meta, NULL);
        if (t->xbm && !apt_xbm_restore(t->xbm, resume)) // a file without a memory: it fills from empty
            apt_warn("resume: %s has no cross-batch memory (loss.memory %d starts empty)", resume, N);
        apt_h5_unlock();
        t->optim.t = meta.optim_t;
        apt_info("resumed from %s at step %ld (epoch %d, step %ld of it; written by world size %d)", resume,
                 meta.step, meta.epoch, meta.step_in_epoch, meta.world_size);
        if (meta.seed != cfg->seed)
            apt_warn("resume: checkpoint seed %llu differs from seed %llu", (unsigned long long)meta.seed,
                     (unsigned long long)cfg->seed);
    }
    size_t trainable = 0;
    for (int i = 0; i < t->ps->n; i++)
        if (!t->ps->p[i].is_buffer && t->ps->p[i].trainable) trainable += t->ps->p[i].numel;
    apt_info("run %s: %s %dx%dx%d -> %d-d, %zu trainable parameters, %s lr %g, loss %s, B %d = %d ranks x %d, "
             "%ld steps over %d epochs, device %s, communicator %s",
             t->run_dir, cfg->model.arch, t->C, t->H, t->W, t->D, trainable, apt_optim_name(cfg->optim.name),
             cfg->optim.lr, cfg->loss.name, t->B, comm->world, t->b, t->total_steps, t->n_epochs, t->be->name, t->dcomm->name);
    apt_progress_open(&t->progress, t->run_dir, comm->rank, t->total_steps, t->step);
    // Stamps per step: 12 in the one-pass step; the two-pass step adds a forward and a backward per chunk.
    const int n_chunks = t->chunk ? (t->b + t->chunk - 1) / t->chunk : 0;
    apt_step_timer_init(&t->timer, t->be, 16 + 2 * n_chunks);
    apt_nan_policy_init(&t->nan, &cfg->train);
    return t;
}

// train.profile_steps (rank 0): the per-op table to the log and RUN_DIR/profile.md (atomic write). Called
// once the profiled steps are done, or at the end of a run too short for all of them.
static void write_profile(AptTrainer *t) {
    t->prof_written = true;
    const int n = apt_profile_steps_done(t->prof);
    if (n == 0) {
        apt_warn("train.profile_steps: no step was profiled (the run ended before step %ld; the process's first "
                 "step is warm-up)", t->prof_from);
        return;
    }
    if (n < t->cfg.train.profile_steps)
        apt_warn("train.profile_steps: the run ended after %d of %d profiled steps", n, t->cfg.train.profile_steps);
    char title[1024];
    snprintf(title, sizeof title,
             "%s %dx%dx%d, %s, B %d (rank 0 of %d: b %d), device %s, steps %ld..%ld (step %ld, this process's "
             "first, is warm-up and not profiled)",
             t->cfg.model.arch, t->C, t->H, t->W, t->cfg.precision == APT_PREC_BF16 ? "bf16" : "fp32", t->B,
             t->comm->world, t->b, t->be->name, t->prof_from, t->prof_from + n - 1, t->prof_from - 1);
    char *text = apt_profile_format(t->prof, title);
    for (char *line = text, *end; *line; line = end + (*end != 0)) {
        end = strchr(line, '\n');
        if (!end) end = line + strlen(line);
        apt_info("profile: %.*s", (int)(end - line), line);
    }
    char p[4200];
    apt_path_join(p, sizeof p, t->run_dir, "profile.md");
    AptAtomicFile af;
    if (apt_atomic_open(&af, p, "w") != 0 || fputs(text, af.f) < 0 || apt_atomic_commit(&af) != 0)
        apt_warn("train.profile_steps: cannot write %s: %s", p, strerror(errno));
    else
        apt_info("profile written to %s", p);
    free(text);
}

static void save_checkpoint(AptTrainer *t) {
    apt_watchdog_allow(t->watchdog, "checkpoint");
    share_bn_statistics(t);
    if (t->comm->rank == 0) {
        AptCkptMeta meta = {.step = t->step, .epoch = t->epoch, .step_in_epoch = t->step_in_epoch,
                            .optim_t = t->optim.t, .seed = t->cfg.seed, .world_size = t->comm->world,
                            .memory = apt_xbm_stage(t->xbm)};
        apt_h5_lock(); // loader threads may be inside HDF5 (HDF5 is not thread-safe here)
        apt_checkpoint_save_run(t->ckpt_dir, t->ps, &meta, t->config_text, t->cfg.checkpoint.keep);
        apt_h5_unlock();
        apt_debug("checkpoint at step %ld written to %s", t->step, t->ckpt_dir);
    }
    t->comm->barrier(t->comm); // nobody runs ahead (or exits) before the file is in place
}

// Every rank embeds its share of the test split; metrics are identical on every rank; rank 0 writes the
// leaderboard (the latest evaluation's figures) and the optional HDF5 outputs.
static void evaluate(AptTrainer *t, int epoch) {
    if (t->opts.no_eval) return;
    apt_watchdog_allow(t->watchdog, "evaluation");
    share_bn_statistics(t);
    AptEvalResult r;
    apt_eval_run(t->eval, t->model, t->step, NULL, &r);
    for (int i = 0; i < t->cfg.eval.n_recall_k; i++) t->last_recall[i] = r.m.recall[i];
    t->evaluated = true; // apt_eval_run printed the figures (rank 0)
    apt_progress_eval(&t->progress, epoch, t->step, r.n, r.names, r.values);
}

int apt_trainer_run(AptTrainer *t) {
    AptComm *c = t->comm;
    const AptConfig *cfg = &t->cfg;
    double loss_sum = 0;
    int loss_n = 0;
    long logged_at = t->step;
    if (t->step >= t->total_steps) apt_info("nothing to do: step %ld of %ld already done", t->step, t->total_steps);
    while (t->step < t->total_steps) {
        apt_watchdog_beat(t->watchdog, t->step); // step boundary: the step watchdog's deadline starts now
        // Pre-emption is decided collectively at the step boundary, so every rank stops at the same step.
        int sig = apt_signals_pending();
        if (t->opts.preempt_at_step > 0 && t->step == t->opts.preempt_at_step) sig = SIGUSR1;
        if (c->world > 1) sig = (int)apt_comm_max_host(c, (double)sig);
        if (sig) {
            apt_info("signal %d: writing a checkpoint at step %ld and exiting for requeue (status %d)", sig, t->step,
                     APT_EXIT_REQUEUE);
            save_checkpoint(t);
            apt_signals_clear();
            return APT_EXIT_REQUEUE;
        }
        double t_wait = apt_time_now();
        // Fetched and uploaded during the previous step (apt_train_step's `next`), or now for the first step.
        // The data wait below is then this boundary's fetch only; a prefetch's loader wait falls inside the
        // previous step's time (it runs while that step's kernels do).
        const AptBatch *bt = t->batch ? t->batch : apt_train_fetch_upload(t, t->loader, t->step);
        t->batch = NULL;
        double t_got = apt_time_now();
        apt_step_timer_add(&t->timer, APT_PHASE_DATA, t_got - t_wait);
        AptNanBatchInfo bt_info; // bt may be recycled by the loader once the step has prefetched
        apt_nan_batch_info(&bt_info, bt);
        double lr = apt_schedule_lr(&cfg->schedule, cfg->optim.lr, t->step, t->epoch, t->total_steps);
        double gnorm;
        // The step fetches the next batch itself during its compute, unless this is the last step (or the
        // test option sync_upload asks for the fetch at the boundary).
        AptLoader *next = t->opts.sync_upload || t->step + 1 >= t->total_steps ? NULL : t->loader;
        double loss = apt_train_step(t, bt, lr, &gnorm, next);
        apt_progress_time(&t->progress, t_got - t_wait, apt_time_now() - t_got); // per-step time split
        if (!apt_nan_policy_step(&t->nan, loss, &t->nan_diag, c->rank, t->step, &bt_info)) { // train.on_nan
            // Every rank is here at the same step. Stop the loader threads before exit() runs HDF5's
            // atexit clean-up under them, and the watchdog (this rank is finished: peers must not report
            // it lost while the abort takes the ranks down); no checkpoint.
            apt_loader_destroy(t->loader);
            t->loader = NULL;
            apt_watchdog_stop(t->watchdog);
            t->watchdog = NULL;
            apt_nan_policy_stop(&t->nan, &t->nan_diag, c, t->step, &bt_info);
        }
        if (isfinite(loss)) loss_sum += loss, loss_n++; // a skipped step (train.on_nan: skip) has no loss
        else apt_xbm_forget(t->xbm); // its E rows, now in the memory, may be non-finite (xbm.h)
        if (t->prof && !t->prof_written && apt_profile_complete(t->prof)) write_profile(t);
        t->step++;
        t->step_in_epoch++;
        int epoch = t->epoch;
        bool epoch_done = t->epoch < t->n_epochs && t->step_in_epoch == epoch_length(t, t->epoch);
        bool last = t->step == t->total_steps;
        if (t->step % cfg->logging.every_steps == 0 || last) {
            double phase[APT_PHASE_COUNT]; // every rank takes its own (device: the same small wait each)
            apt_step_timer_take(&t->timer, phase);
            apt_progress_phases(&t->progress, phase);
            apt_progress_step(&t->progress, epoch, t->step, loss_n ? loss_sum / loss_n : NAN, lr, (long)t->B * (t->step - logged_at),
                              !t->opts.quiet);
            loss_sum = 0, loss_n = 0, logged_at = t->step;
        }
        if (epoch_done) t->epoch++, t->step_in_epoch = 0;
        if (last) break;
        bool ck = (cfg->checkpoint.every_steps && t->step % cfg->checkpoint.every_steps == 0) ||
                  (epoch_done && cfg->checkpoint.every_epochs && (epoch + 1) % cfg->checkpoint.every_epochs == 0);
        bool ev = (cfg->eval.every_steps && t->step % cfg->eval.every_steps == 0) ||
                  (epoch_done && cfg->eval.every_epochs && (epoch + 1) % cfg->eval.every_epochs == 0);
        if (ev) evaluate(t, epoch);
        if (ck) save_checkpoint(t);
    }
    if (t->prof && !t->prof_written) write_profile(t); // a run shorter than train.profile_steps + 1 steps
    evaluate(t, t->step_in_epoch == 0 ? t->epoch - 1 : t->epoch);
    save_checkpoint(t);
    return APT_EXIT_OK;
}

AptParamStore *apt_trainer_params(AptTrainer *t) { return t->ps; }
const AptCkptMemory *apt_trainer_memory(AptTrainer *t) { return apt_xbm_stage(t->xbm); }
long apt_trainer_steps_done(const AptTrainer *t) { return t->step; }
long apt_trainer_total_steps(const AptTrainer *t) { return t->total_steps; }
const char *apt_trainer_run_dir(const AptTrainer *t) { return t->run_dir; }
double apt_trainer_last_recall(const AptTrainer *t, int i) {
    return i >= 0 && i < APT_LIST_MAX ? t->last_recall[i] : NAN;
}

void apt_trainer_destroy(AptTrainer *t) {
    if (!t) return;
    apt_watchdog_stop(t->watchdog);
    apt_progress_close(&t->progress);
    if (t->eval) apt_eval_destroy(t->eval);
    if (t->loader) apt_loader_destroy(t->loader);
    apt_model_destroy(t->model); // owns the parameter store (and m/v allocated into it)
    if (t->loss_ws) t->be->loss_free(t->be, t->loss_ws);
    apt_xbm_free(t->xbm);
    apt_simix_free(t->simix);
    apt_step_timer_free(&t->timer);
    if (t->buckets) apt_buckets_free(t->buckets);
    float *bufs[6] = {t->E_local, t->dE_local, t->E, t->dE, t->x[0], t->x[1]};
    for (int i = 0; i < 6; i++)
        if (bufs[i]) t->be->free(t->be, bufs[i]);
    if (t->scal) t->be->free(t->be, t->scal);
    if (t->gcomm && t->gcomm != t->dcomm) t->gcomm->destroy(t->gcomm);
    if (t->dcomm && t->dcomm != t->comm) t->dcomm->destroy(t->dcomm);
    apt_comm_record_end(t->comm);
    apt_backend_destroy(t->be);
    free(t->epoch_end);
    free(t->config_text);
    if (t->log_file) {
        apt_log_set_mirror(NULL);
        fclose(t->log_file);
    }
    free(t);
}
