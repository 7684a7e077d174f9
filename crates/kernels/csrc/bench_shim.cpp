// bench_shim.cpp -- times dnnl_shim on the convolutions of ResNet-20 and
// VGG-11-BN (CIFAR-10, batch 128), and measures OpenMP spin-wait side effects.
//   g++ -O2 -std=c++17 dnnl_shim.cpp bench_shim.cpp -ldnnl -o /tmp/bench_shim
//   /tmp/bench_shim [threads=2] [filter-substring]   -- layer table
//   /tmp/bench_shim --spin [threads=2]                -- spin-wait experiment
// Run the spin experiment with OMP_WAIT_POLICY unset / =passive / =active to
// compare (libgomp reads it at startup).  Against another oneDNN (e.g. the
// PyPI onednn-cpu-gomp 3.x wheels): -I<include> -L<lib> -Wl,-rpath,<lib>.
// FLOP count per call (same for all three passes): 2*N*OC*OH*OW*(IC/G)*KH*KW.

#include "dnnl_shim.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

using clk = std::chrono::steady_clock;
double now_ms() {
    return std::chrono::duration<double, std::milli>(
            clk::now().time_since_epoch()).count();
}
double cpu_ms() { // process CPU time (all threads), user + sys
    rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3
            + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-3;
}

struct Layer { const char *name; int64_t n, ic, hw, oc, k, s, pad; };

ConvlabConvParams params(const Layer &l) {
    ConvlabConvParams p {};
    p.n = l.n; p.ic = l.ic; p.ih = p.iw = l.hw; p.oc = l.oc;
    p.kh = p.kw = l.k; p.stride_h = p.stride_w = l.s;
    p.pad_top = p.pad_left = p.pad_bottom = p.pad_right = l.pad;
    p.dil_h = p.dil_w = 1; p.groups = 1;
    p.oh = p.ow = (l.hw + 2 * l.pad - l.k) / l.s + 1;
    // CONVLAB_BENCH_LAYOUT=7: NHWC activations end to end (convlab's
    // channels-last path); unset or 0: NCHW with oneDNN's blocked layouts.
    const char *layout = std::getenv("CONVLAB_BENCH_LAYOUT");
    p.layout = layout ? std::atoi(layout) : 0;
    return p;
}

const Layer kLayers[] = {
    {"r20 conv1 3->16 32x32", 128, 3, 32, 16, 3, 1, 1},
    {"r20 16->16 32x32", 128, 16, 32, 16, 3, 1, 1},
    {"r20 16->32 s2 32->16", 128, 16, 32, 32, 3, 2, 1},
    {"r20 32->32 16x16", 128, 32, 16, 32, 3, 1, 1},
    {"r20 32->64 s2 16->8", 128, 32, 16, 64, 3, 2, 1},
    {"r20 64->64 8x8", 128, 64, 8, 64, 3, 1, 1},
    {"r20 proj 1x1 s2 16->32", 128, 16, 32, 32, 1, 2, 0},
    {"r20 proj 1x1 s2 32->64", 128, 32, 16, 64, 1, 2, 0},
    {"vgg 3->64 32x32", 128, 3, 32, 64, 3, 1, 1},
    {"vgg 64->128 16x16", 128, 64, 16, 128, 3, 1, 1},
    {"vgg 128->256 8x8", 128, 128, 8, 256, 3, 1, 1},
    {"vgg 256->256 8x8", 128, 256, 8, 256, 3, 1, 1},
    {"vgg 256->512 4x4", 128, 256, 4, 512, 3, 1, 1},
    {"vgg 512->512 4x4", 128, 512, 4, 512, 3, 1, 1},
    {"vgg 512->512 2x2", 128, 512, 2, 512, 3, 1, 1},
    {"alex 3->64 32x32", 128, 3, 32, 64, 3, 1, 1},
    {"alex 64->192 16x16", 128, 64, 16, 192, 3, 1, 1},
    {"alex 192->384 8x8", 128, 192, 8, 384, 3, 1, 1},
    {"alex 384->256 8x8", 128, 384, 8, 256, 3, 1, 1},
    {"alex 256->256 8x8", 128, 256, 8, 256, 3, 1, 1},
};

struct Bufs { std::vector<float> x, w, y, dx, dw, dy; };
Bufs alloc(const ConvlabConvParams &p) {
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> u(-1, 1);
    auto r = [&](size_t n) { std::vector<float> v(n); for (auto &f : v) f = u(rng); return v; };
    Bufs b;
    b.x = r(p.n * p.ic * p.ih * p.iw);
    b.w = r(p.oc * p.ic / p.groups * p.kh * p.kw);
    b.dy = r(p.n * p.oc * p.oh * p.ow);
    b.y.resize(b.dy.size()); b.dx.resize(b.x.size()); b.dw.resize(b.w.size());
    return b;
}

void die_on(int st, const char *err) {
    if (st) { std::fprintf(stderr, "error %d: %s\n", st, err); std::exit(1); }
}

// returns {first-call ms, median steady ms}
std::pair<double, double> time_it(const std::function<void()> &f) {
    double t0 = now_ms();
    f();
    double first = now_ms() - t0;
    std::vector<double> ts;
    double total = 0;
    while (ts.size() < 3 || (total < 400 && ts.size() < 30)) {
        t0 = now_ms();
        f();
        ts.push_back(now_ms() - t0);
        total += ts.back();
    }
    std::sort(ts.begin(), ts.end());
    return {first, ts[ts.size() / 2]};
}

void table(int threads, const char *filter) {
    std::printf("%-26s %6s | %8s %6s | %8s %6s | %8s %6s | first-call ms f/d/w\n",
            "layer (batch 128)", "GFLOP", "fwd ms", "GF/s", "bwd_d ms", "GF/s",
            "bwd_w ms", "GF/s");
    double tot[3] = {0, 0, 0}, tot_gf = 0;
    for (const Layer &l : kLayers) {
        if (filter && !std::strstr(l.name, filter)) continue;
        ConvlabConvParams p = params(l);
        Bufs b = alloc(p);
        char err[512];
        const double gf = 2.0 * p.n * p.oc * p.oh * p.ow * (p.ic / p.groups) * p.kh * p.kw * 1e-9;
        auto f = time_it([&] { die_on(convlab_dnnl_conv2d_fwd(&p, b.x.data(), b.w.data(), nullptr, b.y.data(), err, 512), err); });
        auto d = time_it([&] { die_on(convlab_dnnl_conv2d_bwd_data(&p, b.dy.data(), b.w.data(), b.dx.data(), err, 512), err); });
        auto w = time_it([&] { die_on(convlab_dnnl_conv2d_bwd_weights(&p, b.x.data(), b.dy.data(), b.dw.data(), nullptr, err, 512), err); });
        std::printf("%-26s %6.3f | %8.2f %6.1f | %8.2f %6.1f | %8.2f %6.1f | %.0f/%.0f/%.0f\n",
                l.name, gf, f.second, gf / f.second * 1e3, d.second, gf / d.second * 1e3,
                w.second, gf / w.second * 1e3, f.first, d.first, w.first);
        tot[0] += f.second; tot[1] += d.second; tot[2] += w.second; tot_gf += gf;
        char impl[3][160];
        for (int k = 0; k < 3; ++k) convlab_dnnl_impl_name(&p, k, 0, impl[k], 160);
        std::printf("    impl: fwd %s | bwd_d %s | bwd_w %s\n", impl[0], impl[1], impl[2]);
    }
    std::printf("%-26s %6.2f | %8.1f %6.1f | %8.1f %6.1f | %8.1f %6.1f |\n", "TOTAL (each layer once)",
            tot_gf, tot[0], tot_gf / tot[0] * 1e3, tot[1], tot_gf / tot[1] * 1e3, tot[2],
            tot_gf / tot[2] * 1e3);
    (void)threads;
}

// Emulates rayon work after a oneDNN call: 2 fresh threads each scale half of
// a 16M-float buffer (memory bound, ~10 ms).
double rayon_like_job(std::vector<float> &buf) {
    double t0 = now_ms();
    std::thread t[2];
    for (int i = 0; i < 2; ++i)
        t[i] = std::thread([&, i] {
            size_t h = buf.size() / 2;
            for (size_t j = i * h; j < (i + 1) * h; ++j) buf[j] = buf[j] * 0.999f + 0.001f;
        });
    for (auto &th : t) th.join();
    return now_ms() - t0;
}

void spin_experiment() {
    const char *pol = std::getenv("OMP_WAIT_POLICY");
    std::printf("OMP_WAIT_POLICY=%s GOMP_SPINCOUNT=%s\n", pol ? pol : "(unset)",
            std::getenv("GOMP_SPINCOUNT") ? std::getenv("GOMP_SPINCOUNT") : "(unset)");
    ConvlabConvParams p = params(kLayers[1]); // 16->16 32x32, ~0.6 GFLOP
    Bufs b = alloc(p);
    char err[512];
    auto conv = [&] { die_on(convlab_dnnl_conv2d_fwd(&p, b.x.data(), b.w.data(), nullptr, b.y.data(), err, 512), err); };
    std::vector<float> buf(16 << 20, 1.f);
    conv();
    rayon_like_job(buf);
    // (a) CPU burnt by the process while the caller sleeps 50 ms after a call
    double burn = 0;
    for (int i = 0; i < 5; ++i) {
        conv();
        double c0 = cpu_ms();
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        burn += cpu_ms() - c0;
    }
    // (b) 2-thread job right after a conv vs. after an idle gap
    double after = 0, idle = 0, convt = 0;
    const int R = 10;
    for (int i = 0; i < R; ++i) {
        double t0 = now_ms();
        conv();
        convt += now_ms() - t0;
        after += rayon_like_job(buf);
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        idle += rayon_like_job(buf);
    }
    std::printf("  CPU ms burnt during a 50 ms sleep after a conv: %.1f\n", burn / 5);
    std::printf("  conv fwd %.2f ms; 2-thread job right after conv %.2f ms, after idle %.2f ms\n",
            convt / R, after / R, idle / R);
}

} // namespace

int main(int argc, char **argv) {
    bool spin = argc > 1 && !std::strcmp(argv[1], "--spin");
    int ai = spin ? 2 : 1;
    int threads = argc > ai ? std::atoi(argv[ai]) : 2;
    const char *filter = argc > ai + 1 ? argv[ai + 1] : nullptr;
    if (convlab_dnnl_set_threads(threads)) std::fprintf(stderr, "set_threads failed\n");
    std::printf("%s, threads %d\n", convlab_dnnl_version(), convlab_dnnl_get_threads());
    if (spin) spin_experiment();
    else table(threads, filter);
    return 0;
}
