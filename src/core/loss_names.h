// loss_names.h — THE list of loss names: every other place that names losses derives from this table.
// It lives in core, below config (loss.name's allowed list), the backends (kernels) and src/loss (the
// registry), so none of them reaches up or sideways for it (DESIGN §2).
//
//   APT_LOSS_TABLE(X) expands X(ID, "name", ROW, COUNTS, VARIANT, CUDA) once per loss, in this order:
//     ID       enum suffix: AptLossId APT_LOSS_<ID>
//     "name"   what loss.name and `aptrain loss --loss` accept
//     ROW      per-query row function of the CPU kernels (backend/cpu/cpu_loss.h), implemented in
//              src/backend/cpu/cpu_loss_<file>.c
//     COUNTS   whether a query counts in the global normaliser (cpu_loss.h), NULL = every query
//     VARIANT  pnp: which f(N), APT_PNP_* of backend/loss_types.h; others 0
//     CUDA     kernel family of the CUDA path (loss_pair.h APT_LP_<CUDA>): SMOOTHAP, PNP, RECALLK, or NONE
//              (NONE: CPU only; apt_loss_cuda_supports says 0 and device training refuses the loss)
//
// Derived from it: the AptLossId enum and APT_LOSS_NAMES_BAR / APT_LOSS_NAMES_COMMA below; the config
// key loss.name (config_keys.def: allowed list, error message, --help-config); the registry and its
// "unknown loss" messages (loss.c, cmd_loss.c); CUDA support and kernel choice (cuda_loss.cu); the
// per-loss test loops (tests/loss, tests/config).
//
// Adding a loss: one X(...) line here + its ROW (and COUNTS) function declared in cpu_loss.h and
// implemented in its own file + its float64 reference in tests/loss/loss_ref.h and a case in
// tests/loss/test_losses.c (test_losses fails until every name here has one).
//
// Header-only, no declarations: includable from C and CUDA C++; ROW and COUNTS are only named when an
// X uses them (loss.c), so a .cu including this file needs none of the C functions.
#pragma once

// clang-format off
#define APT_LOSS_TABLE(X)                                                                           \
    X(SMOOTHAP,    "smoothap",    apt_loss_smoothap_row,    apt_loss_smoothap_counts, 0,          SMOOTHAP) \
    X(PNP_O,       "pnp-o",       apt_loss_pnp_row,         NULL,                     APT_PNP_O,  PNP)      \
    X(PNP_DS,      "pnp-ds",      apt_loss_pnp_row,         NULL,                     APT_PNP_DS, PNP)      \
    X(PNP_DQ,      "pnp-dq",      apt_loss_pnp_row,         NULL,                     APT_PNP_DQ, PNP)      \
    X(PNP_IU,      "pnp-iu",      apt_loss_pnp_row,         NULL,                     APT_PNP_IU, PNP)      \
    X(PNP_IB,      "pnp-ib",      apt_loss_pnp_row,         NULL,                     APT_PNP_IB, PNP)      \
    X(CONTRASTIVE, "contrastive", apt_loss_contrastive_row, NULL,                     0,          NONE)     \
    X(TRIPLET,     "triplet",     apt_loss_triplet_row,     apt_loss_triplet_counts,  0,          NONE)     \
    X(MULTISIM,    "multisim",    apt_loss_multisim_row,    NULL,                     0,          NONE)     \
    X(RECALLK,     "recallk",     apt_loss_recallk_row,     apt_loss_recallk_counts,  0,          RECALLK)
// clang-format on

#define APT_LOSS_ENUM_(ID, NAME, ROW, COUNTS, VARIANT, CUDA) APT_LOSS_##ID,
typedef enum { APT_LOSS_TABLE(APT_LOSS_ENUM_) APT_LOSS_COUNT } AptLossId;
#undef APT_LOSS_ENUM_

// String literals (usable in static initialisers): "smoothap|pnp-o|..." for the config table's allowed
// list and "smoothap, pnp-o, ..." for messages. Each row contributes a leading separator, skipped by the
// pointer offset.
#define APT_LOSS_BAR_(ID, NAME, ROW, COUNTS, VARIANT, CUDA) "|" NAME
#define APT_LOSS_COMMA_(ID, NAME, ROW, COUNTS, VARIANT, CUDA) ", " NAME
#define APT_LOSS_NAMES_BAR (APT_LOSS_TABLE(APT_LOSS_BAR_) + 1)
#define APT_LOSS_NAMES_COMMA (APT_LOSS_TABLE(APT_LOSS_COMMA_) + 2)
