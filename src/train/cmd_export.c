// cmd_export.c — `aptrain export CKPT OUT.safetensors`: the weights and BatchNorm statistics of a
// checkpoint as a safetensors file with torchvision names (F32), e.g. for
//   model = torchvision.models.resnet50(); model.fc = torch.nn.Linear(2048, D)
//   model.load_state_dict(safetensors.torch.load_file(OUT), strict=False)   # only num_batches_tracked missing
// followed by F.normalize(model(x)) for our embeddings. The tensors are taken from the file itself (no model
// is built, so the dataset need not be present): the checkpoint is verified whole first (checksums), and
// the output is written to a temp name and renamed.
#include "trainer.h"

#include "ckpt/checkpoint.h"
#include "ckpt/ckpt_verify.h"
#include "core/check.h"
#include "core/fsutil.h"
#include "h5/h5check.h"
#include "nn/params.h"
#include "nn/safetensors.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    AptParamStore *ps;
    bool buffers;
    const char *file;
} Collect;

static herr_t add_tensor(hid_t group, const char *name, const H5L_info_t *info, void *data) {
    (void)info;
    Collect *c = data;
    hid_t d = H5Dopen2(group, name, H5P_DEFAULT);
    hid_t sp = d >= 0 ? H5Dget_space(d) : -1;
    int nd = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    if (nd < 0 || nd > 4) apt_user_error("export: %s: tensor '%s' has %d dimensions (at most 4)", c->file, name, nd);
    hsize_t dims[4];
    H5Sget_simple_extent_dims(sp, dims, NULL);
    int shape[4];
    for (int i = 0; i < nd; i++) shape[i] = (int)dims[i];
    apt_params_add(c->ps, name, nd, shape, c->buffers);
    H5Sclose(sp);
    H5Dclose(d);
    return 0;
}

int apt_export_cmd(int argc, char **argv) {
    if (argc != 3) apt_exit(APT_EXIT_USAGE, "usage: aptrain export CHECKPOINT.h5 OUT.safetensors");
    const char *ckpt = argv[1], *out = argv[2];
    apt_h5_init();
    char why[512];
    if (apt_ckpt_verify(ckpt, why, sizeof why) != 0) apt_user_error("export: checkpoint %s: %s", ckpt, why);
    AptParamStore ps;
    apt_params_init(&ps);
    hid_t f = H5Fopen(ckpt, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) apt_user_error("export: cannot open %s", ckpt);
    const char *groups[2] = {"params", "buffers"};
    for (int g = 0; g < 2; g++) {
        hid_t gid = H5Gopen2(f, groups[g], H5P_DEFAULT);
        if (gid < 0) apt_user_error("export: %s: group '%s' missing", ckpt, groups[g]);
        Collect c = {&ps, g == 1, ckpt};
        hsize_t idx = 0;
        if (H5Literate(gid, H5_INDEX_NAME, H5_ITER_INC, &idx, add_tensor, &c) < 0)
            apt_user_error("export: %s: group '%s' unreadable", ckpt, groups[g]);
        H5Gclose(gid);
    }
    H5Fclose(f);
    apt_params_finalize(&ps);
    AptCkptMeta meta;
    apt_checkpoint_load(ckpt, &ps, &meta, NULL); // names, shapes and checksums once more, into the store
    char tmp[4096];
    apt_temp_name(tmp, sizeof tmp, out);
    if (apt_safetensors_save(&ps, tmp) != 0 || apt_rename_durable(tmp, out) != 0) {
        int e = errno;
        unlink(tmp);
        apt_user_error("export: cannot write %s: %s", out, e ? strerror(e) : "write failed");
    }
    size_t values = ps.numel;
    printf("export: %d tensors of %s (step %ld) -> %s (%zu parameter values + BatchNorm statistics, F32)\n", ps.n,
           ckpt, meta.step, out, values);
    apt_params_free(&ps);
    return APT_EXIT_OK;
}
