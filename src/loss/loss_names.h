// loss_names.h — THE list of loss names lives in src/backend/loss_names.h (the kernels of both backends
// derive from it); this header forwards to it for the layers above the backend.
#pragma once
#include "backend/loss_names.h"
