/*
 * dnnl_shim.h -- C ABI around oneDNN (libdnnl 2.6+ or 3.x) 2-D convolution
 * forward / backward-data / backward-weights, for convlab's Rust kernels crate.
 *
 * Tensor conventions (all float32, dense, row-major / C-contiguous, PyTorch
 * layouts):
 *   x, dx  : [N, IC, IH, IW]                 (NCHW; NHWC with `layout`)
 *   w, dw  : [OC, IC/groups, KH, KW]          (OIHW; for groups > 1 this is
 *            the same memory as oneDNN's goihw [G, OC/G, IC/G, KH, KW])
 *   b, db  : [OC]
 *   y, dy  : [N, OC, OH, OW]                 (NCHW; NHWC with `layout`)
 *
 * Padding convention: explicit, possibly asymmetric, zero padding.
 * pad_top/pad_left are added before row/column 0, pad_bottom/pad_right after
 * the last row/column (oneDNN's padding_l / padding_r).  Dilation uses the
 * PyTorch convention: 1 = dense kernel (oneDNN uses dilation-1, converted
 * inside).  The output size must satisfy, exactly,
 *   oh = floor((ih + pad_top + pad_bottom - dil_h*(kh-1) - 1) / stride_h) + 1
 *   ow = floor((iw + pad_left + pad_right - dil_w*(kw-1) - 1) / stride_w) + 1
 *
 * Every function returns 0 on success and a nonzero CONVLAB_DNNL_E* status on
 * failure; on failure a NUL-terminated message is written to err (truncated
 * to err_len bytes; err may be NULL / err_len 0).  No C++ exception escapes.
 * Outputs are overwritten, never accumulated into.
 *
 * All functions are thread-safe.  See dnnl_shim.cpp for threading notes.
 */
#ifndef CONVLAB_DNNL_SHIM_H
#define CONVLAB_DNNL_SHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CONVLAB_DNNL_OK 0
#define CONVLAB_DNNL_EINVAL 1 /* bad parameters / null pointer            */
#define CONVLAB_DNNL_EDNNL 2  /* oneDNN reported an error (dnnl::error)    */
#define CONVLAB_DNNL_EOTHER 3 /* std::bad_alloc or another C++ exception   */

/* 19 x int64_t, no padding: 152 bytes.  Rust: #[repr(C)] struct of i64s in
 * exactly this order. */
typedef struct ConvlabConvParams {
    int64_t n, ic, ih, iw;     /* input  [n, ic, ih, iw]                   */
    int64_t oc, oh, ow;        /* output [n, oc, oh, ow]                   */
    int64_t kh, kw;            /* kernel size                              */
    int64_t stride_h, stride_w;
    int64_t pad_top, pad_left, pad_bottom, pad_right;
    int64_t dil_h, dil_w;      /* 1 = no dilation                          */
    int64_t groups;            /* must divide ic and oc                    */
    /* Memory layouts, a bit set (0 = every tensor NCHW, oneDNN's choice
     * inside: the behaviour before this field existed).
     *   CONVLAB_DNNL_X_NHWC: x / dx are stored NHWC ([n, ih, iw, ic]);
     *   CONVLAB_DNNL_Y_NHWC: y / dy are stored NHWC;
     *   CONVLAB_DNNL_RUN_NHWC: the convolution itself runs on NHWC
     *     activations (PyTorch's channels_last path: no reorders of tensors
     *     already in NHWC, only of the weights). */
    int64_t layout;
} ConvlabConvParams;

#define CONVLAB_DNNL_X_NHWC 1
#define CONVLAB_DNNL_Y_NHWC 2
#define CONVLAB_DNNL_RUN_NHWC 4

/* y = conv(x, w) + b.  b may be NULL (no bias). */
int convlab_dnnl_conv2d_fwd(const ConvlabConvParams *p, const float *x,
        const float *w, const float *b_or_null, float *y, char *err,
        size_t err_len);

/* y = max(conv(x, w) + b, 0) in one pass (ReLU as oneDNN's post-op): the
 * inference path of conv -> batch norm (folded into w and b) -> ReLU. */
int convlab_dnnl_conv2d_fwd_relu(const ConvlabConvParams *p, const float *x,
        const float *w, const float *b_or_null, float *y, char *err,
        size_t err_len);

/* dx = dL/dx given dy = dL/dy. */
int convlab_dnnl_conv2d_bwd_data(const ConvlabConvParams *p, const float *dy,
        const float *w, float *dx, char *err, size_t err_len);

/* dw = dL/dw, and db = sum of dy over (n, oh, ow) when db_or_null != NULL. */
int convlab_dnnl_conv2d_bwd_weights(const ConvlabConvParams *p,
        const float *x, const float *dy, float *dw, float *db_or_null,
        char *err, size_t err_len);

/* Number of OpenMP threads oneDNN uses for calls made after this one, from
 * any thread (each entry point applies it with omp_set_num_threads on the
 * calling thread).  n <= 0: stop forcing a count; threads keep their current
 * OpenMP setting (initially OMP_NUM_THREADS, else the number of CPUs).  Returns 0, or CONVLAB_DNNL_EOTHER if the OpenMP
 * runtime's omp_set_num_threads could not be found. */
int convlab_dnnl_set_threads(int n);
/* Threads a call from the current thread would use now. */
int convlab_dnnl_get_threads(void);

/* Drops all cached primitives and the calling thread's scratch buffers. */
void convlab_dnnl_clear_cache(void);
/* Number of cached primitive entries. */
size_t convlab_dnnl_cache_size(void);

/* Static string, e.g. "oneDNN 2.6.3 (cpu runtime: OpenMP)". */
const char *convlab_dnnl_version(void);

/* Diagnostics: writes the oneDNN implementation name that would be used
 * (e.g. "jit:avx2", "gemm:jit", "ref:any") into buf.  kind: 0 = fwd,
 * 1 = bwd_data, 2 = bwd_weights. */
int convlab_dnnl_impl_name(const ConvlabConvParams *p, int kind,
        int has_bias, char *buf, size_t buf_len);

#ifdef __cplusplus
}
#endif

#endif /* CONVLAB_DNNL_SHIM_H */
