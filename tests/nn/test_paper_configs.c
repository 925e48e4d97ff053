// test_paper_configs.c — the shipped paper-setting configs build their model: ResNet-50 (iNaturalist) or
// SE-ResNet-50 (VGGFace2, the papers' face backbone) with frozen BatchNorm and a 512-d head, at 224×224;
// forward + backward of one image run and give a unit-norm embedding. Parameter counts: torchvision's
// resnet50 without fc has 23,508,032 parameters (25,557,032 in all minus fc's 2,049,000); SE-ResNet-50
// adds per block 2·C²/16 + C/16 + C (two 1×1 FCs with bias), 2,530,992 over the 16 blocks: 26,039,024
// (28,088,024 with a 1000-way fc, Hu et al.'s 28.1M); our head adds fc 2048 -> 512 (1,048,576 + 512).
#include "backend/backend.h"
#include "config/config.h"
#include "core/rng.h"
#include "dist/comm.h"
#include "harness.h"
#include "nn/model.h"

#include <string.h>

int main(void) {
    const char *src = getenv("APT_SOURCE_DIR");
    const char *names[] = {"inaturalist_smoothap.yaml", "inaturalist_pnp.yaml", "inaturalist_recallk.yaml",
                           "vggface2_smoothap.yaml", "vggface2_pnp.yaml"};
    const int n_names = (int)(sizeof names / sizeof names[0]);
    AptBackend *be = apt_backend_create("cpu");
    AptComm *comm = apt_comm_create_self();
    for (int i = 0; i < n_names; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/configs/%s", src ? src : ".", names[i]);
        AptConfig cfg;
        apt_config_defaults(&cfg);
        apt_config_load(&cfg, path);
        apt_config_validate(&cfg, 1);
        const bool face = !strncmp(names[i], "vggface2", 8);
        const char *arch = face ? "senet50" : "resnet50";
        const size_t want_backbone = face ? 26039024 : 23508032;
        TEST_CHECK(!strcmp(cfg.model.arch, arch) && cfg.model.bn == APT_BN_FROZEN && cfg.model.embed_dim == 512 &&
                       cfg.data.crop == 224,
                   "%s: not %s / frozen BN / 512-d / 224 crops", names[i], arch);
        TEST_CHECK(cfg.data.preprocess == (face ? APT_PREPROC_VGGFACE2 : APT_PREPROC_IMAGENET),
                   "%s: data.preprocess", names[i]);
        cfg.model.pretrained[0] = 0; // no weights file offline: random init
        AptModel *m = apt_model_create(&cfg.model, be, comm, 1, 3, cfg.data.crop, cfg.data.crop, cfg.seed);
        AptParamStore *ps = apt_model_params(m);
        size_t backbone = 0, head = 0;
        for (int k = 0; k < ps->n; k++) {
            if (ps->p[k].is_buffer) continue;
            if (ps->p[k].is_head)
                head += ps->p[k].numel;
            else
                backbone += ps->p[k].numel;
        }
        TEST_CHECK(backbone == want_backbone && head == 2048 * 512 + 512, "%s: %zu backbone + %zu head parameters",
                   names[i], backbone, head);
        float *x = malloc(sizeof(float) * 3 * 224 * 224), E[512], dE[512];
        AptRngStream r = apt_rng_stream(1, APT_RNG_TEST, 0, 0, 0);
        for (int k = 0; k < 3 * 224 * 224; k++) x[k] = (float)apt_rng_next_normal(&r);
        for (int k = 0; k < 512; k++) dE[k] = (float)apt_rng_next_normal(&r);
        apt_model_forward(m, x, 1, E, true);
        double nrm = 0;
        for (int k = 0; k < 512; k++) nrm += (double)E[k] * E[k];
        TEST_CHECK(fabs(nrm - 1.0) < 1e-5, "%s: embedding norm^2 %g", names[i], nrm);
        apt_params_zero_grad(ps);
        apt_model_backward(m, dE);
        double g2 = 0;
        for (size_t k = 0; k < ps->numel; k++) g2 += (double)ps->g[k] * ps->g[k];
        TEST_CHECK(g2 > 0 && isfinite(g2), "%s: gradient norm^2 %g", names[i], g2);
        printf("ok   %s: %s frozen BN, %zu + %zu parameters, |E|^2 = %.7f\n", names[i], arch, backbone, head,
               nrm);
        free(x);
        apt_model_destroy(m);
    }
    comm->destroy(comm);
    apt_backend_destroy(be);
    return apt_test_finish("test_paper_configs");
}
