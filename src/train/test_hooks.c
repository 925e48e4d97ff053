// test_hooks.c — see test_hooks.h.
#include "test_hooks.h"

#include <signal.h>
#include <stdlib.h>

void apt_test_hook_after_init(int rank) {
    const char *e = getenv("APT_TEST_STOP_RANK");
    if (e && e[0] && atoi(e) == rank) raise(SIGSTOP);
}

const char *apt_test_hook_device_id(void) {
    const char *e = getenv("APT_TEST_DEVICE_ID");
    return e && e[0] ? e : NULL;
}
