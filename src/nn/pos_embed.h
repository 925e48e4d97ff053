// pos_embed.h — resampling a ViT position embedding to another patch grid, as timm does when a checkpoint
// is loaded at another input size (timm.layers.pos_embed.resample_abs_pos_embed: prefix tokens kept, the
// grid part interpolated with F.interpolate(mode='bicubic', antialias=True, align_corners=False)).
#pragma once

// src: [prefix + gh0*gw0, D] -> dst: [prefix + gh1*gw1, D] (row-major tokens × channels; host memory).
void apt_pos_embed_resample(const float *src, int gh0, int gw0, float *dst, int gh1, int gw1, int D, int prefix);
