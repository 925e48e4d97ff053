// fuzz_config.c — libFuzzer target for the YAML config loader and the key=value overrides.
// Input: YAML text, optionally followed by NUL-separated override strings ("a.b=value"). Each input is
// loaded over the defaults, overridden, cross-checked, dumped and re-loaded: besides "no crash, no
// sanitizer report, only one-line user errors", a successfully loaded config must survive the dump ->
// load round trip unchanged (the two dumps are the same text).
#include "config/config.h"
#include "fuzz_common.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    apt_set_abort_hook(fuzz_hook);
    size_t yaml_len = 0;
    while (yaml_len < size && data[yaml_len]) yaml_len++;
    const char *path = fuzz_file("config", data, yaml_len);
    static AptConfig cfg, back; // static: the jump back must not meet stale automatic variables
    static char *ov;
    free(ov);
    ov = malloc(size + 1);
    memcpy(ov, data, size);
    ov[size] = 0;
    if (setjmp(g_fuzz_env)) { // a user error: the expected answer to most inputs
        fuzz_close_leaked();
        return 0;
    }
    apt_config_defaults(&cfg);
    apt_config_load(&cfg, path);
    for (size_t i = yaml_len; i < size;) {
        i++; // skip the NUL
        const char *s = ov + i;
        size_t n = strlen(s);
        if (n) apt_config_override(&cfg, s);
        i += n;
    }
    char err[512];
    (void)apt_config_check(&cfg, 2, err, sizeof err);
    char dumped[300];
    snprintf(dumped, sizeof dumped, "%s.dump.yaml", path);
    if (apt_config_dump(&cfg, dumped, "fuzz") != 0) abort();
    apt_config_defaults(&back);
    apt_config_load(&back, dumped);
    static char *a, *b;
    size_t na = 0, nb = 0;
    free(a), free(b);
    FILE *fa = open_memstream(&a, &na), *fb = open_memstream(&b, &nb);
    apt_config_write(&cfg, fa, NULL);
    apt_config_write(&back, fb, NULL);
    fclose(fa), fclose(fb);
    if (na != nb || memcmp(a, b, na) != 0) {
        fprintf(stderr, "fuzz_config: the dumped config does not load back to the same settings (%s)\n", dumped);
        abort();
    }
    return 0;
}
