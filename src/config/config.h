// config.h — the typed configuration: the single source of truth for every setting (DESIGN §5).
//
// YAML keys map 1:1 to fields: `optim.lr` is cfg->optim.lr, `loss.smoothap.include_self` is
// cfg->loss.smoothap.include_self. Defaults, types, ranges and help text live in config_keys.def
// (one X-macro table read by the parser, the overrides, the dumper and `aptrain --help-config`).
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define APT_STR 512     // capacity of string settings (paths, names)
#define APT_LIST_MAX 16 // capacity of list settings

typedef enum { APT_DEVICE_AUTO = 0, APT_DEVICE_CPU, APT_DEVICE_CUDA } AptDevice;
typedef enum { APT_PREC_FP32 = 0, APT_PREC_BF16 } AptPrecision;
typedef enum { APT_BN_FROZEN = 0, APT_BN_FROZEN_AFFINE, APT_BN_LOCAL, APT_BN_SYNC } AptBNMode;
typedef enum { APT_SAMPLER_EPOCH = 0, APT_SAMPLER_RANDOM } AptSamplerMode;
typedef enum { APT_PREPROC_IMAGENET = 0, APT_PREPROC_VGGFACE2 } AptPreprocess;
typedef enum { APT_OPT_ADAM = 0, APT_OPT_ADAMW, APT_OPT_SGD } AptOptimName;
typedef enum { APT_SCHED_CONSTANT = 0, APT_SCHED_STEP, APT_SCHED_COSINE } AptSchedName;

typedef struct {
    char arch[64];         // a name of src/core/arch_names.h
    int embed_dim;         // D
    char pretrained[APT_STR]; // safetensors file with torchvision/timm names; "" = random init
    AptBNMode bn;          // frozen | frozen_affine | local | sync
    double head_init_std;  // official code: normal(0, 0.01)
    int width;             // smallcnn: channels of the first stage
    int hidden;            // mlp: hidden units
    char vit_pool[16];     // vit_*: token (class token) | mean (mean of the patch tokens)
    double drop_path;      // vit_*: stochastic-depth rate of the last block (0 = off)
} AptModelConfig;

typedef struct {
    char root[APT_STR];    // prepared dataset directory (aprep output)
    char train_split[64];  // "train"
    char test_split[64];   // "test"
    AptSamplerMode sampler; // epoch | random
    int batch_size;        // B, global
    int samples_per_class; // m
    int threads;           // loader threads per rank
    int prefetch;          // batches in flight per rank
    int resize;            // short side before crop (0 = none)
    int crop;              // square input size (0 = stored size)
    bool augment;          // RandomResizedCrop + horizontal flip on train
    float mean[APT_LIST_MAX]; int n_mean; // per-channel normalisation
    float std[APT_LIST_MAX]; int n_std;
    AptPreprocess preprocess; // imagenet | vggface2 (BGR, 0-255, mean subtraction)
} AptDataConfig;

typedef struct {
    char name[32];         // a name of src/core/loss_names.h
    double tau;            // sigmoid temperature
    struct { bool include_self; } smoothap;
    struct { double alpha, b; } pnp;
    double margin;         // contrastive / triplet (cosine similarity)
    char triplet_mining[16]; // all | semihard
    struct { double alpha, beta, lambda, margin; } ms; // multi-similarity
    struct {               // Recall@k surrogate: k values and the temperature of each k's sigmoid
        int k[APT_LIST_MAX]; int n_k;
        float k_temperatures[APT_LIST_MAX]; int n_k_temperatures;
    } recallk;
    int memory;            // cross-batch memory rows N (src/train/xbm.c); 0 = off
    bool simix;            // recallk: SiMix virtual rows (src/loss/simix.h)
    int memory_start_step; // the memory is filled and used from this optimizer step on
} AptLossConfig;

typedef struct {
    AptOptimName name;     // adam | adamw | sgd
    double lr;
    double weight_decay;   // adam/sgd: coupled L2; adamw: decoupled
    double momentum;       // sgd
    bool nesterov;         // sgd
    double beta1, beta2, eps; // adam/adamw
    double fc_lr_mul;      // learning-rate multiplier of the embedding head (official code: 2)
    double clip_grad_norm; // 0 = off
    double layer_decay;    // vit_*: layer-wise lr decay (BEiT/timm); 1 = off
    bool decay_exclude_norm_bias; // no weight decay on 1-D tensors (norms, biases), pos_embed, cls_token
} AptOptimConfig;

typedef struct {
    AptSchedName name;     // constant | step | cosine
    int epochs;
    int max_steps;         // 0 = epochs x steps per epoch
    int milestones[APT_LIST_MAX]; int n_milestones; // epochs, for `step`
    double gamma;          // `step` factor
    int warmup_steps;
    double min_lr;         // `cosine` floor
} AptScheduleConfig;

typedef enum { APT_NAN_ABORT, APT_NAN_SKIP } AptNanAction;

typedef struct {
    AptNanAction on_nan;   // a step with a non-finite loss/gradient: stop the run, or skip it
    int max_nan_skips;     // skip: stop after this many skipped steps in a row
    int chunk;             // images per rank per forward in the two-pass step; 0 = one pass
    int profile_steps;     // per-op profile of steps 2..N+1 (src/backend/profile/); 0 = off
} AptTrainConfig;

typedef struct {
    char backend[16];      // auto | self | mpi | nccl
    double bucket_mb;      // gradient all-reduce bucket size
    double timeout_s;      // a step longer than this ends the rank (step watchdog); 0 = off
    double timeout_io_s;   // the same for an evaluation or a checkpoint write; 0 = off
    double heartbeat_s;    // a peer silent this long (heartbeat files in the run dir) is lost; 0 = off
} AptDistConfig;

typedef struct {
    int every_epochs;      // 0 = only at the end
    int every_steps;       // 0 = off
    int recall_k[APT_LIST_MAX]; int n_recall_k;
    int batch_size;        // images per rank per forward during extraction
    int block;             // queries per scoring block (memory: block x N floats)
    char protocol[64];     // key into configs/published.yaml: fashion-mnist | inaturalist | vggface2
    char published[APT_STR]; // published-results file ("" = configs/published.yaml beside the source)
    char borrowed[APT_STR]; // settings taken from another method's paper, named on the leaderboard ("" = none)
    bool save_embeddings;
    bool save_per_query;
} AptEvalConfig;

typedef struct {
    int every_epochs;      // 0 = off
    int every_steps;       // 0 = off
    int keep;              // number of step checkpoints kept besides latest.h5
} AptCheckpointConfig;

typedef struct {
    char level[16];        // error | warn | info | debug
    int every_steps;       // progress line interval
    bool all_ranks;        // every rank prints (debugging)
} AptLoggingConfig;

typedef struct {
    char run_name[128];
    char out_dir[APT_STR]; // runs/
    uint64_t seed;
    AptDevice device;
    AptPrecision precision;
    char resume[APT_STR];  // auto | never | path to a checkpoint
    AptModelConfig model;
    AptDataConfig data;
    AptLossConfig loss;
    AptOptimConfig optim;
    AptScheduleConfig schedule;
    AptTrainConfig train;
    AptDistConfig dist;
    AptEvalConfig eval;
    AptCheckpointConfig checkpoint;
    AptLoggingConfig logging;
} AptConfig;

// Fill every field with its default from config_keys.def.
void apt_config_defaults(AptConfig *cfg);
// Load a YAML file over the defaults. User errors ("file:line:col: message") exit via apt_user_error.
void apt_config_load(AptConfig *cfg, const char *path);
// Apply one `a.b=value` override (same types and validation as YAML); exits on error naming the argument.
void apt_config_override(AptConfig *cfg, const char *assignment);
// Write the resolved config as YAML that apt_config_load reads back to the same struct. Returns 0 on success.
int apt_config_dump(const AptConfig *cfg, const char *path, const char *header_comment);
// Same YAML to an open stream (e.g. stdout); header lines are written as "# " comments.
void apt_config_write(const AptConfig *cfg, FILE *f, const char *header_comment);
// Print every key, type, default and help line (aptrain --help-config).
void apt_config_print_help(void);

// Cross-field rules, checked after the YAML and the overrides are applied (apt_config_load does not
// call it, so an override can repair a value the file set):
//   data.batch_size is a multiple of data.samples_per_class and holds >= 2 classes;
//   world_size > 0: data.batch_size is a multiple of world_size (each rank takes B/W rows of the
//   global plan; a rank's slice need not hold whole classes);
//   data.mean and data.std have the same count (>= 1); eval.recall_k non-empty and increasing;
//   loss.recallk.k and loss.recallk.k_temperatures have the same count (>= 1);
//   schedule.name step: milestones non-empty and increasing; data.crop <= data.resize when both set;
//   dist.backend nccl excludes device cpu; train.chunk excludes model.bn local and sync; model.drop_path > 0,
//   model.vit_pool mean and optim.layer_decay < 1 need a vit_* model.arch.
// apt_config_check returns 0, or 1 with a one-line message naming the keys in err.
int apt_config_check(const AptConfig *cfg, int world_size, char *err, size_t cap);
// apt_config_check, exiting through apt_user_error ("config: <message>") on failure.
void apt_config_validate(const AptConfig *cfg, int world_size);
