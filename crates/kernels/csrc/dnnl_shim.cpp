// dnnl_shim.cpp -- oneDNN convolution shim for convlab: 2.x (Debian 12's
// libdnnl-dev 2.6.3) or 3.x (Debian 13's 3.7, PyPI's onednn-cpu-gomp 3.2),
// chosen by DNNL_VERSION_MAJOR.  C ABI declared in dnnl_shim.h.  Build
// (standalone):
//   g++ -O2 -std=c++17 -c dnnl_shim.cpp         (link with -ldnnl)
//   test_shim.cpp checks it against a naive reference on every layout.
//
// 3.x dropped the op descriptors below: its primitive descriptors take the
// same arguments (engine first, attr last, an empty memory::desc for "no
// bias"); everything else here is the same API in both.  On a Zen 4 (NHWC)
// 3.2 picks the same kernel families as 2.6 (brgconv forward, jit
// backward-weights; brgconv instead of jit for backward-data) and was not
// measurably faster (bench_shim at 1 thread beside other work: differences
// within the rounds' spread), so Debian's 2.6 stays the default on Debian 12.
//
// oneDNN API used (v2.x "op descriptor" API, removed in v3.0):
//   dnnl::engine(cpu, 0), dnnl::stream
//   convolution_forward::desc(prop_kind::forward_training,
//       algorithm::convolution_direct, src, weights[, bias], dst,
//       strides, dilates, padding_l, padding_r)      (dilated overload)
//   convolution_backward_data::desc(convolution_direct, diff_src, weights,
//       diff_dst, strides, dilates, padding_l, padding_r)
//   convolution_backward_weights::desc(convolution_direct, src, diff_weights
//       [, diff_bias], diff_dst, strides, dilates, padding_l, padding_r)
//   *::primitive_desc(desc, attr, engine[, hint_fwd_pd]) -- backward pds take
//       a forward_training pd of the same problem as a hint so that both
//       passes agree on blocked layouts.
//   reorder::primitive_desc(engine, md_from, engine, md_to, attr)
//   primitive_attr::set_scratchpad_mode(scratchpad_mode::user)
//
// Layouts.  The caller's weights are plain OIHW (goihw for groups>1, the
// same memory as PyTorch's [OC, IC/G, KH, KW]); its activations are NCHW or
// NHWC, per tensor, as ConvlabConvParams::layout says.  Without
// CONVLAB_DNNL_RUN_NHWC the primitive descriptors are created with
// format_tag::any for src/weights/dst (and their diffs) so that oneDNN picks
// its fastest layout -- usually blocked, nChw8c on AVX2 and nChw16c on
// AVX-512, and OIhw8i8o-like weights; for IC=3 it keeps nchw src.  With it,
// src/dst are nhwc (PyTorch's channels_last path: oneDNN's brgconv / jit
// kernels read and write NHWC directly; measured on a Zen 4, a ResNet-20
// 16->16 32x32 layer takes 8.6 ms for fwd + bwd_d + bwd_w against 13.2 ms
// blocked with NCHW reorders).  When a primitive's layout differs from the
// user's we reorder into / out of per-thread scratch buffers; when it is
// identical the user pointer is handed to oneDNN directly.  Bias / diff-bias
// are always plain `x`.
//
// Padding.  Explicit zero padding, possibly asymmetric: padding_l =
// {pad_top, pad_left}, padding_r = {pad_bottom, pad_right}.  oneDNN requires
//   oh == (ih + pt + pb - ((kh-1)*dil_h + 1)) / stride_h + 1   (same for w)
// which is exactly the validation done in validate() below, so "same"
// padding and ceil-mode (extra bottom/right padding) are both expressible.
// Dilation: caller uses PyTorch's convention (1 = none); oneDNN uses
// dilation-1 (0 = none).
//
// Caching.  Primitive descriptors, primitives and reorder primitives are
// cached in a global std::map keyed by (ConvlabConvParams, kind, has_bias,
// OpenMP thread count), guarded by a mutex (held only for lookup/insert;
// primitives are built outside it).  oneDNN primitives are immutable and
// may be executed concurrently from several threads.
//
// Scratch memory.  Scratchpad mode is `user`: the primitive's scratchpad and
// the reordered (blocked) copies of the tensors live in thread_local,
// 64-byte-aligned, grow-only buffers, so steady-state calls do no large
// allocations and a primitive may be executed from any thread (with the
// default `library` scratchpad mode oneDNN 2.x keeps a global scratchpad and
// documents that primitives must not migrate between threads).  Memory cost:
// per calling thread, about the largest blocked src+weights+dst (+scratch)
// seen so far; convlab_dnnl_clear_cache() frees the calling thread's buffers.
//
// Threading.  Debian's libdnnl2 is built with DNNL_CPU_RUNTIME=OMP (libgomp).
// oneDNN parallelises each call with `#pragma omp parallel` on the calling
// thread, so the thread count is OpenMP's nthreads-var of the *calling
// thread*: OMP_NUM_THREADS at process start, else the number of CPUs.
// omp_set_num_threads() only changes the ICV of the thread that calls it, so
// convlab_dnnl_set_threads(n) stores n globally and every entry point calls
// omp_set_num_threads(n) on its own thread when needed (cheap).  oneDNN also
// bakes the thread count into its JIT blocking at pd-creation time, hence the
// count is part of the cache key.  omp_set_num_threads is looked up with
// dlsym(RTLD_DEFAULT) (libgomp is loaded as a dependency of libdnnl), so no
// -fopenmp / -lgomp is needed when linking.
// Caveats: (1) every distinct OS thread that calls into oneDNN gets its own
// GOMP worker team (n-1 extra threads), so calling from several rayon
// workers at once oversubscribes the cores; call from one thread at a time.
// (2) After a parallel region libgomp workers spin-wait before sleeping
// (OMP_WAIT_POLICY unset: ~300k spins; "active": forever; "passive": sleep
// at once) and steal CPU from rayon on a 2-core machine;
// OMP_WAIT_POLICY=passive (or GOMP_SPINCOUNT) must be set in the environment
// before the process starts (libgomp reads it at load time).  Measured on
// the 2-core dev box (bench_shim --spin): unset -> ~9 ms of CPU burnt after
// every call and a following 2-thread job ran ~2x slower; passive -> 0 ms.
// Debugging: DNNL_VERBOSE=1 prints every primitive creation/execution.

#include "dnnl_shim.h"

#include <dlfcn.h>
#include <dnnl.hpp>
#include <dnnl_debug.h>

#include <array>
#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

static_assert(sizeof(ConvlabConvParams) == 19 * sizeof(int64_t),
        "ConvlabConvParams must be 19 packed int64_t");

namespace {

using namespace dnnl;
using tag = memory::format_tag;
using dt = memory::data_type;

// FWD_RELU: the forward pass with a ReLU post-op (inference: relu(conv + b) in
// one pass over the output).
enum Kind : int { FWD = 0, BWD_DATA = 1, BWD_WEIGHTS = 2, FWD_RELU = 3 };

struct InvalidArg : std::runtime_error {
    using std::runtime_error::runtime_error;
};

[[noreturn]] void bad(const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    throw InvalidArg(buf);
}

// ---- OpenMP thread control ------------------------------------------------
struct Omp {
    void (*set)(int) = nullptr;
    int (*get)() = nullptr;
    Omp() {
        set = reinterpret_cast<void (*)(int)>(
                dlsym(RTLD_DEFAULT, "omp_set_num_threads"));
        get = reinterpret_cast<int (*)()>(
                dlsym(RTLD_DEFAULT, "omp_get_max_threads"));
    }
};
const Omp &omp() {
    static const Omp o;
    return o;
}
std::atomic<int> g_threads {0}; // 0: leave OpenMP's setting alone

// Applies the requested thread count to the calling thread; returns the
// count oneDNN will use.
int apply_threads() {
    const Omp &o = omp();
    int want = g_threads.load(std::memory_order_relaxed);
    if (!o.get) return 1;
    int cur = o.get();
    if (want > 0 && cur != want && o.set) {
        o.set(want);
        cur = want;
    }
    return cur;
}

// ---- validation -------------------------------------------------------------
void validate(const ConvlabConvParams *p) {
    if (!p) bad("params pointer is NULL");
    const int64_t kMax = int64_t(1) << 31;
    struct F { const char *name; int64_t v, lo; };
    const F fields[] = {{"n", p->n, 1}, {"ic", p->ic, 1}, {"ih", p->ih, 1},
            {"iw", p->iw, 1}, {"oc", p->oc, 1}, {"oh", p->oh, 1},
            {"ow", p->ow, 1}, {"kh", p->kh, 1}, {"kw", p->kw, 1},
            {"stride_h", p->stride_h, 1}, {"stride_w", p->stride_w, 1},
            {"pad_top", p->pad_top, 0}, {"pad_left", p->pad_left, 0},
            {"pad_bottom", p->pad_bottom, 0}, {"pad_right", p->pad_right, 0},
            {"dil_h", p->dil_h, 1}, {"dil_w", p->dil_w, 1},
            {"groups", p->groups, 1}};
    for (const F &f : fields) {
        if (f.v < f.lo) bad("%s = %lld must be >= %lld", f.name,
                (long long)f.v, (long long)f.lo);
        if (f.v > kMax) bad("%s = %lld is too large", f.name, (long long)f.v);
    }
    if (p->layout < 0 || p->layout > 7)
        bad("layout = %lld is not a set of CONVLAB_DNNL_*_NHWC bits",
                (long long)p->layout);
    if (p->ic % p->groups)
        bad("ic = %lld is not divisible by groups = %lld", (long long)p->ic,
                (long long)p->groups);
    if (p->oc % p->groups)
        bad("oc = %lld is not divisible by groups = %lld", (long long)p->oc,
                (long long)p->groups);
    const int64_t axes[2][6] = {
            {p->oh, p->ih, p->kh, p->dil_h, p->stride_h, p->pad_top + p->pad_bottom},
            {p->ow, p->iw, p->kw, p->dil_w, p->stride_w, p->pad_left + p->pad_right}};
    for (int i = 0; i < 2; ++i) {
        const char c = "hw"[i];
        const int64_t *a = axes[i]; // out, in, ker, dil, stride, pads
        const int64_t ext = a[3] * (a[2] - 1) + 1, span = a[1] + a[5];
        if (span < ext)
            bad("dilated kernel extent dil_%c*(k%c-1)+1 = %lld exceeds padded "
                "input i%c + pads = %lld", c, c, (long long)ext, c, (long long)span);
        const int64_t expect = (span - ext) / a[4] + 1;
        if (expect != a[0])
            bad("o%c = %lld but floor((i%c + pads - dil_%c*(k%c-1) - 1) / stride_%c) + 1 = %lld",
                    c, (long long)a[0], c, c, c, c, (long long)expect);
    }
    // Element counts must not overflow (oneDNN uses int64 dims).
    const int64_t counts[3][4] = {{p->n, p->ic, p->ih, p->iw},
            {p->n, p->oc, p->oh, p->ow},
            {p->oc, p->ic / p->groups, p->kh, p->kw}};
    for (const auto &c : counts) {
        int64_t prod = 1;
        for (int64_t v : c)
            if (__builtin_mul_overflow(prod, v, &prod) || prod > (int64_t(1) << 50))
                bad("tensor element count overflows");
    }
}

void require(const void *ptr, const char *name) {
    if (!ptr) bad("%s pointer is NULL", name);
}

// ---- scratch buffers -------------------------------------------------------
struct Buf {
    void *p = nullptr;
    size_t cap = 0;
    Buf() = default;
    Buf(const Buf &) = delete;
    Buf &operator=(const Buf &) = delete;
    ~Buf() { std::free(p); }
    void *get(size_t bytes) {
        if (bytes > cap) {
            std::free(p);
            p = nullptr;
            cap = 0;
            size_t c = (bytes + 63) & ~size_t(63);
            p = std::aligned_alloc(64, c);
            if (!p) throw std::bad_alloc();
            cap = c;
        }
        return p;
    }
    void release() { std::free(p); p = nullptr; cap = 0; }
};
constexpr int kArgSlots = 4;
struct Arena { Buf slot[kArgSlots + 1]; }; // + shared scratchpad slot
thread_local Arena t_arena;

// ---- cached primitives ---------------------------------------------------------
struct Arg {
    int id;         // DNNL_ARG_*
    int user_idx;   // index into the pointer array given to run()
    bool output;
    memory::desc user_md, prim_md;
    bool need_reorder = false;
    primitive re;   // user->prim (inputs) or prim->user (outputs)
    memory::desc re_scratch_md;
};
struct Entry {
    primitive prim;
    memory::desc scratch_md;
    size_t scratch_bytes = 0; // max over the conv and its reorders
    std::vector<Arg> args;
    std::string impl;
};

const engine &get_engine() {
    static const engine eng(engine::kind::cpu, 0);
    return eng;
}

std::shared_ptr<Entry> build(const ConvlabConvParams &p, Kind kind,
        bool has_bias) {
    const engine &eng = get_engine();
    const int64_t g = p.groups;
    const memory::dims src = {p.n, p.ic, p.ih, p.iw};
    const memory::dims dst = {p.n, p.oc, p.oh, p.ow};
    const memory::dims bias = {p.oc};
    const memory::dims wei = g == 1
            ? memory::dims {p.oc, p.ic, p.kh, p.kw}
            : memory::dims {g, p.oc / g, p.ic / g, p.kh, p.kw};
    const memory::dims strides = {p.stride_h, p.stride_w};
    const memory::dims dil = {p.dil_h - 1, p.dil_w - 1};
    const memory::dims pad_l = {p.pad_top, p.pad_left};
    const memory::dims pad_r = {p.pad_bottom, p.pad_right};

    // The caller's layouts, and the one the convolution runs on: oneDNN's
    // choice (usually blocked, e.g. nChw16c, reached by reorders) or NHWC.
    const bool run_nhwc = p.layout & CONVLAB_DNNL_RUN_NHWC;
    const memory::desc src_u(src, dt::f32,
            p.layout & CONVLAB_DNNL_X_NHWC ? tag::nhwc : tag::nchw);
    const memory::desc dst_u(dst, dt::f32,
            p.layout & CONVLAB_DNNL_Y_NHWC ? tag::nhwc : tag::nchw);
    const memory::desc wei_u(wei, dt::f32, g == 1 ? tag::oihw : tag::goihw);
    const memory::desc bias_u(bias, dt::f32, tag::x);
    const memory::desc src_a(src, dt::f32, run_nhwc ? tag::nhwc : tag::any);
    const memory::desc dst_a(dst, dt::f32, run_nhwc ? tag::nhwc : tag::any);
    const memory::desc wei_a(wei, dt::f32, tag::any);

    primitive_attr attr;
    attr.set_scratchpad_mode(scratchpad_mode::user);

    // The forward primitive descriptor (also the backward passes' hint).
    // oneDNN 2.x builds it from an op descriptor; 3.x dropped those and takes
    // the same arguments directly (an empty bias desc means no bias).
#if DNNL_VERSION_MAJOR >= 3
    const memory::desc no_bias;
    auto fwd_pd = [&](const primitive_attr &a) {
        return convolution_forward::primitive_desc(eng,
                prop_kind::forward_training, algorithm::convolution_direct,
                src_a, wei_a, has_bias ? bias_u : no_bias, dst_a, strides, dil,
                pad_l, pad_r, a);
    };
#else
    auto fwd_d = has_bias
            ? convolution_forward::desc(prop_kind::forward_training,
                    algorithm::convolution_direct, src_a, wei_a, bias_u, dst_a,
                    strides, dil, pad_l, pad_r)
            : convolution_forward::desc(prop_kind::forward_training,
                    algorithm::convolution_direct, src_a, wei_a, dst_a,
                    strides, dil, pad_l, pad_r);
    auto fwd_pd = [&](const primitive_attr &a) {
        return convolution_forward::primitive_desc(fwd_d, a, eng);
    };
#endif

    auto e = std::make_shared<Entry>();
    auto add = [&](int id, int idx, bool out, const memory::desc &user,
                       const memory::desc &prim) {
        Arg a;
        a.id = id;
        a.user_idx = idx;
        a.output = out;
        a.user_md = user;
        a.prim_md = prim;
        a.need_reorder = !(user == prim);
        if (a.need_reorder) {
            auto rpd = out ? reorder::primitive_desc(eng, prim, eng, user, attr)
                           : reorder::primitive_desc(eng, user, eng, prim, attr);
            a.re = reorder(rpd);
            a.re_scratch_md = rpd.scratchpad_desc();
        }
        e->args.push_back(std::move(a));
    };
    auto finish = [&](const dnnl::primitive_desc &pd) {
        e->scratch_md = pd.scratchpad_desc();
        e->impl = pd.impl_info_str();
    };

    switch (kind) {
        case FWD:
        case FWD_RELU: {
            // A fresh attr: primitive_attr is a handle, and the reorders' attr
            // must stay without post-ops.
            primitive_attr conv_attr;
            conv_attr.set_scratchpad_mode(scratchpad_mode::user);
            if (kind == FWD_RELU) {
                post_ops po;
#if DNNL_VERSION_MAJOR >= 3
                po.append_eltwise(algorithm::eltwise_relu, 0.f, 0.f);
#else
                po.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f);
#endif
                conv_attr.set_post_ops(po);
            }
            convolution_forward::primitive_desc pd = fwd_pd(conv_attr);
            e->prim = convolution_forward(pd);
            add(DNNL_ARG_SRC, 0, false, src_u, pd.src_desc());
            add(DNNL_ARG_WEIGHTS, 1, false, wei_u, pd.weights_desc());
            if (has_bias) add(DNNL_ARG_BIAS, 2, false, bias_u, pd.bias_desc());
            add(DNNL_ARG_DST, 3, true, dst_u, pd.dst_desc());
            finish(pd);
            break;
        }
        case BWD_DATA: {
            auto hint = fwd_pd(primitive_attr());
#if DNNL_VERSION_MAJOR >= 3
            convolution_backward_data::primitive_desc pd(eng,
                    algorithm::convolution_direct, src_a, wei_a, dst_a,
                    strides, dil, pad_l, pad_r, hint, attr);
#else
            convolution_backward_data::desc d(algorithm::convolution_direct,
                    src_a, wei_a, dst_a, strides, dil, pad_l, pad_r);
            convolution_backward_data::primitive_desc pd(d, attr, eng, hint);
#endif
            e->prim = convolution_backward_data(pd);
            add(DNNL_ARG_DIFF_DST, 0, false, dst_u, pd.diff_dst_desc());
            add(DNNL_ARG_WEIGHTS, 1, false, wei_u, pd.weights_desc());
            add(DNNL_ARG_DIFF_SRC, 2, true, src_u, pd.diff_src_desc());
            finish(pd);
            break;
        }
        case BWD_WEIGHTS: {
            auto hint = fwd_pd(primitive_attr());
#if DNNL_VERSION_MAJOR >= 3
            convolution_backward_weights::primitive_desc pd(eng,
                    algorithm::convolution_direct, src_a, wei_a,
                    has_bias ? bias_u : no_bias, dst_a, strides, dil, pad_l,
                    pad_r, hint, attr);
#else
            auto d = has_bias
                    ? convolution_backward_weights::desc(
                            algorithm::convolution_direct, src_a, wei_a, bias_u,
                            dst_a, strides, dil, pad_l, pad_r)
                    : convolution_backward_weights::desc(
                            algorithm::convolution_direct, src_a, wei_a, dst_a,
                            strides, dil, pad_l, pad_r);
            convolution_backward_weights::primitive_desc pd(d, attr, eng, hint);
#endif
            e->prim = convolution_backward_weights(pd);
            add(DNNL_ARG_SRC, 0, false, src_u, pd.src_desc());
            add(DNNL_ARG_DIFF_DST, 1, false, dst_u, pd.diff_dst_desc());
            add(DNNL_ARG_DIFF_WEIGHTS, 2, true, wei_u, pd.diff_weights_desc());
            if (has_bias)
                add(DNNL_ARG_DIFF_BIAS, 3, true, bias_u, pd.diff_bias_desc());
            finish(pd);
            break;
        }
    }
    e->scratch_bytes = e->scratch_md.get_size();
    for (const Arg &a : e->args)
        if (a.need_reorder && a.re_scratch_md.get_size() > e->scratch_bytes)
            e->scratch_bytes = a.re_scratch_md.get_size();
    return e;
}

using Key = std::array<int64_t, 22>;
std::mutex g_mu;
std::map<Key, std::shared_ptr<const Entry>> g_cache;

std::shared_ptr<const Entry> get_entry(const ConvlabConvParams &p, Kind kind,
        bool has_bias, int nthr) {
    Key key {};
    std::memcpy(key.data(), &p, sizeof p);
    key[19] = kind;
    key[20] = has_bias;
    key[21] = nthr;
    {
        std::lock_guard<std::mutex> lk(g_mu);
        auto it = g_cache.find(key);
        if (it != g_cache.end()) return it->second;
    }
    std::shared_ptr<const Entry> e = build(p, kind, has_bias); // unlocked
    std::lock_guard<std::mutex> lk(g_mu);
    return g_cache.emplace(key, std::move(e)).first->second;
}

// ptrs[a.user_idx] is the user pointer of each argument.
void run(const Entry &e, void *const *ptrs) {
    const engine &eng = get_engine();
    stream s(eng);
    Arena &arena = t_arena;
    void *scratch = e.scratch_bytes ? arena.slot[kArgSlots].get(e.scratch_bytes)
                                    : nullptr;
    auto with_scratch = [&](std::unordered_map<int, memory> args,
                                const memory::desc &md) {
        if (md.get_size()) args[DNNL_ARG_SCRATCHPAD] = memory(md, eng, scratch);
        return args;
    };
    std::unordered_map<int, memory> args;
    std::vector<std::pair<const Arg *, std::pair<memory, memory>>> outs;
    for (size_t i = 0; i < e.args.size(); ++i) {
        const Arg &a = e.args[i];
        void *up = ptrs[a.user_idx];
        if (!a.need_reorder) {
            args[a.id] = memory(a.prim_md, eng, up);
            continue;
        }
        memory um(a.user_md, eng, up);
        memory pm(a.prim_md, eng, arena.slot[i].get(a.prim_md.get_size()));
        if (a.output)
            outs.push_back({&a, {pm, um}});
        else
            a.re.execute(s, with_scratch({{DNNL_ARG_FROM, um},
                                  {DNNL_ARG_TO, pm}}, a.re_scratch_md));
        args[a.id] = pm;
    }
    e.prim.execute(s, with_scratch(std::move(args), e.scratch_md));
    for (auto &o : outs)
        o.first->re.execute(s, with_scratch({{DNNL_ARG_FROM, o.second.first},
                                       {DNNL_ARG_TO, o.second.second}},
                                       o.first->re_scratch_md));
    s.wait();
}

void set_err(char *err, size_t len, const char *fn, const char *what,
        const char *msg) {
    if (err && len) snprintf(err, len, "%s: %s: %s", fn, what, msg);
}

// Runs f, converting every exception into a status code + message.
template <class F>
int guarded(char *err, size_t len, const char *fn, F &&f) {
    try {
        if (err && len) err[0] = '\0';
        f();
        return CONVLAB_DNNL_OK;
    } catch (const InvalidArg &e) {
        set_err(err, len, fn, "invalid argument", e.what());
        return CONVLAB_DNNL_EINVAL;
    } catch (const dnnl::error &e) {
        if (err && len)
            snprintf(err, len, "%s: oneDNN error (%s): %s", fn,
                    dnnl_status2str(e.status), e.what());
        return CONVLAB_DNNL_EDNNL;
    } catch (const std::bad_alloc &) {
        set_err(err, len, fn, "out of memory", "std::bad_alloc");
        return CONVLAB_DNNL_EOTHER;
    } catch (const std::exception &e) {
        set_err(err, len, fn, "C++ exception", e.what());
        return CONVLAB_DNNL_EOTHER;
    } catch (...) {
        set_err(err, len, fn, "C++ exception", "unknown");
        return CONVLAB_DNNL_EOTHER;
    }
}

// The forward passes: FWD or FWD_RELU.
int forward(Kind kind, const char *fn, const ConvlabConvParams *p,
        const float *x, const float *w, const float *b, float *y, char *err,
        size_t err_len) {
    return guarded(err, err_len, fn, [&] {
        validate(p);
        require(x, "x");
        require(w, "w");
        require(y, "y");
        auto e = get_entry(*p, kind, b != nullptr, apply_threads());
        void *ptrs[4] = {const_cast<float *>(x), const_cast<float *>(w),
                const_cast<float *>(b), y};
        run(*e, ptrs);
    });
}

} // namespace

extern "C" {

int convlab_dnnl_conv2d_fwd(const ConvlabConvParams *p, const float *x,
        const float *w, const float *b, float *y, char *err, size_t err_len) {
    return forward(FWD, "convlab_dnnl_conv2d_fwd", p, x, w, b, y, err, err_len);
}

int convlab_dnnl_conv2d_fwd_relu(const ConvlabConvParams *p, const float *x,
        const float *w, const float *b, float *y, char *err, size_t err_len) {
    return forward(FWD_RELU, "convlab_dnnl_conv2d_fwd_relu", p, x, w, b, y, err,
            err_len);
}

int convlab_dnnl_conv2d_bwd_data(const ConvlabConvParams *p, const float *dy,
        const float *w, float *dx, char *err, size_t err_len) {
    return guarded(err, err_len, "convlab_dnnl_conv2d_bwd_data", [&] {
        validate(p);
        require(dy, "dy");
        require(w, "w");
        require(dx, "dx");
        auto e = get_entry(*p, BWD_DATA, false, apply_threads());
        void *ptrs[3] = {const_cast<float *>(dy), const_cast<float *>(w), dx};
        run(*e, ptrs);
    });
}

int convlab_dnnl_conv2d_bwd_weights(const ConvlabConvParams *p,
        const float *x, const float *dy, float *dw, float *db, char *err,
        size_t err_len) {
    return guarded(err, err_len, "convlab_dnnl_conv2d_bwd_weights", [&] {
        validate(p);
        require(x, "x");
        require(dy, "dy");
        require(dw, "dw");
        auto e = get_entry(*p, BWD_WEIGHTS, db != nullptr, apply_threads());
        void *ptrs[4] = {const_cast<float *>(x), const_cast<float *>(dy), dw,
                db};
        run(*e, ptrs);
    });
}

int convlab_dnnl_set_threads(int n) {
    g_threads.store(n > 0 ? n : 0, std::memory_order_relaxed);
    if (!omp().set) return CONVLAB_DNNL_EOTHER;
    apply_threads();
    return CONVLAB_DNNL_OK;
}

int convlab_dnnl_get_threads(void) { return apply_threads(); }

void convlab_dnnl_clear_cache(void) {
    {
        std::lock_guard<std::mutex> lk(g_mu);
        g_cache.clear();
    }
    for (Buf &b : t_arena.slot) b.release();
}

size_t convlab_dnnl_cache_size(void) {
    std::lock_guard<std::mutex> lk(g_mu);
    return g_cache.size();
}

const char *convlab_dnnl_version(void) {
    static const std::string s = [] {
        try {
            const dnnl_version_t *v = dnnl_version();
            char buf[128];
            snprintf(buf, sizeof buf, "oneDNN %d.%d.%d (cpu runtime: %s)",
                    v->major, v->minor, v->patch,
                    v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP"
                            : v->cpu_runtime == DNNL_RUNTIME_TBB ? "TBB"
                            : v->cpu_runtime == DNNL_RUNTIME_SEQ ? "sequential"
                                                                 : "other");
            return std::string(buf);
        } catch (...) { return std::string(); }
    }();
    return s.empty() ? "oneDNN (unknown version)" : s.c_str();
}

int convlab_dnnl_impl_name(const ConvlabConvParams *p, int kind, int has_bias,
        char *buf, size_t buf_len) {
    return guarded(buf, buf_len, "convlab_dnnl_impl_name", [&] {
        validate(p);
        if (kind < FWD || kind > FWD_RELU) bad("kind = %d not in 0..3", kind);
        auto e = get_entry(*p, Kind(kind), has_bias != 0 && kind != BWD_DATA,
                apply_threads());
        std::string s = e->impl;
        for (const Arg &a : e->args)
            if (a.need_reorder) s += a.output ? " +reorder_out" : " +reorder_in";
        if (buf && buf_len) snprintf(buf, buf_len, "%s", s.c_str());
    });
}

} // extern "C"
