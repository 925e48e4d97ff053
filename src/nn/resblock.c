// resblock.c — torchvision's BasicBlock (ResNet-18/34) and Bottleneck (ResNet-50/101, stride on the 3×3
// conv, "ResNet v1.5"), forward and backward with the residual add.
//   basic:      y = relu(bn2(conv2(relu(bn1(conv1(x))))) + id(x))
//   bottleneck: y = relu(bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x)))))))) + id(x))
//   id = x, or downsample = conv1×1(stride) → BN when the shape changes.
// The last unit's BN output doubles as the block output (add + ReLU in place), and its dy as the block's dy.
//
// Gradient buffers are shared by liveness (apt_net_dy_route, layers.h), network-wide. A block's backward:
//   relu' in place on OUT (its output gradient, written by the next block's backward); copy to SIDE
//   (downsample); the last unit: BN' OUT -> CONV, conv' CONV -> BN; each inner unit: relu' in place on
//   BN, BN' BN -> CONV, conv' CONV -> BN (the first unit's conv' -> dx); the downsample: BN' SIDE ->
//   CONV, conv' CONV -> scratch, added into dx; without one, OUT (still intact) is added into dx.
// Every step reads one region and writes another whose previous content is dead, and dx is the
// previous block's OUT (the other parity), so CONV, BN, SIDE and two OUT regions serve the whole network:
// the gradient memory is that of one block, not of a pair of blocks with a buffer per role.
#include "resblock.h"

#include <stdio.h>

void apt_resblock_init(AptResBlock *b, AptNet *net, bool bottleneck, int inplanes, int planes, int stride,
                       int H, int W, int parity) {
    b->bottleneck = bottleneck;
    b->n_units = bottleneck ? 3 : 2;
    int out = bottleneck ? 4 * planes : planes;
    b->C_in = inplanes;
    b->HW_in = H * W;
    const int inner[2] = {APT_DY_CONV, APT_DY_BN}, out_unit[2] = {APT_DY_CONV, APT_DY_OUT + parity};
    if (bottleneck) {
        apt_net_dy_route(net, 6, (int[]){inner[0], inner[1], inner[0], inner[1], out_unit[0], out_unit[1]});
        apt_convbn_init(&b->u[0], net, "conv1", "bn1", inplanes, H, W, planes, 1, 1, 0, true);
        apt_convbn_init(&b->u[1], net, "conv2", "bn2", planes, H, W, planes, 3, stride, 1, true);
        int H2 = b->u[1].conv.d.P, W2 = b->u[1].conv.d.Q;
        apt_convbn_init(&b->u[2], net, "conv3", "bn3", planes, H2, W2, out, 1, 1, 0, false);
    } else {
        apt_net_dy_route(net, 4, (int[]){inner[0], inner[1], out_unit[0], out_unit[1]});
        apt_convbn_init(&b->u[0], net, "conv1", "bn1", inplanes, H, W, planes, 3, stride, 1, true);
        int H2 = b->u[0].conv.d.P, W2 = b->u[0].conv.d.Q;
        apt_convbn_init(&b->u[1], net, "conv2", "bn2", planes, H2, W2, out, 3, 1, 1, false);
    }
    AptConvBN *last = &b->u[b->n_units - 1];
    b->C = out;
    b->H = last->conv.d.P;
    b->W = last->conv.d.Q;
    b->has_ds = stride != 1 || inplanes != out;
    if (b->has_ds) {
        apt_net_dy_route(net, 2, (int[]){APT_DY_CONV, APT_DY_SIDE});
        apt_convbn_init(&b->ds, net, "downsample.0", "downsample.1", inplanes, H, W, out, 1, stride, 0,
                        false);
        apt_net_need_scratch(net, (size_t)net->b_max * inplanes * H * W);
    }
}

AptTensor apt_resblock_y(AptResBlock *b) {
    return b->u[b->n_units - 1].bn.y;
}
float *apt_resblock_dy(AptResBlock *b) {
    return b->u[b->n_units - 1].bn.dy;
}

void apt_resblock_forward(AptResBlock *b, AptNet *net, int n, AptTensor x, bool train) {
    AptTensor in = x;
    for (int i = 0; i < b->n_units; i++) {
        apt_convbn_forward(&b->u[i], net, n, in, train);
        in = b->u[i].bn.y;
    }
    AptTensor id = x;
    if (b->has_ds) {
        apt_convbn_forward(&b->ds, net, n, x, train);
        id = b->ds.bn.y;
    }
    AptTensor y = apt_resblock_y(b);
    size_t len = (size_t)n * b->C * b->H * b->W;
    apt_act_add(net, len, y, id, y); // bf16 chain: the sum of two bf16 values, rounded once
    apt_act_relu(net, len, y);
}

void apt_resblock_backward(AptResBlock *b, AptNet *net, int n, AptTensor x, float *dx) {
    AptTensor y = apt_resblock_y(b);
    float *dy = apt_resblock_dy(b);
    size_t len = (size_t)n * b->C * b->H * b->W;
    apt_act_relu_backward(net, len, y, dy); // dy is now the gradient of both branches' sum
    if (b->has_ds) {
        net->be->copy(net->be, b->ds.bn.dy, dy, len * sizeof(float), APT_COPY_D2D);
    }
    // Main branch, last unit first (its ReLU flag is off, so dy is used as is).
    for (int i = b->n_units - 1; i >= 0; i--) {
        AptTensor in = i ? b->u[i - 1].bn.y : x;
        float *din = i ? b->u[i - 1].bn.dy : dx;
        apt_convbn_backward(&b->u[i], net, n, in, din);
    }
    // Identity branch adds into dx (the main branch wrote it).
    size_t len_in = (size_t)n * b->C_in * b->HW_in;
    if (b->has_ds) {
        apt_convbn_backward(&b->ds, net, n, x, dx ? net->scratch : NULL);
        if (dx) net->be->axpy(net->be, len_in, 1.0f, net->scratch, dx);
    } else if (dx) {
        net->be->axpy(net->be, len_in, 1.0f, dy, dx);
    }
}

void apt_resblock_release(AptResBlock *b, AptNet *net) {
    for (int i = 0; i < b->n_units; i++)
        apt_conv_release(&b->u[i].conv, net);
    if (b->has_ds) apt_conv_release(&b->ds.conv, net);
}
