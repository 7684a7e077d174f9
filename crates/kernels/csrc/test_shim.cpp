// test_shim.cpp -- standalone correctness test of dnnl_shim against a naive
// double-precision reference.
//   g++ -O2 -std=c++17 dnnl_shim.cpp test_shim.cpp -ldnnl -o /tmp/test_shim
//   /tmp/test_shim            (exit status 0 = all passed)
// Metric per output tensor: max|got - ref| / max|ref|, must be <= 1e-5.

#include "dnnl_shim.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

using P = ConvlabConvParams;
using i64 = int64_t;

struct Case {
    i64 n, ic, ih, iw, oc, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, g;
    bool bias;
    const char *note;
};

P make(const Case &c) {
    P p {};
    p.n = c.n; p.ic = c.ic; p.ih = c.ih; p.iw = c.iw; p.oc = c.oc;
    p.kh = c.kh; p.kw = c.kw; p.stride_h = c.sh; p.stride_w = c.sw;
    p.pad_top = c.pt; p.pad_left = c.pl; p.pad_bottom = c.pb; p.pad_right = c.pr;
    p.dil_h = c.dh; p.dil_w = c.dw; p.groups = c.g;
    p.oh = (c.ih + c.pt + c.pb - c.dh * (c.kh - 1) - 1) / c.sh + 1;
    p.ow = (c.iw + c.pl + c.pr - c.dw * (c.kw - 1) - 1) / c.sw + 1;
    return p;
}

// Calls fn(x_index, w_index, y_index) for every
// (output element, kernel tap) pair that reads a non-padding input element.
template <class F> void for_taps(const P &p, F fn) {
    const i64 icg = p.ic / p.groups, ocg = p.oc / p.groups;
    for (i64 n = 0; n < p.n; ++n)
        for (i64 o = 0; o < p.oc; ++o) {
            const i64 g = o / ocg;
            for (i64 oy = 0; oy < p.oh; ++oy)
                for (i64 ox = 0; ox < p.ow; ++ox) {
                    const i64 yi = ((n * p.oc + o) * p.oh + oy) * p.ow + ox;
                    for (i64 c = 0; c < icg; ++c)
                        for (i64 ky = 0; ky < p.kh; ++ky) {
                            const i64 iy = oy * p.stride_h - p.pad_top + ky * p.dil_h;
                            if (iy < 0 || iy >= p.ih) continue;
                            for (i64 kx = 0; kx < p.kw; ++kx) {
                                const i64 ix = ox * p.stride_w - p.pad_left + kx * p.dil_w;
                                if (ix < 0 || ix >= p.iw) continue;
                                const i64 ci = g * icg + c;
                                const i64 xi = ((n * p.ic + ci) * p.ih + iy) * p.iw + ix;
                                const i64 wi = ((o * icg + c) * p.kh + ky) * p.kw + kx;
                                fn(xi, wi, yi);
                            }
                        }
                }
        }
}

double rel_err(const std::vector<float> &got, const std::vector<double> &ref) {
    double md = 0, mr = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
        double d = std::fabs((double)got[i] - ref[i]);
        if (!(d == d)) return INFINITY; // NaN: output not written
        md = std::max(md, d);
        mr = std::max(mr, std::fabs(ref[i]));
    }
    return mr > 0 ? md / mr : md;
}

std::vector<float> rnd(size_t n, std::mt19937 &rng) {
    std::uniform_real_distribution<float> u(-1.f, 1.f);
    std::vector<float> v(n);
    for (float &f : v) f = u(rng);
    return v;
}

const double kTol = 1e-5;
int g_fail = 0;
double g_worst[5] = {0, 0, 0, 0, 0}; // fwd, bwd_data, bwd_weights (dw), db, fwd_relu

void check(const char *what, double e, int slot, const std::string &ctx) {
    g_worst[slot] = std::max(g_worst[slot], e);
    if (!(e <= kTol)) {
        std::printf("  FAIL %s: rel err %.3g  (%s)\n", what, e, ctx.c_str());
        ++g_fail;
    }
}

void expect_ok(int st, const char *err, const std::string &ctx) {
    if (st != 0) {
        std::printf("  FAIL status %d: %s (%s)\n", st, err, ctx.c_str());
        ++g_fail;
    }
}

// [n, c, h, w] <-> [n, h, w, c]
std::vector<float> nhwc(const std::vector<float> &v, i64 n, i64 c, i64 hw,
        bool inverse) {
    std::vector<float> out(v.size());
    for (i64 b = 0; b < n; ++b)
        for (i64 ch = 0; ch < c; ++ch)
            for (i64 i = 0; i < hw; ++i) {
                const i64 nchw = (b * c + ch) * hw + i, hwc = (b * hw + i) * c + ch;
                if (inverse) out[nchw] = v[hwc];
                else out[hwc] = v[nchw];
            }
    return out;
}

// `layout`: the CONVLAB_DNNL_*_NHWC bits the shim is called with; the
// reference is computed on NCHW and the shim's NHWC tensors converted.
void run_case(const Case &c, std::mt19937 &rng, int repeat, i64 layout = 0) {
    P p = make(c);
    p.layout = layout;
    const bool xl = layout & CONVLAB_DNNL_X_NHWC, yl = layout & CONVLAB_DNNL_Y_NHWC;
    const i64 ihw = p.ih * p.iw, ohw = p.oh * p.ow;
    auto in_x = [&](const std::vector<float> &v) { return xl ? nhwc(v, p.n, p.ic, ihw, false) : v; };
    auto in_y = [&](const std::vector<float> &v) { return yl ? nhwc(v, p.n, p.oc, ohw, false) : v; };
    auto out_x = [&](const std::vector<float> &v) { return xl ? nhwc(v, p.n, p.ic, ihw, true) : v; };
    auto out_y = [&](const std::vector<float> &v) { return yl ? nhwc(v, p.n, p.oc, ohw, true) : v; };
    char ctx_buf[256];
    std::snprintf(ctx_buf, sizeof ctx_buf,
            "n%lld ic%lld %lldx%lld oc%lld k%lldx%lld s%lld,%lld pad t%lld l%lld "
            "b%lld r%lld dil%lld g%lld %s -> %lldx%lld layout %lld [%s]",
            (long long)p.n, (long long)p.ic, (long long)p.ih, (long long)p.iw,
            (long long)p.oc, (long long)p.kh, (long long)p.kw,
            (long long)p.stride_h, (long long)p.stride_w, (long long)p.pad_top,
            (long long)p.pad_left, (long long)p.pad_bottom, (long long)p.pad_right,
            (long long)p.dil_h, (long long)p.groups, c.bias ? "bias" : "nobias",
            (long long)p.oh, (long long)p.ow, (long long)layout, c.note);
    const std::string ctx = ctx_buf;
    const size_t nx = p.n * p.ic * p.ih * p.iw, ny = p.n * p.oc * p.oh * p.ow;
    const size_t nw = p.oc * (p.ic / p.groups) * p.kh * p.kw;
    double e[5] = {0, 0, 0, 0, 0};
    for (int r = 0; r < repeat; ++r) { // r > 0: cache hit with new data
        auto x = rnd(nx, rng), w = rnd(nw, rng), b = rnd(p.oc, rng), dy = rnd(ny, rng);
        std::vector<double> ry(ny, 0), rdx(nx, 0), rdw(nw, 0), rdb(p.oc, 0);
        for_taps(p, [&](i64 xi, i64 wi, i64 yi) {
            ry[yi] += (double)x[xi] * w[wi];
            rdx[xi] += (double)dy[yi] * w[wi];
            rdw[wi] += (double)dy[yi] * x[xi];
        });
        const i64 hw = p.oh * p.ow;
        for (size_t i = 0; i < ny; ++i) {
            const i64 o = (i / hw) % p.oc;
            if (c.bias) ry[i] += b[o];
            rdb[o] += dy[i];
        }
        const float nan = NAN; // outputs pre-filled: must be overwritten
        std::vector<float> y(ny, nan), dx(nx, nan), dw(nw, nan), db(p.oc, nan);
        char err[512];
        const std::vector<float> ux = in_x(x), udy = in_y(dy);
        expect_ok(convlab_dnnl_conv2d_fwd(&p, ux.data(), w.data(),
                          c.bias ? b.data() : nullptr, y.data(), err, sizeof err),
                err, ctx);
        expect_ok(convlab_dnnl_conv2d_bwd_data(&p, udy.data(), w.data(), dx.data(),
                          err, sizeof err),
                err, ctx);
        expect_ok(convlab_dnnl_conv2d_bwd_weights(&p, ux.data(), udy.data(),
                          dw.data(), c.bias ? db.data() : nullptr, err, sizeof err),
                err, ctx);
        std::vector<float> yr(ny, nan);
        expect_ok(convlab_dnnl_conv2d_fwd_relu(&p, ux.data(), w.data(),
                          c.bias ? b.data() : nullptr, yr.data(), err, sizeof err),
                err, ctx);
        y = out_y(y);
        yr = out_y(yr);
        std::vector<double> rr(ry);
        for (double &v : rr) v = std::max(v, 0.0);
        e[4] = std::max(e[4], rel_err(yr, rr));
        dx = out_x(dx);
        e[0] = std::max(e[0], rel_err(y, ry));
        e[1] = std::max(e[1], rel_err(dx, rdx));
        e[2] = std::max(e[2], rel_err(dw, rdw));
        if (c.bias) e[3] = std::max(e[3], rel_err(db, rdb));
        else if (!std::isnan(db[0])) { // db must not be touched when NULL
            std::printf("  FAIL db written although NULL was passed\n");
            ++g_fail;
        }
    }
    std::printf("%-86s fwd %.1e  relu %.1e  bwd_d %.1e  bwd_w %.1e  db %.1e\n",
            ctx.c_str(), e[0], e[4], e[1], e[2], e[3]);
    check("fwd", e[0], 0, ctx);
    check("bwd_data", e[1], 1, ctx);
    check("bwd_weights", e[2], 2, ctx);
    check("bwd_bias", e[3], 3, ctx);
    check("fwd_relu", e[4], 4, ctx);
}

void expect_error(const char *name, P p, bool null_x = false) {
    std::vector<float> buf(1 << 16, 0.f); // big enough for all bad cases
    char err[256];
    std::memset(err, 'z', sizeof err);
    int s1 = convlab_dnnl_conv2d_fwd(&p, null_x ? nullptr : buf.data(),
            buf.data(), nullptr, buf.data(), err, sizeof err);
    std::string m1 = err;
    int s2 = convlab_dnnl_conv2d_bwd_data(&p, buf.data(), buf.data(),
            null_x ? nullptr : buf.data(), err, 40); // truncated message
    size_t l2 = std::strlen(err);
    int s3 = convlab_dnnl_conv2d_bwd_weights(&p, null_x ? nullptr : buf.data(),
            buf.data(), buf.data(), nullptr, nullptr, 0); // no err buffer
    bool ok = s1 != 0 && s2 != 0 && s3 != 0 && !m1.empty() && l2 > 0 && l2 < 40;
    std::printf("bad params %-28s -> status %d/%d/%d  \"%s\"  %s\n", name, s1, s2,
            s3, m1.c_str(), ok ? "ok" : "FAIL");
    if (!ok) ++g_fail;
}

} // namespace

int main() {
    std::printf("%s, threads %d\n", convlab_dnnl_version(), convlab_dnnl_get_threads());
    // n ic ih iw oc kh kw sh sw pt pl pb pr dh dw g bias
    const Case cases[] = {
        {1, 3, 7, 9, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, "3x3 same, odd HxW"},
        {3, 4, 7, 9, 6, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, false, "stride 2"},
        {3, 8, 9, 7, 8, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 2, true, "5x5 groups 2"},
        {3, 16, 8, 8, 32, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1, 1, false, "1x1 s2 projection"},
        {1, 6, 7, 9, 5, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, true, "1x1 s1"},
        {1, 4, 5, 6, 4, 1, 1, 1, 1, 2, 1, 2, 1, 1, 1, 1, true, "1x1 with pad 2/1"},
        {1, 3, 15, 13, 8, 7, 7, 2, 2, 3, 3, 3, 3, 1, 1, 1, true, "7x7 s2 p3 stem"},
        {3, 3, 16, 16, 16, 7, 7, 2, 2, 3, 3, 3, 3, 1, 1, 1, false, "7x7 s2 p3 batch 3"},
        {1, 2, 13, 12, 4, 11, 11, 1, 1, 5, 5, 5, 5, 1, 1, 1, true, "11x11 same"},
        {3, 3, 15, 17, 8, 11, 11, 4, 4, 2, 2, 2, 2, 1, 1, 1, false, "11x11 s4 p2 alexnet"},
        {2, 3, 13, 12, 4, 11, 11, 1, 1, 0, 0, 0, 0, 1, 1, 1, true, "11x11 p0"},
        {3, 4, 8, 8, 4, 3, 3, 2, 2, 0, 0, 1, 1, 1, 1, 1, true, "TF same s2 (0|1)"},
        {2, 4, 7, 9, 4, 3, 3, 2, 2, 1, 1, 2, 2, 1, 1, 1, false, "ceil mode (1|2)"},
        {1, 5, 7, 9, 3, 5, 5, 1, 1, 0, 2, 3, 1, 1, 1, 1, true, "asym t0 l2 b3 r1"},
        {1, 4, 6, 7, 4, 4, 4, 1, 1, 1, 1, 2, 2, 1, 1, 1, false, "even k4 same (1|2)"},
        {1, 2, 5, 5, 3, 3, 3, 1, 1, 3, 3, 3, 3, 1, 1, 1, true, "pad 3 >= kernel"},
        {1, 4, 9, 9, 4, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 1, true, "dilation 2"},
        {3, 6, 9, 7, 4, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 2, false, "groups 2 s2 odd"},
        {3, 16, 9, 7, 16, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 1, true, "16ch p0 blocked"},
        {3, 16, 9, 7, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2, true, "16->32 g2 blocked"},
        {2, 16, 16, 16, 32, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, false, "resnet down 16->32"},
        {3, 32, 8, 8, 64, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, true, "32->64 s2"},
        {3, 64, 4, 4, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, false, "64ch 4x4"},
        {2, 24, 7, 7, 40, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 2, true, "24->40 k5 g2"},
        {3, 3, 32, 32, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, false, "resnet stem 3->16"},
    };
    std::mt19937 rng(12345);
    // Every case NCHW with oneDNN's layouts inside (0), NHWC end to end as
    // convlab's channels-last path calls it (7), and the mixed ones.
    for (i64 layout : {0, 7, 3, 4, 1, 6})
        for (const Case &c : cases) run_case(c, rng, layout == 0 ? 2 : 1, layout);
    // Threading: set 1 thread, rerun a case (new cache key), restore 2.
    convlab_dnnl_set_threads(1);
    run_case(cases[19], rng, 1);
    convlab_dnnl_set_threads(2);
    std::printf("cache entries: %zu\n", convlab_dnnl_cache_size());

    // Concurrency: 2 threads hammer the same and different shapes.
    {
        int bad_threads = 0;
        std::vector<std::thread> th;
        for (int t = 0; t < 2; ++t)
            th.emplace_back([&, t] {
                std::mt19937 r(100 + t);
                const P p = make(cases[t == 0 ? 19 : 20]);
                const size_t nx = p.n * p.ic * p.ih * p.iw, ny = p.n * p.oc * p.oh * p.ow;
                auto x = rnd(nx, r), w = rnd(p.oc * (p.ic / p.groups) * p.kh * p.kw, r);
                std::vector<float> y0(ny), y1(ny);
                char err[256];
                convlab_dnnl_set_threads(1);
                if (convlab_dnnl_conv2d_fwd(&p, x.data(), w.data(), nullptr, y0.data(), err, 256))
                    ++bad_threads;
                for (int i = 0; i < 20; ++i) {
                    if (convlab_dnnl_conv2d_fwd(&p, x.data(), w.data(), nullptr, y1.data(), err, 256) ||
                            y0 != y1)
                        ++bad_threads;
                }
            });
        for (auto &t : th) t.join();
        convlab_dnnl_set_threads(2);
        std::printf("concurrent calls from 2 threads: %s\n", bad_threads ? "FAIL" : "ok");
        g_fail += bad_threads;
    }

    // Invalid parameters: must return an error with a message, not crash.
    const P good = make(cases[0]);
    P q;
    q = good; q.oh += 1; expect_error("oh mismatch", q);
    q = good; q.ow = 1; expect_error("ow mismatch", q);
    q = good; q.groups = 2; expect_error("ic % groups != 0", q);
    q = make(cases[2]); q.oc = 9; expect_error("oc % groups != 0", q);
    q = good; q.stride_h = 0; expect_error("stride 0", q);
    q = good; q.pad_left = -1; expect_error("negative pad", q);
    q = good; q.dil_w = 0; expect_error("dilation 0", q);
    q = good; q.n = 0; expect_error("batch 0", q);
    q = good; q.kh = 11; q.pad_top = q.pad_bottom = 0; expect_error("kernel > padded input", q);
    q = good; q.n = int64_t(1) << 40; expect_error("huge dim", q);
    expect_error("null tensor pointer", good, true);
    {
        char err[128] = "";
        int s = convlab_dnnl_conv2d_fwd(nullptr, nullptr, nullptr, nullptr, nullptr, err, 128);
        std::printf("bad params %-28s -> status %d \"%s\" %s\n", "null params", s, err,
                s && *err ? "ok" : "FAIL");
        if (!(s && *err)) ++g_fail;
    }
    std::printf("\nworst rel err: fwd %.2e  bwd_data %.2e  bwd_weights %.2e  bias %.2e"
                "  fwd_relu %.2e  (tol %.0e)\n",
            g_worst[0], g_worst[1], g_worst[2], g_worst[3], g_worst[4], kTol);
    std::printf("%s (%d failures)\n", g_fail ? "FAILED" : "ALL PASSED", g_fail);
    return g_fail ? 1 : 0;
}
