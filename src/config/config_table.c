// config_table.c — the key table (built from config_keys.def), defaults, typed parsing with range
// checks, formatting that round-trips bit-exactly, and the did-you-mean search.
#include "config_table.h"

#include "core/check.h"
#include "core/loss_names.h" // APT_LOSS_NAMES_BAR: the allowed list of loss.name
#include "core/arch_names.h" // APT_ARCH_NAMES_BAR: the allowed list of model.arch

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

// ---- the table ----
// clang-format off
#define ANY {-INFINITY, INFINITY, false, false}
#define GE(x) {(x), INFINITY, false, false}
#define GT(x) {(x), INFINITY, true, false}
#define LE(x) {-INFINITY, (x), false, false}
#define IN(a, b) {(a), (b), false, false}
#define IN_CO(a, b) {(a), (b), false, true}
#define APT_FIELD_SIZE(f) sizeof(((AptConfig *)0)->f)

#define APT_KEY(T, KEY, FIELD, COUNT, DEF, RANGE, ALLOWED, HELP)                                             \
    {APT_CFG_##T, KEY, offsetof(AptConfig, FIELD), APT_FIELD_SIZE(FIELD), offsetof(AptConfig, COUNT), DEF,   \
     RANGE, ALLOWED, HELP},
static const AptCfgKey k_keys[] = {
#include "config_keys.def"
};
#undef APT_KEY

// Compile-time check that each row's TYPE matches the C type of its field (a DOUBLE row on an int
// field would otherwise write 8 bytes into 4).
#define APT_CFG_IS_INT(e) _Generic((e), int: 1, default: 0)
#define APT_CFG_IS_U64(e) _Generic((e), uint64_t: 1, default: 0)
#define APT_CFG_IS_DOUBLE(e) _Generic((e), double: 1, default: 0)
#define APT_CFG_IS_BOOL(e) _Generic((e), bool: 1, default: 0)
#define APT_CFG_IS_STR(e) _Generic((e), char *: 1, default: 0)
#define APT_CFG_IS_ENUM(e) (sizeof(e) == sizeof(int))
#define APT_CFG_IS_ILIST(e) _Generic((e), int *: 1, default: 0)
#define APT_CFG_IS_FLIST(e) _Generic((e), float *: 1, default: 0)
#define APT_KEY(T, KEY, FIELD, COUNT, DEF, RANGE, ALLOWED, HELP)                                             \
    _Static_assert(APT_CFG_IS_##T(((AptConfig *)0)->FIELD), "config_keys.def: wrong TYPE for " KEY);        \
    _Static_assert(APT_CFG_IS_INT(((AptConfig *)0)->COUNT) || (APT_CFG_##T != APT_CFG_ILIST &&              \
                                                              APT_CFG_##T != APT_CFG_FLIST),               \
                   "config_keys.def: list count must be an int: " KEY);
#include "config_keys.def"
#undef APT_KEY

// clang-format on

enum { APT_CFG_NKEYS = (int)(sizeof k_keys / sizeof k_keys[0]) };

const AptCfgKey *apt_cfg_keys(int *n) {
    *n = APT_CFG_NKEYS;
    return k_keys;
}

const AptCfgKey *apt_cfg_find(const char *key) {
    for (int i = 0; i < APT_CFG_NKEYS; i++)
        if (!strcmp(k_keys[i].key, key)) return &k_keys[i];
    return NULL;
}

int apt_cfg_index(const AptCfgKey *k) {
    return (int)(k - k_keys);
}

bool apt_cfg_is_section(const char *path) {
    size_t n = strlen(path);
    for (int i = 0; i < APT_CFG_NKEYS; i++)
        if (!strncmp(k_keys[i].key, path, n) && k_keys[i].key[n] == '.') return true;
    return false;
}

bool apt_cfg_is_list(const AptCfgKey *k) {
    return k->type == APT_CFG_ILIST || k->type == APT_CFG_FLIST;
}

const char *apt_cfg_type_name(const AptCfgKey *k) {
    switch (k->type) {
    case APT_CFG_INT:
        return "int";
    case APT_CFG_U64:
        return "uint64";
    case APT_CFG_DOUBLE:
        return "number";
    case APT_CFG_BOOL:
        return "bool";
    case APT_CFG_STR:
        return k->allowed ? "name" : "string";
    case APT_CFG_ENUM:
        return "name";
    case APT_CFG_ILIST:
        return "int list";
    case APT_CFG_FLIST:
        return "list";
    }
    return "?";
}

const char *apt_cfg_expected(const AptCfgKey *k) {
    switch (k->type) {
    case APT_CFG_INT:
        return "an integer";
    case APT_CFG_U64:
        return "a non-negative integer";
    case APT_CFG_DOUBLE:
        return "a number";
    case APT_CFG_BOOL:
        return "true or false";
    case APT_CFG_STR:
        return "a string";
    case APT_CFG_ENUM:
        return "a name";
    case APT_CFG_ILIST:
        return "a list of integers";
    case APT_CFG_FLIST:
        return "a list of numbers";
    }
    return "?";
}

// ---- parsing helpers ----
static void *field_ptr(AptConfig *cfg, const AptCfgKey *k) {
    return (char *)cfg + k->off;
}
static const void *field_cptr(const AptConfig *cfg, const AptCfgKey *k) {
    return (const char *)cfg + k->off;
}
static int *count_ptr(AptConfig *cfg, const AptCfgKey *k) {
    return (int *)((char *)cfg + k->count_off);
}
static int count_of(const AptConfig *cfg, const AptCfgKey *k) {
    return *(const int *)((const char *)cfg + k->count_off);
}

// Copy `text` without surrounding blanks into out (truncated to cap).
static void trim_copy(char *out, size_t cap, const char *text, size_t len) {
    while (len && isspace((unsigned char)*text))
        text++, len--;
    while (len && isspace((unsigned char)text[len - 1]))
        len--;
    if (len >= cap) len = cap - 1;
    memcpy(out, text, len);
    out[len] = 0;
}

// The user's text as it appears in messages: trimmed, shortened, quoted by the caller.
static const char *shown(const char *text, char *buf, size_t cap) {
    size_t n = strlen(text);
    if (n < cap) return text;
    snprintf(buf, cap, "%.*s...", (int)(cap - 4), text);
    return buf;
}

static int type_error(const AptCfgKey *k, const char *text, char *err, size_t cap) {
    char b[80];
    const char *what = k->type == APT_CFG_ILIST   ? "an integer"
                       : k->type == APT_CFG_FLIST ? "a number"
                                                  : apt_cfg_expected(k);
    snprintf(err, cap, "expected %s, got '%s'", what, shown(text, b, sizeof b));
    return 1;
}

static int range_check(const AptCfgRange *r, double v, const char *text, char *err, size_t cap) {
    bool lo_ok = r->lo_open ? v > r->lo : v >= r->lo;
    bool hi_ok = r->hi_open ? v < r->hi : v <= r->hi;
    if (lo_ok && hi_ok) return 0;
    char b[80];
    const char *t = shown(text, b, sizeof b);
    // Name the bound that failed: "must be >= 1, got 0" reads better than the whole interval.
    if (!lo_ok)
        snprintf(err, cap, "must be %s %.17g, got %s", r->lo_open ? ">" : ">=", r->lo, t);
    else
        snprintf(err, cap, "must be %s %.17g, got %s", r->hi_open ? "<" : "<=", r->hi, t);
    return 1;
}

// Integer within [INT_MIN, INT_MAX] and the key's range.
static int parse_int(const AptCfgKey *k, const char *text, int *out, char *err, size_t cap) {
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    double dv = errno == ERANGE ? (v < 0 ? -INFINITY : INFINITY) : (double)v;
    if (end == text || *end) {
        // Integral values in number form are integers too: max_steps: 1e5, epochs: 90.0 (not 12.5).
        double d = strtod(text, &end);
        if (end == text || *end || !isfinite(d) || d != trunc(d)) return type_error(k, text, err, cap);
        dv = d;
        v = fabs(d) < 9e18 ? (long long)d : 0; // out-of-int values fail the range check below
    }
    AptCfgRange r = k->range;
    if (r.lo < INT_MIN) r.lo = INT_MIN, r.lo_open = false;
    if (r.hi > INT_MAX) r.hi = INT_MAX, r.hi_open = false;
    if (range_check(&r, dv, text, err, cap)) return 1;
    *out = (int)v;
    return 0;
}

// Finite double within the key's range; as_float also requires |v| <= FLT_MAX.
static int parse_double(const AptCfgKey *k, const char *text, double *out, bool as_float, char *err,
                        size_t cap) {
    char *end;
    double v = strtod(text, &end);
    if (end == text || *end) return type_error(k, text, err, cap);
    if (!isfinite(v)) {
        snprintf(err, cap, "expected a finite number, got '%s'", text);
        return 1;
    }
    if (as_float && isinf((float)v)) { // the shortest text of FLT_MAX exceeds it as a double: round first
        snprintf(err, cap, "must be within +-%g (float), got %s", (double)FLT_MAX, text);
        return 1;
    }
    if (range_check(&k->range, v, text, err, cap)) return 1;
    *out = v;
    return 0;
}

// Index of `name` in "a|b|c", or -1.
static int allowed_index(const char *allowed, const char *name) {
    size_t n = strlen(name);
    int idx = 0;
    for (const char *p = allowed;; idx++) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && !strncmp(p, name, n)) return idx;
        if (!bar) return -1;
        p = bar + 1;
    }
}

static int allowed_error(const AptCfgKey *k, const char *text, char *err, size_t cap) {
    char list[512], b[80];
    size_t o = 0;
    for (const char *p = k->allowed; *p && o + 3 < sizeof list; p++) {
        if (*p == '|') {
            list[o++] = ',';
            list[o++] = ' ';
        } else {
            list[o++] = *p;
        }
    }
    list[o] = 0;
    snprintf(err, cap, "must be one of %s; got '%s'", list, shown(text, b, sizeof b));
    return 1;
}

// ---- setters ----
int apt_cfg_set_scalar(AptConfig *cfg, const AptCfgKey *k, const char *raw, char *err, size_t cap) {
    APT_CHECK(!apt_cfg_is_list(k), "apt_cfg_set_scalar on list key %s", k->key);
    char text[APT_STR + 64];
    if (k->type == APT_CFG_STR) {
        // Strings are taken verbatim (a path may start or end with blanks); only length is checked.
        size_t n = strlen(raw);
        if (n >= k->size) {
            snprintf(err, cap, "longer than %zu characters", k->size - 1);
            return 1;
        }
        if (k->allowed && allowed_index(k->allowed, raw) < 0) return allowed_error(k, raw, err, cap);
        char *dst = field_ptr(cfg, k);
        memset(dst, 0, k->size); // zero tail: configs compare with memcmp
        memcpy(dst, raw, n);
        return 0;
    }
    trim_copy(text, sizeof text, raw, strlen(raw));
    switch (k->type) {
    case APT_CFG_INT: {
        int v;
        if (parse_int(k, text, &v, err, cap)) return 1;
        *(int *)field_ptr(cfg, k) = v;
        return 0;
    }
    case APT_CFG_U64: {
        char *end;
        errno = 0;
        if (text[0] == '-') return type_error(k, text, err, cap);
        unsigned long long v = strtoull(text, &end, 10);
        if (end == text || *end) return type_error(k, text, err, cap);
        if (errno == ERANGE) {
            snprintf(err, cap, "must be <= %" PRIu64 ", got %s", UINT64_MAX, text);
            return 1;
        }
        *(uint64_t *)field_ptr(cfg, k) = (uint64_t)v;
        return 0;
    }
    case APT_CFG_DOUBLE: {
        double v;
        if (parse_double(k, text, &v, false, err, cap)) return 1;
        *(double *)field_ptr(cfg, k) = v;
        return 0;
    }
    case APT_CFG_BOOL: {
        // YAML 1.1 booleans, as libyaml users write them.
        static const char *yes[] = {"true", "yes", "on"}, *no[] = {"false", "no", "off"};
        for (int i = 0; i < 3; i++) {
            if (!strcasecmp(text, yes[i])) return *(bool *)field_ptr(cfg, k) = true, 0;
            if (!strcasecmp(text, no[i])) return *(bool *)field_ptr(cfg, k) = false, 0;
        }
        return type_error(k, text, err, cap);
    }
    case APT_CFG_ENUM: {
        int idx = allowed_index(k->allowed, text);
        if (idx < 0) return allowed_error(k, text, err, cap);
        *(int *)field_ptr(cfg, k) = idx;
        return 0;
    }
    default:
        break;
    }
    apt_fatal(__FILE__, __LINE__, "unhandled config type for %s", k->key);
}

void apt_cfg_list_clear(AptConfig *cfg, const AptCfgKey *k) {
    memset(field_ptr(cfg, k), 0, k->size);
    *count_ptr(cfg, k) = 0;
}

int apt_cfg_list_append(AptConfig *cfg, const AptCfgKey *k, const char *raw, char *err, size_t cap) {
    int *n = count_ptr(cfg, k);
    size_t elem = k->type == APT_CFG_ILIST ? sizeof(int) : sizeof(float);
    if ((size_t)*n >= k->size / elem) {
        snprintf(err, cap, "at most %zu values", k->size / elem);
        return 1;
    }
    char text[128];
    trim_copy(text, sizeof text, raw, strlen(raw));
    if (k->type == APT_CFG_ILIST) {
        int v;
        if (parse_int(k, text, &v, err, cap)) return 1;
        ((int *)field_ptr(cfg, k))[(*n)++] = v;
    } else {
        double v;
        if (parse_double(k, text, &v, true, err, cap)) return 1;
        ((float *)field_ptr(cfg, k))[(*n)++] = (float)v;
    }
    return 0;
}

int apt_cfg_set_list_text(AptConfig *cfg, const AptCfgKey *k, const char *raw, char *err, size_t cap) {
    char text[2048];
    trim_copy(text, sizeof text, raw, strlen(raw));
    char *p = text;
    size_t len = strlen(p);
    if (len && p[0] == '[') {
        if (p[len - 1] != ']') {
            snprintf(err, cap, "expected %s such as [1, 2], got '%s'", apt_cfg_expected(k), raw);
            return 1;
        }
        p[len - 1] = 0;
        p++;
    }
    apt_cfg_list_clear(cfg, k);
    while (isspace((unsigned char)*p))
        p++;
    if (!*p) return 0; // "[]" or "": empty list
    char msg[256];
    for (int item = 1;; item++) {
        char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        char tok[128];
        trim_copy(tok, sizeof tok, p, n);
        if (apt_cfg_list_append(cfg, k, tok, msg, sizeof msg)) {
            snprintf(err, cap, "item %d: %s", item, msg);
            return 1;
        }
        if (!comma) return 0;
        p = comma + 1;
    }
}

// ---- formatting ----
// Shortest decimal that reads back to the same double (or float): readable and bit-exact.
static void format_double(char *out, size_t cap, double v) {
    if (v == trunc(v) && fabs(v) < 1e15) { // integers without an exponent: 50, not 5e+01
        snprintf(out, cap, "%.0f", v);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, cap, "%.*g", prec, v);
        if (strtod(out, NULL) == v && signbit(strtod(out, NULL)) == signbit(v)) return;
    }
    snprintf(out, cap, "%.17g", v);
}
static void format_float(char *out, size_t cap, float v) {
    if (v == truncf(v) && fabsf(v) < 1e7f) {
        snprintf(out, cap, "%.0f", (double)v);
        return;
    }
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(out, cap, "%.*g", prec, (double)v);
        if ((float)strtod(out, NULL) == v && signbit(strtod(out, NULL)) == signbit(v)) return;
    }
    snprintf(out, cap, "%.9g", (double)v);
}

// YAML double-quoted scalar: only '"', '\' and control characters need escapes; UTF-8 passes through.
static void format_string(char *out, size_t cap, const char *s) {
    size_t o = 0;
    APT_CHECK(cap >= 3, "format buffer too small");
    out[o++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p && o + 6 < cap; p++) {
        if (*p == '"' || *p == '\\') {
            out[o++] = '\\';
            out[o++] = (char)*p;
        } else if (*p == '\n') {
            out[o++] = '\\', out[o++] = 'n';
        } else if (*p == '\t') {
            out[o++] = '\\', out[o++] = 't';
        } else if (*p < 0x20 || *p == 0x7f) {
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", *p);
        } else {
            out[o++] = (char)*p;
        }
    }
    out[o++] = '"';
    out[o] = 0;
}

void apt_cfg_format(const AptConfig *cfg, const AptCfgKey *k, char *out, size_t cap) {
    const void *p = field_cptr(cfg, k);
    switch (k->type) {
    case APT_CFG_INT:
        snprintf(out, cap, "%d", *(const int *)p);
        return;
    case APT_CFG_U64:
        snprintf(out, cap, "%" PRIu64, *(const uint64_t *)p);
        return;
    case APT_CFG_DOUBLE:
        format_double(out, cap, *(const double *)p);
        return;
    case APT_CFG_BOOL:
        snprintf(out, cap, "%s", *(const bool *)p ? "true" : "false");
        return;
    case APT_CFG_STR: // names from an allowed list are plain YAML words; anything else is quoted
        if (k->allowed)
            snprintf(out, cap, "%s", (const char *)p);
        else
            format_string(out, cap, (const char *)p);
        return;
    case APT_CFG_ENUM: {
        int idx = *(const int *)p, i = 0;
        const char *s = k->allowed;
        while (i < idx && (s = strchr(s, '|')))
            s++, i++;
        APT_CHECK(s, "%s holds %d, outside its names %s", k->key, idx, k->allowed);
        size_t len = strcspn(s, "|");
        snprintf(out, cap, "%.*s", (int)len, s);
        return;
    }
    case APT_CFG_ILIST:
    case APT_CFG_FLIST: {
        size_t o = (size_t)snprintf(out, cap, "[");
        for (int i = 0; i < count_of(cfg, k) && o < cap; i++) {
            char v[64];
            if (k->type == APT_CFG_ILIST)
                snprintf(v, sizeof v, "%d", ((const int *)p)[i]);
            else
                format_float(v, sizeof v, ((const float *)p)[i]);
            o += (size_t)snprintf(out + o, cap - o, "%s%s", i ? ", " : "", v);
        }
        if (o < cap) snprintf(out + o, cap - o, "]");
        return;
    }
    }
}

bool apt_cfg_field_equal(const AptConfig *a, const AptConfig *b, const AptCfgKey *k) {
    if (apt_cfg_is_list(k) && count_of(a, k) != count_of(b, k)) return false;
    size_t n = k->type == APT_CFG_ENUM ? sizeof(int) : k->size;
    return memcmp(field_cptr(a, k), field_cptr(b, k), n) == 0;
}

// ---- defaults ----
void apt_config_defaults(AptConfig *cfg) {
    memset(cfg, 0, sizeof *cfg); // padding and string tails zero: whole configs compare with memcmp
    char err[256];
    for (int i = 0; i < APT_CFG_NKEYS; i++) {
        const AptCfgKey *k = &k_keys[i];
        int rc = apt_cfg_is_list(k) ? apt_cfg_set_list_text(cfg, k, k->def, err, sizeof err)
                                    : apt_cfg_set_scalar(cfg, k, k->def, err, sizeof err);
        APT_CHECK(rc == 0, "config_keys.def: bad default '%s' for %s: %s", k->def, k->key, err);
    }
}

// ---- did you mean ----
// Optimal-string-alignment distance (Levenshtein + adjacent transposition): "sede" -> "seed" is 1.
static int edit_distance(const char *a, const char *b) {
    int n = (int)strlen(a), m = (int)strlen(b);
    if (n > 127 || m > 127) return 1 << 20;
    int d[3][128]; // rows i-2, i-1, i (mod 3)
    for (int j = 0; j <= m; j++)
        d[0][j] = j;
    for (int i = 1; i <= n; i++) {
        int *cur = d[i % 3], *prev = d[(i - 1) % 3], *prev2 = d[(i - 2 + 3) % 3];
        cur[0] = i;
        for (int j = 1; j <= m; j++) {
            int cost = a[i - 1] != b[j - 1];
            int v = prev[j] + 1;
            if (cur[j - 1] + 1 < v) v = cur[j - 1] + 1;
            if (prev[j - 1] + cost < v) v = prev[j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && prev2[j - 2] + 1 < v)
                v = prev2[j - 2] + 1;
            cur[j] = v;
        }
    }
    return d[n % 3][m];
}

static const char *last_component(const char *s) {
    const char *dot = strrchr(s, '.');
    return dot ? dot + 1 : s;
}

void apt_cfg_suggest(const char *path, char *out, size_t cap) {
    out[0] = 0;
    // A right name under the wrong section ("optim.tau" -> "loss.tau") beats a two-edit spelling match.
    const char *leaf = last_component(path);
    const char *leaf_match = NULL;
    for (int i = 0; i < APT_CFG_NKEYS && !leaf_match; i++)
        if (!strcmp(last_component(k_keys[i].key), leaf)) leaf_match = k_keys[i].key;
    int len = (int)strlen(path);
    int limit = len / 3 > 1 ? len / 3 : 1;
    if (limit > 3) limit = 3;
    int best = limit + 1;
    // Candidates: every key and every section (each strict dotted prefix of a key).
    for (int i = 0; i < APT_CFG_NKEYS; i++) {
        const char *key = k_keys[i].key;
        for (const char *dot = key;; dot++) {
            if (*dot != '.' && *dot) continue;
            char cand[128];
            snprintf(cand, sizeof cand, "%.*s", (int)(dot - key), key);
            int d = edit_distance(path, cand);
            if (d < best) {
                best = d;
                snprintf(out, cap, "%s", cand);
            }
            if (!*dot) break;
        }
    }
    if (out[0] && best <= 1) return;
    if (leaf_match) {
        snprintf(out, cap, "%s", leaf_match);
        return;
    }
    if (out[0]) return;
    for (int i = 0; i < APT_CFG_NKEYS; i++) {
        const char *kl = last_component(k_keys[i].key);
        if (strlen(leaf) >= 4 && edit_distance(kl, leaf) <= 1) {
            snprintf(out, cap, "%s", k_keys[i].key);
            return;
        }
    }
}
