// input_shape.c — see input_shape.h.
#include "data/input_shape.h"

#include "core/check.h"
#include "data/image.h"

void apt_input_shape(int resize, int crop, const AptManifest *m, int *C, int *H, int *W) {
    *C = m->channels;
    if (crop > 0) {
        *H = *W = crop;
        return;
    }
    if (m->height < 1 || m->width < 1)
        apt_user_error(
            "%s: %s storage with images of different sizes: set data.crop (the model's input side)", m->path,
            apt_storage_name(m->storage));
    if (resize > 0) {
        apt_image_short_side(m->height, m->width, resize, H, W);
    } else {
        *H = m->height;
        *W = m->width;
    }
}
