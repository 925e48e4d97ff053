// arch_names.h — THE list of backbone architecture names: every other place that names an
// architecture derives from this table. It lives in core, below config (model.arch's allowed list) and
// nn (the constructors), so config depends on no layer above it (DESIGN §2).
//
//   APT_ARCH_TABLE(X) expands X(ID, "name", CREATE, VARIANT) once per architecture, in this order:
//     ID       enum suffix: AptArchId APT_ARCH_<ID>
//     "name"   what model.arch accepts
//     CREATE   the backbone constructor (an AptBackboneCreate of backbone.h), implemented in src/nn/<file>.c
//     VARIANT  int handed to CREATE: smallcnn 1 = the flat variant, resnet the depth, vit the size
//              (0 = S/16, 1 = B/16); else 0
//
// Derived from it: the AptArchId enum and APT_ARCH_NAMES_BAR / APT_ARCH_NAMES_COMMA below; the config
// key model.arch (config_keys.def: allowed list, error message, --help-config); the constructor
// dispatch and its "unknown" message in model.c; tests/nn/test_model.c's check that every row builds.
//
// Adding an architecture (a ViT, say): one X(...) line here + its constructor declared in backbone.h
// (AptBackboneCreate) and implemented in its own file under src/nn/. A family of sizes is one
// constructor and one row per size, told apart by VARIANT (as resnet18/34/50/101). The README's
// model.arch paragraph describes each name for users.
//
// Header-only, no declarations: includable from C and CUDA C++; CREATE is only named where an X uses
// it (model.c).
#pragma once

// clang-format off
#define APT_ARCH_TABLE(X)                                               \
    X(SMALLCNN,      "smallcnn",      apt_smallcnn_create, 0)           \
    X(SMALLCNN_FLAT, "smallcnn-flat", apt_smallcnn_create, 1)           \
    X(MLP,           "mlp",           apt_mlp_create,      0)           \
    X(RESNET18,      "resnet18",      apt_resnet_create,   18)          \
    X(RESNET34,      "resnet34",      apt_resnet_create,   34)          \
    X(RESNET50,      "resnet50",      apt_resnet_create,   50)          \
    X(RESNET101,     "resnet101",     apt_resnet_create,   101)         \
    X(VIT_S16,       "vit_s16",       apt_vit_create,      0)           \
    X(VIT_B16,       "vit_b16",       apt_vit_create,      1)           \
    X(SENET50,       "senet50",       apt_senet_create,    50)
// clang-format on

#define APT_ARCH_ENUM_(ID, NAME, CREATE, VARIANT) APT_ARCH_##ID,
typedef enum { APT_ARCH_TABLE(APT_ARCH_ENUM_) APT_ARCH_COUNT } AptArchId;
#undef APT_ARCH_ENUM_

// String literals (usable in static initialisers): "smallcnn|smallcnn-flat|..." for the config table's
// allowed list and "smallcnn, smallcnn-flat, ..." for messages. Each row contributes a leading
// separator, skipped by the pointer offset.
#define APT_ARCH_BAR_(ID, NAME, CREATE, VARIANT) "|" NAME
#define APT_ARCH_COMMA_(ID, NAME, CREATE, VARIANT) ", " NAME
#define APT_ARCH_NAMES_BAR (APT_ARCH_TABLE(APT_ARCH_BAR_) + 1)
#define APT_ARCH_NAMES_COMMA (APT_ARCH_TABLE(APT_ARCH_COMMA_) + 2)
