// config_table.h — the key table behind config.h (internal to src/config/ and its tests).
//
// One entry per row of config_keys.def: where the field lives in AptConfig, its type, default text,
// range and allowed names. Every way a value enters the struct (defaults, YAML, overrides) goes
// through apt_cfg_set_scalar / apt_cfg_list_* so types and ranges are checked in one place.
// Error texts written to `err` carry no location and no key: the caller prefixes "file:line:col: key: "
// or "override 'arg': ".
#pragma once
#include "config.h"

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    APT_CFG_INT,
    APT_CFG_U64,
    APT_CFG_DOUBLE,
    APT_CFG_BOOL,
    APT_CFG_STR,
    APT_CFG_ENUM,
    APT_CFG_ILIST,
    APT_CFG_FLIST
} AptCfgType;

typedef struct {
    double lo, hi;
    bool lo_open, hi_open; // exclusive bounds
} AptCfgRange;

typedef struct {
    AptCfgType type;
    const char *key;  // dotted: "loss.smoothap.include_self"
    size_t off;       // offsetof(AptConfig, field)
    size_t size;      // sizeof the field (string capacity, list capacity in bytes)
    size_t count_off; // lists: offsetof the int count
    const char *def;  // default, as text
    AptCfgRange range;
    const char *allowed; // "a|b|c" or NULL
    const char *help;
} AptCfgKey;

const AptCfgKey *apt_cfg_keys(int *n);
const AptCfgKey *apt_cfg_find(const char *key); // NULL when `key` is not a key
int apt_cfg_index(const AptCfgKey *k);          // position in the table
bool apt_cfg_is_section(const char *path);      // "loss", "loss.pnp", ...: a strict prefix of keys
bool apt_cfg_is_list(const AptCfgKey *k);
const char *apt_cfg_type_name(const AptCfgKey *k); // "int", "number", "bool", ... (help)
const char *apt_cfg_expected(const AptCfgKey *k);  // "a number", "true or false", ... (errors)
// Closest key or section to an unknown dotted path (edit distance, then same last component);
// writes "" when nothing is close.
void apt_cfg_suggest(const char *path, char *out, size_t cap);

// Parse `text` into the scalar key k of cfg. Returns 0, or 1 with a message in err.
int apt_cfg_set_scalar(AptConfig *cfg, const AptCfgKey *k, const char *text, char *err, size_t cap);
// Lists: clear, then append one element at a time (YAML sequences), or parse "[1, 2]" / "1,2" whole.
void apt_cfg_list_clear(AptConfig *cfg, const AptCfgKey *k);
int apt_cfg_list_append(AptConfig *cfg, const AptCfgKey *k, const char *text, char *err, size_t cap);
int apt_cfg_set_list_text(AptConfig *cfg, const AptCfgKey *k, const char *text, char *err, size_t cap);

// The value of k as YAML text that parses back to the same bits (doubles %.17g, floats %.9g, strings
// double-quoted with escapes, lists in flow style).
void apt_cfg_format(const AptConfig *cfg, const AptCfgKey *k, char *out, size_t cap);
// 1 when field k holds the same value in a and b (bit-equal numbers, equal strings, equal lists).
bool apt_cfg_field_equal(const AptConfig *a, const AptConfig *b, const AptCfgKey *k);
