// test_hooks.h — the only place aptrain reads APT_TEST_* environment variables: failures the launch
// tests (tests/launch/test_multinode.sh) provoke in the real binary. Unset, each hook does nothing.
#pragma once

// APT_TEST_STOP_RANK=R: rank R stops itself (SIGSTOP) right after MPI_Init, before any collective, as a
// rank that hangs at start-up would (the start-up watchdog must end the run).
void apt_test_hook_after_init(int rank);
// APT_TEST_DEVICE_ID=ID: a device id for a rank whose backend has none (cpu), so the duplicate-GPU check
// of agree.c runs without a GPU. NULL when unset.
const char *apt_test_hook_device_id(void);
