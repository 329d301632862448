// Fused CPU kernels for the paper's encoder (Fig. 2, App. D):
//   Conv(3->6, 3x3, pad 1) -> BN -> ReLU -> Conv(6->K, 3x3, pad 1) -> BN -> sigmoid -> centre of mass (SPEC §1).
//
// Why: oneDNN runs 3- and 6-channel 3x3 convolutions at ~10 GFLOP/s and a plain step allocates (and the OS
// zero-fills) hundreds of MB of temporaries. Here every pass is a direct convolution over one image at a time,
// vectorised over 8 or 16 columns (GCC vector extensions: AVX or AVX-512 on x86, NEON on ARM), with BatchNorm, ReLU, sigmoid and the
// centre of mass folded into the passes, and every buffer owned by a reusable workspace (fast.py).
//
// Determinism: work is split over images (claimed one at a time by the threads); per-image partial sums (double) are
// added in image order, so results do not depend on the number of threads or on which thread took which image.
//
// Layout: activations are NCHW float32. Per-thread scratch holds "padded planes": a plane of H x W values stored
// with one zero row above and below and zero columns around it, row stride S, value (i, j) at
// base + (i + 1) * S + PADL + j. Borders are never written, so they stay zero.
#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

namespace {

// Vector width: 16 lanes where the CPU has AVX-512 (one zmm register), else 8 (AVX ymm, or two NEON registers). The
// build is per CPU kind (-march=native), so the width, and with it the order of the float sums, is fixed per machine;
// -DRPM_VW=8 (fast.py: RPM_ENGINE_LANES=8) builds 8 lanes anyway: the bits of runs made on 8-lane machines.
#if defined(RPM_VW)
constexpr int VW = RPM_VW;
#elif defined(__AVX512F__)
constexpr int VW = 16;
#else
constexpr int VW = 8;
#endif
typedef float vf __attribute__((vector_size(VW * 4)));
typedef int vi __attribute__((vector_size(VW * 4)));

constexpr int PADL = VW;  // left padding (keeps interior rows vector-aligned relative to the row start)
constexpr int HID = 6;    // hidden channels of the encoder (Fig. 2)
constexpr int64_t STAT_ROWS = 8;  // rows whose BatchNorm sums are kept in float before being added in double

inline vf ld(const float* p) { vf v; std::memcpy(&v, p, sizeof(v)); return v; }
inline void st(float* p, vf v) { std::memcpy(p, &v, sizeof(v)); }
inline vf bc(float x) { return vf{} + x; }
// Sum of the lanes as a pairwise tree: ((v0 + v1) + (v2 + v3)) + ((v4 + v5) + (v6 + v7)) for 8 lanes.
inline float hsum(vf v) {
  float t[VW];
  std::memcpy(t, &v, sizeof(v));
  for (int w = VW / 2; w >= 1; w /= 2)
    for (int i = 0; i < w; ++i) t[i] = t[2 * i] + t[2 * i + 1];
  return t[0];
}
inline vf vmax0(vf a) { return a > 0.0f ? a : vf{}; }
// Columns shifted by one from three aligned loads (prev, cur, next): left(prev, cur) = row[j - 1 .. j + VW - 1),
// right(cur, next) = row[j + 1 .. j + VW + 1). One permute each (AVX-512: valignd) instead of a load that straddles
// two cache lines: unaligned loads were half the load traffic of a convolution.
template <int... I>
constexpr vi lane_index(int shift, std::integer_sequence<int, I...>) { return vi{(I + shift)...}; }
inline vf left(vf prev, vf cur) { return __builtin_shuffle(prev, cur, lane_index(VW - 1, std::make_integer_sequence<int, VW>{})); }
inline vf right(vf cur, vf next) { return __builtin_shuffle(cur, next, lane_index(1, std::make_integer_sequence<int, VW>{})); }

// exp(x) for float lanes (Cephes expf: range reduction by ln 2, degree-6 polynomial; ~1 ulp).
inline vf vexp(vf x) {
  x = x < -87.3f ? bc(-87.3f) : x;
  x = x > 88.3f ? bc(88.3f) : x;
  vf t = x * 1.44269504088896341f + 128.5f;           // > 0, so truncation is floor
  vi n = __builtin_convertvector(t, vi) - 128;      // round(x / ln 2)
  vf fn = __builtin_convertvector(n, vf);
  vf r = x - fn * 0.693359375f - fn * -2.12194440e-4f;
  vf p = bc(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  vi bits = (n + 127) << 23;
  vf scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return p * scale;
}
inline vf vsigmoid(vf x) { return 1.0f / (1.0f + vexp(-x)); }

struct Geo {
  int64_t H, W, Wr, S, plane;  // rows, columns, columns rounded up to VW, padded row stride, padded plane size
  Geo(int64_t h, int64_t w) : H(h), W(w), Wr((w + VW - 1) / VW * VW), S(PADL + (w + VW - 1) / VW * VW + VW), plane((h + 2) * S) {}
  float* at(float* base, int64_t c, int64_t i) const { return base + c * plane + (i + 1) * S + PADL; }
  const float* at(const float* base, int64_t c, int64_t i) const { return base + c * plane + (i + 1) * S + PADL; }
};

// Images per parallel task: at least min_task_pixels pixels. A pass over a quick-scale batch (60 images of 64 x 64) is
// well under a millisecond; split over two threads, every pass ends at a barrier that waits for a thread the OS may
// have descheduled, and on a shared machine (load 8-11 on 2 cores) a quick run took 29-53 s at 2 threads against
// 5-6.5 s at 1. So small frames run on one thread (2^18 pixels a task) unless the caller finds idle cores
// (fast.py: the 1-minute load average), when they split too (2^12): 4.7 -> 2.5 ms a quick step on a quiet machine.
// Paper-scale passes (65,536 pixels an image) split either way. The split changes no bits (parallel_images).
std::atomic<int64_t> min_task_pixels{1 << 18};
void set_min_task_pixels(int64_t px) { min_task_pixels = std::max<int64_t>(1, px); }
int64_t grain(const Geo& g) {
  const int64_t px = min_task_pixels.load(std::memory_order_relaxed);
  return std::max<int64_t>(1, (px + g.H * g.W - 1) / (g.H * g.W));
}

// Calls f(b, b + 1) for every image b, the images claimed one at a time from a shared counter by each thread (or
// f(0, B) on one thread). On a shared machine the OS deschedules threads: with a fixed split every pass waited for
// the slower thread's half of the batch; now a descheduled thread delays a pass by at most the image it holds. Each
// image's results go to its own slots and are added in image order afterwards, so the split changes no bits.
template <typename F>
void parallel_images(int64_t B, int64_t grain, const F& f) {
  const int64_t tasks = std::min<int64_t>(at::get_num_threads(), (B + grain - 1) / grain);
  if (tasks <= 1) {
    f(0, B);
    return;
  }
  std::atomic<int64_t> next{0};
  at::parallel_for(0, tasks, 1, [&](int64_t, int64_t) {
    for (int64_t b = next.fetch_add(1); b < B; b = next.fetch_add(1)) f(b, b + 1);
  });
}

// Per-thread scratch: region A and region B of HID padded planes each, HID rows of Wr floats, one H x W map, then
// 3 planes of x, HID planes of dL/dy1 and HID planes of yhat1 (the backward pass), and HID rows of y1.
int64_t scratch_floats(const Geo& g) {
  return 2 * HID * g.plane + HID * g.Wr + g.H * g.W + (3 + 2 * HID) * g.plane + HID * g.Wr;
}
// Where the regions after A and B start, in one thread's scratch.
struct Scratch {
  float *A, *Bp, *rows, *map, *XP, *GP, *PP, *rows1;
  Scratch(float* base, const Geo& g)
      : A(base), Bp(A + HID * g.plane), rows(Bp + HID * g.plane), map(rows + HID * g.Wr), XP(map + g.H * g.W),
        GP(XP + 3 * g.plane), PP(GP + HID * g.plane), rows1(PP + HID * g.plane) {}
};

// Sum and sum of squares of the first W values of a row (float within the row).
inline void row_moments(const float* r, int64_t W, double& s, double& ss) {
  vf a{}, b{};
  int64_t j = 0;
  for (; j + VW <= W; j += VW) {
    const vf v = ld(r + j);
    a += v;
    b += v * v;
  }
  float ts = hsum(a), tss = hsum(b);
  for (; j < W; ++j) {
    ts += r[j];
    tss += r[j] * r[j];
  }
  s += ts;
  ss += tss;
}

// NB vectors of one output row of a 3x3 convolution from column jb: NB * NO accumulators, each term one fused
// multiply-add into its accumulator (taken in the order c, di, dj), so enough independent chains keep both FMA pipes
// busy (NB * NO >= 12). Each input row is read as NB + 2 aligned vectors, held in registers for all NO outputs.
template <int NO, int NB>
inline void conv_cols(const float* in, int cin, const Geo& g, int64_t i, const float* w, const float* bias, float* out,
                      int64_t ostride, vf* mom, int64_t jb) {
  vf acc[NB][NO];
  for (int o = 0; o < NO; ++o) {
    const vf b0 = bc(bias ? bias[o] : 0.0f);
    for (int n = 0; n < NB; ++n) acc[n][o] = b0;
  }
  for (int c = 0; c < cin; ++c) {
    for (int di = 0; di < 3; ++di) {
      const float* r = g.at(in, c, i + di - 1) + jb;
      const float* wc = w + (c * 3 + di) * 3;
      vf v[NB + 2];
      for (int n = 0; n < NB + 2; ++n) v[n] = ld(r + (n - 1) * VW);
      vf x[3][NB];
      for (int n = 0; n < NB; ++n) {
        x[0][n] = left(v[n], v[n + 1]);
        x[1][n] = v[n + 1];
        x[2][n] = right(v[n + 1], v[n + 2]);
      }
      for (int dj = 0; dj < 3; ++dj)
        for (int o = 0; o < NO; ++o) {
          const vf wv = bc(wc[o * cin * 9 + dj]);
          for (int n = 0; n < NB; ++n) acc[n][o] += wv * x[dj][n];
        }
    }
  }
  for (int n = 0; n < NB; ++n)
    for (int o = 0; o < NO; ++o) {
      st(out + o * ostride + jb + n * VW, acc[n][o]);
      if (mom) {
        mom[o] += acc[n][o];
        mom[NO + o] += acc[n][o] * acc[n][o];
      }
    }
}

// One output row of a 3x3 convolution with padding 1: out[o * ostride + j] = bias[o] + sum_{c,di,dj} w[o][c][di][dj] *
// in[c][i + di - 1][j + dj - 1] for j < Wr; `in` holds `cin` padded planes. Columns >= W of `out` are junk. With
// `mom` (only when W == Wr: no junk), the row's values and squares are also added, per lane, to mom[o], mom[NO + o].
template <int NO>
void conv_row(const float* in, int cin, const Geo& g, int64_t i, const float* w, const float* bias, float* out,
              int64_t ostride, vf* mom = nullptr) {
  constexpr int NB = NO >= 6 ? 2 : NO >= 3 ? 4 : 8;  // 12-24 accumulator chains, within the 32 vector registers
  int64_t jb = 0;
  for (; jb + NB * VW <= g.Wr; jb += NB * VW) conv_cols<NO, NB>(in, cin, g, i, w, bias, out, ostride, mom, jb);
  for (; jb < g.Wr; jb += VW) conv_cols<NO, 1>(in, cin, g, i, w, bias, out, ostride, mom, jb);
}

// Rows i0..i1 of a convolution into `NO` channels of an (NO, H, W) image `y`, adding each channel's sum and sum of
// squares to s[o], ss[o]: float within a band of rows, double across bands (the BatchNorm statistics). Written in
// place from the registers when W is a whole number of vectors, else through `rows` (Wr floats a channel).
template <int NO>
void conv_rows_stats(const float* in, int cin, const Geo& g, int64_t i0, int64_t i1, const float* w, const float* bias,
                     float* y, float* rows, double* s, double* ss) {
  const int64_t HW = g.H * g.W;
  if (g.W != g.Wr) {
    for (int64_t i = i0; i < i1; ++i) {
      conv_row<NO>(in, cin, g, i, w, bias, rows, g.Wr);
      for (int o = 0; o < NO; ++o) {
        if (y) std::memcpy(y + o * HW + i * g.W, rows + o * g.Wr, g.W * sizeof(float));
        row_moments(rows + o * g.Wr, g.W, s[o], ss[o]);
      }
    }
    return;
  }
  vf mom[2 * NO];
  for (int v = 0; v < 2 * NO; ++v) mom[v] = vf{};
  for (int64_t i = i0; i < i1; ++i)  // y null: the statistics only (the rows land in `rows`)
    conv_row<NO>(in, cin, g, i, w, bias, y ? y + i * g.W : rows, y ? HW : g.Wr, mom);
  for (int o = 0; o < NO; ++o) {
    s[o] += hsum(mom[o]);
    ss[o] += hsum(mom[NO + o]);
  }
}

// Weight gradient of a 3x3 convolution, for NG <= 3 output channels at once (registers: 3 NG accumulators):
// vacc[o][c][di][dj] += sum_{i,j} dy[o][i][j] * x[c][i + di - 1][j + dj - 1]; dy and x are padded planes
// (dy is zero in columns >= W). Rows are taken in tiles that stay in L2.
template <int NG>
void wgrad(const float* dy, const float* x, int cin, const Geo& g, vf* vacc, int64_t r0, int64_t r1) {
  constexpr int64_t TILE = 16;
  for (int64_t i0 = r0; i0 < r1; i0 += TILE) {
    const int64_t i1 = std::min(r1, i0 + TILE);
    for (int c = 0; c < cin; ++c) {
      for (int di = 0; di < 3; ++di) {
        vf acc[NG][3];
        for (int o = 0; o < NG; ++o) acc[o][0] = acc[o][1] = acc[o][2] = vf{};
        for (int64_t i = i0; i < i1; ++i) {
          const float* xr = g.at(x, c, i + di - 1);
          const float* d[NG];
          for (int o = 0; o < NG; ++o) d[o] = g.at(dy, o, i);
          vf prev = ld(xr - VW), cur = ld(xr);  // aligned loads, shifted by permutes (left, right)
          for (int64_t jb = 0; jb < g.Wr; jb += VW) {
            const vf next = ld(xr + jb + VW);
            const vf x0 = left(prev, cur), x1 = cur, x2 = right(cur, next);
            for (int o = 0; o < NG; ++o) {
              const vf dv = ld(d[o] + jb);
              acc[o][0] += dv * x0;
              acc[o][1] += dv * x1;
              acc[o][2] += dv * x2;
            }
            prev = cur;
            cur = next;
          }
        }
        for (int o = 0; o < NG; ++o)
          for (int dj = 0; dj < 3; ++dj) vacc[((o * cin + c) * 3 + di) * 3 + dj] += acc[o][dj];
      }
    }
  }
}

// Weight gradient for `no` output channels (groups of at most 3), summed into dw (double, [no][cin][3][3]).
// Rows [r0, r1) of the weight gradient for `no` output channels (groups of at most 3), added to vacc (float lanes,
// [no][cin][3][3]); x's rows r0 - 1 .. r1 must be in place.
void wgrad_rows(const float* dy, const float* x, int no, int cin, const Geo& g, vf* vacc, int64_t r0, int64_t r1) {
  for (int o0 = 0; o0 < no; o0 += 3) {
    const int ng = std::min(3, no - o0);
    const float* d = dy + o0 * g.plane;
    vf* va = vacc + static_cast<size_t>(o0) * cin * 9;
    if (ng == 3) wgrad<3>(d, x, cin, g, va, r0, r1);
    else if (ng == 2) wgrad<2>(d, x, cin, g, va, r0, r1);
    else wgrad<1>(d, x, cin, g, va, r0, r1);
  }
}

// Weight gradient for `no` output channels over the whole image, summed into dw (double, [no][cin][3][3]).
void wgrad_all(const float* dy, const float* x, int no, int cin, const Geo& g, double* dw) {
  std::vector<vf> vacc(static_cast<size_t>(no) * cin * 9, vf{});
  wgrad_rows(dy, x, no, cin, g, vacc.data(), 0, g.H);
  for (size_t k = 0; k < vacc.size(); ++k) dw[k] += hsum(vacc[k]);
}

// Sums of a 3x3 window's taps over an image, per channel: win[c][di][dj] = sum_{i,j} x[c][i + di - 1][j + dj - 1]
// with zero padding (the weight gradient of a constant output gradient), by inclusion and exclusion of the border
// rows and columns a shifted window leaves out.
void window_sums(const float* x, int cin, const Geo& g, double* win) {
  for (int c = 0; c < cin; ++c) {
    double total = 0, row[2] = {0, 0}, col[2] = {0, 0};
    for (int64_t i = 0; i < g.H; ++i) {
      const float* r = g.at(x, c, i);
      vf acc{};
      int64_t j = 0;
      for (; j + VW <= g.W; j += VW) acc += ld(r + j);
      double t = hsum(acc);
      for (; j < g.W; ++j) t += r[j];
      total += t;
      if (i == 0) row[0] = t;
      if (i == g.H - 1) row[1] = t;
      col[0] += r[0];
      col[1] += r[g.W - 1];
    }
    const double corner[2][2] = {{g.at(x, c, 0)[0], g.at(x, c, 0)[g.W - 1]},
                                 {g.at(x, c, g.H - 1)[0], g.at(x, c, g.H - 1)[g.W - 1]}};
    for (int di = 0; di < 3; ++di)
      for (int dj = 0; dj < 3; ++dj) {
        // di = 0 reads rows -1 .. H - 2: the last row is left out; di = 2 leaves out the first (likewise columns).
        const int lr = di == 0 ? 1 : di == 2 ? 0 : -1, lc = dj == 0 ? 1 : dj == 2 ? 0 : -1;
        double v = total;
        if (lr >= 0) v -= row[lr];
        if (lc >= 0) v -= col[lc];
        if (lr >= 0 && lc >= 0) v += corner[lr][lc];
        win[(c * 3 + di) * 3 + dj] = v;
      }
  }
}

template <typename F>
void dispatch_k(int k, F&& f) {
  switch (k) {
    case 1: f(std::integral_constant<int, 1>{}); break;
    case 2: f(std::integral_constant<int, 2>{}); break;
    case 3: f(std::integral_constant<int, 3>{}); break;
    case 4: f(std::integral_constant<int, 4>{}); break;
    case 5: f(std::integral_constant<int, 5>{}); break;
    case 6: f(std::integral_constant<int, 6>{}); break;
    default: TORCH_CHECK(false, "fused encoder supports 1 to 6 output maps, got ", k);
  }
}

// (H, W, 3) uint8 frame -> 3 padded planes of value / 255, exactly the eager `.float().div_(255)`: q = v * (1/255)
// refined once, q += (v - 255 q) / 255 with fused multiply-adds, equals v / 255 for every byte value v (tested; a
// division a vector cost more than the rest of the load). VW pixels at a time: their 3 VW interleaved bytes are
// split into channels by one two-source byte permute each (AVX-512 VBMI: vpermt2b), which puts channel c's byte of
// pixel l in the low byte of 32-bit lane l and zeros above it: the lanes are then the integers, converted at once.
typedef uint8_t vb __attribute__((vector_size(4 * VW)));
template <int... I>
constexpr vb every_third(int c, std::integer_sequence<int, I...>) {
  return vb{static_cast<uint8_t>(I % 4 == 0 ? c + 3 * (I / 4) : 4 * VW)...};  // 4 VW: a byte of the zero vector
}
void load_frame(const uint8_t* src, const Geo& g, float* dst) {
  constexpr auto seq = std::make_integer_sequence<int, 4 * VW>{};
  static constexpr vb pick[3] = {every_third(0, seq), every_third(1, seq), every_third(2, seq)};
  const vf inv = bc(1.0f / 255.0f), v255 = bc(255.0f);
  const int64_t bytes = g.H * g.W * 3;
  for (int64_t i = 0; i < g.H; ++i) {
    const uint8_t* s = src + i * g.W * 3;
    float* r[3] = {g.at(dst, 0, i), g.at(dst, 1, i), g.at(dst, 2, i)};
    int64_t j = 0;
    for (; j + VW <= g.W; j += VW) {
      vb raw{};
      if ((i * g.W + j) * 3 + static_cast<int64_t>(sizeof(vb)) <= bytes)
        std::memcpy(&raw, s + 3 * j, sizeof(vb));  // one vector load (its last VW bytes unused)
      else
        std::memcpy(&raw, s + 3 * j, 3 * VW);  // the frame's last pixels: read no further than the frame
      for (int c = 0; c < 3; ++c) {
        const vb ch = __builtin_shuffle(raw, vb{}, pick[c]);
        vi n;
        std::memcpy(&n, &ch, sizeof(n));  // little-endian: lane l = the byte
        const vf v = __builtin_convertvector(n, vf);
        const vf q = v * inv;
        st(r[c] + j, q + (v - q * v255) * inv);  // both products fused (exact residual)
      }
    }
    for (; j < g.W; ++j)
      for (int c = 0; c < 3; ++c) r[c][j] = static_cast<float>(s[3 * j + c]) / 255.0f;
  }
}

// Row i of h = relu(y1 * scale + shift) into HID padded planes, from y1's row i (channel c at y1 + c * cstride).
// Made row by row just before it is used, so the planes (1.8 MB a paper-scale image, more than L2) are read back
// from cache, not memory.
void make_h_row(const float* y1, int64_t cstride, const float* scale, const float* shift, const Geo& g, float* h,
                int64_t i) {
  for (int c = 0; c < HID; ++c) {
    const vf a = bc(scale[c]), b = bc(shift[c]);
    const float* s = y1 + c * cstride;
    float* d = g.at(h, c, i);
    int64_t j = 0;
    for (; j + VW <= g.W; j += VW) st(d + j, vmax0(ld(s + j) * a + b));
    for (; j < g.W; ++j) d[j] = std::max(s[j] * scale[c] + shift[c], 0.0f);
  }
}

struct Tensors {
  const uint8_t* frames;
  const int64_t* idx;
  int64_t frame_stride;
};

Tensors frames_of(const torch::Tensor& frames, const torch::Tensor& idx, const Geo& g) {
  TORCH_CHECK(frames.device().is_cpu() && frames.scalar_type() == torch::kUInt8 && frames.is_contiguous() &&
                  frames.dim() == 4 && frames.size(3) == 3,
              "frames must be a contiguous CPU uint8 tensor (T, H, W, 3)");
  TORCH_CHECK(idx.device().is_cpu() && idx.scalar_type() == torch::kLong && idx.is_contiguous() && idx.dim() == 1,
              "idx must be a contiguous CPU int64 vector");
  TORCH_CHECK(frames.size(1) == g.H && frames.size(2) == g.W, "frame size mismatch");
  const int64_t T = frames.size(0);
  const int64_t* p = idx.data_ptr<int64_t>();
  for (int64_t b = 0; b < idx.size(0); ++b) TORCH_CHECK(p[b] >= 0 && p[b] < T, "frame index out of range");
  return {frames.data_ptr<uint8_t>(), p, g.H * g.W * 3};
}

float* scratch_of(torch::Tensor& scratch, const Geo& g) {
  TORCH_CHECK(scratch.scalar_type() == torch::kFloat && scratch.is_contiguous() &&
                  scratch.numel() >= at::get_num_threads() * scratch_floats(g),
              "scratch workspace too small");
  return scratch.data_ptr<float>();
}

std::vector<float> to_vec(const torch::Tensor& t) {
  auto c = t.detach().to(torch::kFloat).contiguous().cpu();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

// Centre of mass of sigmoid(y2 * scale + shift) for one image: com[k] = (mass, sum s x, sum s y), double. With
// `mom` (training), also the moments the backward pass needs of q = s (1 - s) and yhat = (y2 - mu) * is:
// mom[k] = (sum q, sum q x, sum q y, sum q yhat, sum q yhat x, sum q yhat y). The gradient w.r.t. the BN2 output is
// g = (gzx (x - zx) + gzy (y - zy)) / mass * q, linear in these, so its sums over the map (the BatchNorm backward's
// statistics) follow from them once gz is known, without another pass over the maps (sums_of_g).
template <int K>
void com_image(const float* y2, const float* scale, const float* shift, const Geo& g, double* com,
               const float* mu = nullptr, const float* is = nullptr, double* mom = nullptr) {
  vf xs0;
  for (int l = 0; l < VW; ++l) xs0[l] = l + 0.5f;
  for (int k = 0; k < K; ++k) {
    const vf a = bc(scale[k]), b = bc(shift[k]);
    const vf vmu = bc(mu ? mu[k] : 0.0f), vis = bc(is ? is[k] : 0.0f);
    double t[9] = {};  // sums of s, s x, s y, q, q x, q y, p, p x, p y (p = q yhat): double across bands of rows
    for (int64_t i0 = 0; i0 < g.H; i0 += STAT_ROWS) {
      vf v[9];  // the same sums, float within the band
      for (int u = 0; u < 9; ++u) v[u] = vf{};
      for (int64_t i = i0; i < std::min(g.H, i0 + STAT_ROWS); ++i) {
        const float* r = y2 + (k * g.H + i) * g.W;
        const float yc = static_cast<float>(i) + 0.5f;
        int64_t j = 0;
        for (; j + VW <= g.W; j += VW) {
          const vf y = ld(r + j);
          const vf s = vsigmoid(y * a + b);
          const vf xv = xs0 + static_cast<float>(j);
          v[0] += s;
          v[1] += s * xv;
          v[2] += s * yc;
          if (mom) {
            const vf qv = s * (1.0f - s), pv = qv * ((y - vmu) * vis);
            v[3] += qv;
            v[4] += qv * xv;
            v[5] += qv * yc;
            v[6] += pv;
            v[7] += pv * xv;
            v[8] += pv * yc;
          }
        }
        for (; j < g.W; ++j) {
          const float s = 1.0f / (1.0f + std::exp(-(r[j] * scale[k] + shift[k])));
          const float x = j + 0.5f;
          t[0] += s, t[1] += s * x, t[2] += s * yc;
          if (mom) {
            const float qv = s * (1.0f - s), pv = qv * ((r[j] - mu[k]) * is[k]);
            t[3] += qv, t[4] += qv * x, t[5] += qv * yc, t[6] += pv, t[7] += pv * x, t[8] += pv * yc;
          }
        }
      }
      for (int u = 0; u < (mom ? 9 : 3); ++u) t[u] += hsum(v[u]);
    }
    com[3 * k] = t[0];
    com[3 * k + 1] = t[1];
    com[3 * k + 2] = t[2];
    if (mom)
      for (int u = 0; u < 6; ++u) mom[6 * k + u] = t[3 + u];
  }
}

// Sums over one map of g = dL/d(BN2 output) and of g * yhat, from com_image's moments: with bx = gzx / m and
// c(y) = (-gzx zx + gzy (y - zy)) / m, g = (bx x + c(y)) q, so sum g = bx sum q x + c-terms of sum q and sum q y.
inline void sums_of_g(const double* cb, const double* mom, double gzx, double gzy, double& tg, double& tgy) {
  const double m = std::max(cb[0], 1e-12), zx = cb[1] / m, zy = cb[2] / m;
  const double bx = gzx / m, cx = -gzx * zx / m, gy = gzy / m;
  tg = bx * mom[1] + cx * mom[0] + gy * (mom[2] - zy * mom[0]);
  tgy = bx * mom[4] + cx * mom[3] + gy * (mom[5] - zy * mom[3]);
}

// BatchNorm statistics over (images, rows, cols) from per-image sums: mean, biased var, 1/sqrt(var + eps).
void bn_stats(const std::vector<double>& s, const std::vector<double>& ss, int64_t B, int C, double n, double eps,
              double* out /* [3][C]: mean, var, invstd */) {
  for (int c = 0; c < C; ++c) {
    double a = 0, b = 0;
    for (int64_t i = 0; i < B; ++i) {
      a += s[i * C + c];
      b += ss[i * C + c];
    }
    const double mean = a / n, var = std::max(b / n - mean * mean, 0.0);
    out[c] = mean;
    out[C + c] = var;
    out[2 * C + c] = 1.0 / std::sqrt(var + eps);
  }
}

// Backward of sigmoid + centre of mass for one image's map: g = dL/ds * s (1 - s) with s = sigmoid(y * a + sh) and
// dL/ds = (gzx (x - zx) + gzy (y - zy)) / mass from com cb = (mass, sum s x, sum s y), into `out` (rows of W).
void sigmoid_com_backward(const float* y2, float* out, const double* cb, double gzx, double gzy, const Geo& g, float a,
                          float sh) {
  vf xs0;
  for (int l = 0; l < VW; ++l) xs0[l] = l + 0.5f;
  const double m = std::max(cb[0], 1e-12), zx = cb[1] / m, zy = cb[2] / m;
  const float bx = static_cast<float>(gzx / m);
  const float cx = static_cast<float>(-gzx * zx / m);
  const double gy = gzy / m;
  for (int64_t i = 0; i < g.H; ++i) {
    const float* r = y2 + i * g.W;
    float* o = out + i * g.W;
    const float c0 = cx + static_cast<float>(gy * ((i + 0.5) - zy));
    int64_t j = 0;
    for (; j + VW <= g.W; j += VW) {
      const vf s = vsigmoid(ld(r + j) * a + sh);
      st(o + j, (bx * (xs0 + static_cast<float>(j)) + c0) * s * (1.0f - s));
    }
    for (; j < g.W; ++j) {
      const float s = 1.0f / (1.0f + std::exp(-(r[j] * a + sh)));
      o[j] = (bx * (j + 0.5f) + c0) * s * (1.0f - s);
    }
  }
}

// BatchNorm backward of one image's channel: d = ga (g - mean(g) - yhat mean(g yhat)) with yhat = (y - mu) * is,
// from the rows of g (dL/d bn output) and y (bn input) into a padded plane; returns the sum of d (the bias grad).
double bn_backward_plane(const float* grad, const float* y, float* plane, const Geo& g, float ga, float mg, float mgy,
                         float mu, float is) {
  const vf vga = bc(ga), vmg = bc(mg), vmgy = bc(mgy), vmu = bc(mu), vis = bc(is);
  double total = 0;
  for (int64_t i0 = 0; i0 < g.H; i0 += STAT_ROWS) {
    vf acc[2] = {vf{}, vf{}};  // two chains of additions; float within a band of rows, double across bands
    for (int64_t i = i0; i < std::min(g.H, i0 + STAT_ROWS); ++i) {
      const float* gr = grad + i * g.W;
      const float* yr = y + i * g.W;
      float* d = g.at(plane, 0, i);
      int64_t j = 0;
      for (; j + VW <= g.W; j += VW) {
        const vf v = vga * (ld(gr + j) - vmg - (ld(yr + j) - vmu) * vis * vmgy);
        st(d + j, v);
        acc[(j / VW) & 1] += v;
      }
      for (; j < g.W; ++j) {
        d[j] = ga * (gr[j] - mg - (yr[j] - mu) * is * mgy);
        total += d[j];
      }
    }
    total += hsum(acc[0] + acc[1]);
  }
  return total;
}

// Per-channel BatchNorm gradient statistics from per-image sums of g and g * yhat (image order, double):
// dgamma = sum g yhat, dbeta = sum g, and (float) mean g, mean g yhat and gamma * invstd for bn_backward_plane.
void bn_grad_stats(const std::vector<double>& sg, const std::vector<double>& sgy, int64_t B, int C, double n,
                   const std::vector<float>& gamma, const double* invstd, torch::Tensor& dgamma, torch::Tensor& dbeta,
                   std::vector<float>& mg, std::vector<float>& mgy, std::vector<float>& ga) {
  dgamma = torch::zeros({C}, torch::kDouble);
  dbeta = torch::zeros({C}, torch::kDouble);
  mg.resize(C);
  mgy.resize(C);
  ga.resize(C);
  for (int c = 0; c < C; ++c) {
    double a = 0, e = 0;
    for (int64_t b = 0; b < B; ++b) {
      a += sg[b * C + c];
      e += sgy[b * C + c];
    }
    dbeta.data_ptr<double>()[c] = a;
    dgamma.data_ptr<double>()[c] = e;
    mg[c] = static_cast<float>(a / n);
    mgy[c] = static_cast<float>(e / n);
    ga[c] = static_cast<float>(gamma[c] * invstd[c]);
  }
}

}  // namespace

// The caller's buffer for y1 (B, 6, H, W), or null when it gave none (an empty tensor): then y1's rows are recomputed.
float* stored_y1(const torch::Tensor& y1, int64_t B, const Geo& g) {
  if (y1.numel() == 0) return nullptr;
  TORCH_CHECK(y1.scalar_type() == torch::kFloat && y1.is_contiguous() && y1.numel() >= B * HID * g.H * g.W,
              "y1 buffer too small");
  return y1.data_ptr<float>();
}

// Training-mode forward (BatchNorm with batch statistics). Writes y2 (B, K, H, W), which the backward pass reads, and
// y1 (B, 6, H, W) when y1 is not empty (else its rows are recomputed from x wherever they are needed). Returns z (B, 2K) float, stats (double: mean1, var1, invstd1, mean2, var2, invstd2) and
// com (B * K * 9) double: (B, K, 3) centres of mass (mass, sum s x, sum s y), then (B, K, 6) moments (com_image).
std::vector<torch::Tensor> train_forward(torch::Tensor frames, torch::Tensor idx, torch::Tensor w1, torch::Tensor b1,
                                         torch::Tensor g1, torch::Tensor be1, torch::Tensor w2, torch::Tensor b2,
                                         torch::Tensor g2, torch::Tensor be2, double eps, torch::Tensor y1,
                                         torch::Tensor y2, torch::Tensor scratch) {
  const Geo g(frames.size(1), frames.size(2));
  const int64_t B = idx.size(0);
  const int K = static_cast<int>(w2.size(0));
  const Tensors fr = frames_of(frames, idx, g);
  float* scr = scratch_of(scratch, g);
  const int64_t per = scratch_floats(g);
  TORCH_CHECK(y2.numel() >= B * K * g.H * g.W, "activation buffer too small");
  float* Y2 = y2.data_ptr<float>();
  float* Y1 = stored_y1(y1, B, g);
  const auto W1 = to_vec(w1), B1 = to_vec(b1), G1 = to_vec(g1), BE1 = to_vec(be1);
  const auto W2 = to_vec(w2), B2 = to_vec(b2), G2 = to_vec(g2), BE2 = to_vec(be2);
  const double n = static_cast<double>(B) * g.H * g.W;
  auto stats = torch::zeros({3 * HID + 3 * K}, torch::kDouble);
  double* st1 = stats.data_ptr<double>();
  double* st2 = st1 + 3 * HID;

  // Pass 1: the BatchNorm statistics of y1 = conv1(x) + b1 (per-image channel sums). y1 itself is stored only when the
  // caller gives a buffer for it (small frames, whose y1 stays in cache): at paper scale it is 94 MB a step, written
  // once and read twice, and the later passes recompute its rows from x instead, the same floats (stored_y1).
  std::vector<double> s1(B * HID, 0.0), ss1(B * HID, 0.0);
  parallel_images(B, grain(g), [&](int64_t lo, int64_t hi) {
    const Scratch sp(scr + at::get_thread_num() * per, g);
    float *A = sp.A, *rows = sp.rows;
    for (int64_t b = lo; b < hi; ++b) {
      load_frame(fr.frames + fr.idx[b] * fr.frame_stride, g, A);
      for (int64_t i = 0; i < g.H; i += STAT_ROWS)
        conv_rows_stats<HID>(A, 3, g, i, std::min(g.H, i + STAT_ROWS), W1.data(), B1.data(),
                             Y1 ? Y1 + b * HID * g.H * g.W : nullptr, rows, &s1[b * HID], &ss1[b * HID]);
    }
  });
  bn_stats(s1, ss1, B, HID, n, eps, st1);
  std::vector<float> sc1(HID), sh1(HID);
  for (int c = 0; c < HID; ++c) {
    sc1[c] = static_cast<float>(G1[c] * st1[2 * HID + c]);
    sh1[c] = static_cast<float>(BE1[c] - st1[c] * G1[c] * st1[2 * HID + c]);
  }

  // Pass 2: h = relu(bn1(y1)) per image (scratch, y1's rows recomputed from x), y2 = conv2(h) + b2, with per-image
  // channel sums.
  std::vector<double> s2(B * K, 0.0), ss2(B * K, 0.0);
  dispatch_k(K, [&](auto kc) {
    constexpr int KK = decltype(kc)::value;
    parallel_images(B, grain(g), [&](int64_t lo, int64_t hi) {
      const Scratch sp(scr + at::get_thread_num() * per, g);
      float *A = sp.A, *rows = sp.rows;
      int64_t b = 0;
      auto h_row = [&](int64_t r) {  // y1's row r (stored, or recomputed from x), then h's
        if (Y1) return make_h_row(Y1 + b * HID * g.H * g.W + r * g.W, g.H * g.W, sc1.data(), sh1.data(), g, A, r);
        conv_row<HID>(sp.XP, 3, g, r, W1.data(), B1.data(), sp.rows1, g.Wr);
        make_h_row(sp.rows1, g.Wr, sc1.data(), sh1.data(), g, A, r);
      };
      for (b = lo; b < hi; ++b) {
        if (!Y1) load_frame(fr.frames + fr.idx[b] * fr.frame_stride, g, sp.XP);
        h_row(0);
        for (int64_t i = 0; i < g.H; i += STAT_ROWS) {
          const int64_t i1 = std::min(g.H, i + STAT_ROWS);
          for (int64_t r = i + 1; r <= i1 && r < g.H; ++r) h_row(r);
          conv_rows_stats<KK>(A, HID, g, i, i1, W2.data(), B2.data(), Y2 + b * KK * g.H * g.W, rows, &s2[b * KK],
                              &ss2[b * KK]);
        }
      }
    });
  });
  bn_stats(s2, ss2, B, K, n, eps, st2);
  std::vector<float> sc2(K), sh2(K);
  for (int k = 0; k < K; ++k) {
    sc2[k] = static_cast<float>(G2[k] * st2[2 * K + k]);
    sh2[k] = static_cast<float>(BE2[k] - st2[k] * G2[k] * st2[2 * K + k]);
  }

  // Pass 3: sigmoid(bn2(y2)) and its centre of mass (eq. in SPEC §1: maps normalised to sum 1).
  // com holds (B, K, 3) centres of mass, then (B, K, 6) moments for the backward pass (com_image).
  auto com = torch::empty({B * K * 9}, torch::kDouble);
  auto z = torch::empty({B, 2 * K}, torch::kFloat);
  double* C = com.data_ptr<double>();
  double* MOM = C + B * K * 3;
  float* Z = z.data_ptr<float>();
  std::vector<float> mu2(K), is2(K);
  for (int k = 0; k < K; ++k) {
    mu2[k] = static_cast<float>(st2[k]);
    is2[k] = static_cast<float>(st2[2 * K + k]);
  }
  dispatch_k(K, [&](auto kc) {
    constexpr int KK = decltype(kc)::value;
    parallel_images(B, grain(g), [&](int64_t lo, int64_t hi) {
      for (int64_t b = lo; b < hi; ++b) {
        double* cb = C + b * KK * 3;
        com_image<KK>(Y2 + b * KK * g.H * g.W, sc2.data(), sh2.data(), g, cb, mu2.data(), is2.data(),
                      MOM + b * KK * 6);
        for (int k = 0; k < KK; ++k) {
          const double m = std::max(cb[3 * k], 1e-12);
          Z[b * 2 * KK + 2 * k] = static_cast<float>(cb[3 * k + 1] / m);
          Z[b * 2 * KK + 2 * k + 1] = static_cast<float>(cb[3 * k + 2] / m);
        }
      }
    });
  });
  return {z, stats, com};
}

// Backward of train_forward: gradients of the loss w.r.t. w1, b1, gamma1, beta1, w2, b2, gamma2, beta2 given
// gz = dL/dz (B, 2K).
std::vector<torch::Tensor> train_backward(torch::Tensor gz, torch::Tensor frames, torch::Tensor idx, torch::Tensor w1,
                                          torch::Tensor b1, torch::Tensor g1, torch::Tensor be1, torch::Tensor w2, torch::Tensor g2,
                                          torch::Tensor be2, torch::Tensor stats, torch::Tensor com, torch::Tensor y1,
                                          torch::Tensor y2, torch::Tensor scratch) {
  const Geo g(frames.size(1), frames.size(2));
  const int64_t B = idx.size(0);
  const int K = static_cast<int>(w2.size(0));
  const Tensors fr = frames_of(frames, idx, g);
  float* scr = scratch_of(scratch, g);
  const int64_t per = scratch_floats(g);
  const int64_t HW = g.H * g.W;
  const float* Y2 = y2.data_ptr<float>();
  const float* Y1 = stored_y1(y1, B, g);
  const auto W1 = to_vec(w1), B1 = to_vec(b1), G1 = to_vec(g1), BE1 = to_vec(be1);
  const auto W2 = to_vec(w2), G2 = to_vec(g2), BE2 = to_vec(be2);
  const auto GZ = to_vec(gz);
  const double* st1 = stats.data_ptr<double>();
  const double* st2 = st1 + 3 * HID;
  const double* C = com.data_ptr<double>();
  const double n = static_cast<double>(B) * HW;

  std::vector<float> sc1(HID), sh1(HID), sc2(K), sh2(K), m1(HID), is1(HID), m2(K), is2(K);
  for (int c = 0; c < HID; ++c) {
    m1[c] = static_cast<float>(st1[c]);
    is1[c] = static_cast<float>(st1[2 * HID + c]);
    sc1[c] = static_cast<float>(G1[c] * st1[2 * HID + c]);
    sh1[c] = static_cast<float>(BE1[c] - st1[c] * G1[c] * st1[2 * HID + c]);
  }
  for (int k = 0; k < K; ++k) {
    m2[k] = static_cast<float>(st2[k]);
    is2[k] = static_cast<float>(st2[2 * K + k]);
    sc2[k] = static_cast<float>(G2[k] * st2[2 * K + k]);
    sh2[k] = static_cast<float>(BE2[k] - st2[k] * G2[k] * st2[2 * K + k]);
  }

  // Sums of g = dL/d(BN2 output) and g * yhat2 per image and map, from the forward pass's moments (sums_of_g).
  const double* MOM = C + B * K * 3;
  std::vector<double> sg2(B * K, 0.0), sgy2(B * K, 0.0);
  for (int64_t b = 0; b < B; ++b)
    for (int k = 0; k < K; ++k)
      sums_of_g(C + (b * K + k) * 3, MOM + (b * K + k) * 6, GZ[b * 2 * K + 2 * k], GZ[b * 2 * K + 2 * k + 1],
                sg2[b * K + k], sgy2[b * K + k]);
  torch::Tensor dg2, dbe2;
  std::vector<float> mg2, mgy2, ga2;
  bn_grad_stats(sg2, sgy2, B, K, n, G2, st2 + 2 * K, dg2, dbe2, mg2, mgy2, ga2);
  // Transposed, flipped conv2 weights: dh = conv(dy2, wt) with wt[c][k][di][dj] = w2[k][c][2 - di][2 - dj].
  std::vector<float> WT(HID * K * 9);
  for (int c = 0; c < HID; ++c)
    for (int k = 0; k < K; ++k)
      for (int t = 0; t < 9; ++t) WT[(c * K + k) * 9 + t] = W2[(k * HID + c) * 9 + (8 - t)];

  // Pass B2: g2 recomputed (scratch: a stored copy cost 47 MB a paper-scale step, written and read back),
  // dy2 = BN2 backward (per image, into scratch B), h recomputed (scratch A); dW2 += dy2 (x) h,
  // dh = conv(dy2, wt), g1 = dh * [h > 0], with per-image sums of g1, yhat1 and g1 * yhat1.
  // The BN1 backward dy1 = ga1 (g1 - mean g1 - yhat1 mean(g1 yhat1)) needs those sums over the whole batch, but
  // dW1 = sum dy1 (x) x is linear in g1, 1 and yhat1: per image, GX = g1 (x) x, PX = yhat1 (x) x and the window sums
  // of x are taken here, band by band while the rows are in cache, and combined once the batch's sums are known.
  // (Storing g1 instead cost 94 MB a paper-scale step, written here and read back with y1 by a third pass.)
  std::vector<double> dw2p(B * K * HID * 9, 0.0), db2p(B * K, 0.0), sg1(B * HID, 0.0), sgy1(B * HID, 0.0),
      sy1(B * HID, 0.0), gx(B * HID * 3 * 9, 0.0), px(B * HID * 3 * 9, 0.0), win(B * 3 * 9, 0.0);
  constexpr int64_t BAND = 32;  // rows of dL/dy1 and yhat1 per weight-gradient call: ~0.5 MB, within L2
  parallel_images(B, grain(g), [&](int64_t lo, int64_t hi) {
    const Scratch sp(scr + at::get_thread_num() * per, g);
    float *A = sp.A, *Bp = sp.Bp, *rows = sp.rows, *g2 = sp.map;  // g2: one H x W map
    float *XP = sp.XP, *GP = sp.GP, *PP = sp.PP;  // x; g1 = dL/d(BN1 output); yhat1
    std::vector<vf> vgx(HID * 3 * 9), vpx(HID * 3 * 9);
    for (int64_t b = lo; b < hi; ++b) {
      load_frame(fr.frames + fr.idx[b] * fr.frame_stride, g, XP);
      window_sums(XP, 3, g, win.data() + b * 3 * 9);
      std::fill(vgx.begin(), vgx.end(), vf{});
      std::fill(vpx.begin(), vpx.end(), vf{});
      for (int k = 0; k < K; ++k) {
        sigmoid_com_backward(Y2 + (b * K + k) * HW, g2, C + (b * K + k) * 3, GZ[b * 2 * K + 2 * k],
                             GZ[b * 2 * K + 2 * k + 1], g, sc2[k], sh2[k]);
        db2p[b * K + k] = bn_backward_plane(g2, Y2 + (b * K + k) * HW, Bp + k * g.plane, g,
                                            ga2[k], mg2[k], mgy2[k], m2[k], is2[k]);
      }
      vf ag[HID], agy[HID], ay[HID];  // per channel: float within a band of STAT_ROWS rows, double across bands
      for (int64_t i = 0; i < g.H; ++i) {
        const float* y1r = Y1 ? Y1 + b * HID * HW + i * g.W : sp.rows1;  // y1's row: stored, or recomputed from x
        const int64_t ycs = Y1 ? HW : g.Wr;
        if (!Y1) conv_row<HID>(XP, 3, g, i, W1.data(), B1.data(), sp.rows1, g.Wr);
        make_h_row(y1r, ycs, sc1.data(), sh1.data(), g, A, i);
        conv_row<HID>(Bp, K, g, i, WT.data(), nullptr, rows, g.Wr);  // dh row: HID outputs from K inputs
        if (i % STAT_ROWS == 0)
          for (int c = 0; c < HID; ++c) ag[c] = agy[c] = ay[c] = vf{};
        for (int c = 0; c < HID; ++c) {
          const float* dh = rows + c * g.Wr;
          const float* hr = g.at(A, c, i);
          const float* yr = y1r + c * ycs;
          float* o = g.at(GP, c, i);
          float* py = g.at(PP, c, i);
          const vf mu = bc(m1[c]), is = bc(is1[c]);
          int64_t j = 0;
          for (; j + VW <= g.W; j += VW) {
            const vf gv = ld(hr + j) > 0.0f ? ld(dh + j) : vf{};
            const vf yh = (ld(yr + j) - mu) * is;
            st(o + j, gv);
            st(py + j, yh);
            ag[c] += gv;
            agy[c] += gv * yh;
            ay[c] += yh;
          }
          for (; j < g.W; ++j) {
            const float gv = hr[j] > 0.0f ? dh[j] : 0.0f;
            const float yh = (yr[j] - m1[c]) * is1[c];
            o[j] = gv;
            py[j] = yh;
            sg1[b * HID + c] += gv;
            sgy1[b * HID + c] += gv * yh;
            sy1[b * HID + c] += yh;
          }
        }
        if (i % STAT_ROWS == STAT_ROWS - 1 || i == g.H - 1)
          for (int c = 0; c < HID; ++c) {
            sg1[b * HID + c] += hsum(ag[c]);
            sgy1[b * HID + c] += hsum(agy[c]);
            sy1[b * HID + c] += hsum(ay[c]);
          }
        if (i % BAND == BAND - 1 || i == g.H - 1) {  // rows i0 .. i of g1 and yhat1 are complete
          const int64_t i0 = i / BAND * BAND;
          wgrad_rows(GP, XP, HID, 3, g, vgx.data(), i0, i + 1);
          wgrad_rows(PP, XP, HID, 3, g, vpx.data(), i0, i + 1);
        }
      }
      for (int t = 0; t < HID * 3 * 9; ++t) {
        gx[b * HID * 27 + t] = hsum(vgx[t]);
        px[b * HID * 27 + t] = hsum(vpx[t]);
      }
      wgrad_all(Bp, A, K, HID, g, dw2p.data() + b * K * HID * 9);  // dW2 += dy2 (x) h, h complete now
    }
  });
  torch::Tensor dg1, dbe1;
  std::vector<float> mg1, mgy1, ga1;
  bn_grad_stats(sg1, sgy1, B, HID, n, G1, st1 + 2 * HID, dg1, dbe1, mg1, mgy1, ga1);

  // dW1 and db1 from the per-image sums (image order): dy1 = ga1 (g1 - mg1 - mgy1 yhat1), so
  // dW1 = ga1 (GX - mg1 win - mgy1 PX) and db1 = ga1 (sum g1 - n mg1 - mgy1 sum yhat1).
  std::vector<double> dw1p(B * HID * 3 * 9, 0.0), db1p(B * HID, 0.0);
  for (int64_t b = 0; b < B; ++b)
    for (int o = 0; o < HID; ++o) {
      const double ga = ga1[o], mg = mg1[o], mgy = mgy1[o];
      for (int t = 0; t < 27; ++t) {
        const int64_t at = (b * HID + o) * 27 + t;
        dw1p[at] = ga * (gx[at] - mg * win[b * 27 + t] - mgy * px[at]);
      }
      db1p[b * HID + o] = ga * (sg1[b * HID + o] - mg * static_cast<double>(HW) - mgy * sy1[b * HID + o]);
    }

  auto sum_images = [B](const std::vector<double>& p, int64_t m) {
    auto out = torch::zeros({m}, torch::kDouble);
    double* o = out.data_ptr<double>();
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < m; ++t) o[t] += p[b * m + t];
    return out;
  };
  auto f = [](const torch::Tensor& t, const torch::Tensor& like) { return t.to(torch::kFloat).view(like.sizes()); };
  return {f(sum_images(dw1p, HID * 3 * 9), w1), f(sum_images(db1p, HID), g1), f(dg1, g1), f(dbe1, be1),
          f(sum_images(dw2p, K * HID * 9), w2), f(sum_images(db2p, K), g2), f(dg2, g2), f(dbe2, be2)};
}

// Inference forward with folded BatchNorm (eval mode): scale/shift per channel, nothing stored; returns z (B, 2K).
torch::Tensor eval_forward(torch::Tensor frames, torch::Tensor idx, torch::Tensor w1, torch::Tensor b1,
                           torch::Tensor scale1, torch::Tensor shift1, torch::Tensor w2, torch::Tensor b2,
                           torch::Tensor scale2, torch::Tensor shift2, torch::Tensor scratch) {
  const Geo g(frames.size(1), frames.size(2));
  const int64_t B = idx.size(0);
  const int K = static_cast<int>(w2.size(0));
  const Tensors fr = frames_of(frames, idx, g);
  float* scr = scratch_of(scratch, g);
  const int64_t per = scratch_floats(g);
  const auto W1 = to_vec(w1), B1 = to_vec(b1), SC1 = to_vec(scale1), SH1 = to_vec(shift1);
  const auto W2 = to_vec(w2), B2 = to_vec(b2), SC2 = to_vec(scale2), SH2 = to_vec(shift2);
  auto z = torch::empty({B, 2 * K}, torch::kFloat);
  float* Z = z.data_ptr<float>();
  dispatch_k(K, [&](auto kc) {
    constexpr int KK = decltype(kc)::value;
    at::parallel_for(0, B, grain(g), [&](int64_t lo, int64_t hi) {
      const Scratch sp(scr + at::get_thread_num() * per, g);
      float *A = sp.A, *Bp = sp.Bp, *rows = sp.rows;
      std::vector<float> y2(KK * g.H * g.W);
      double cb[3 * KK];
      for (int64_t b = lo; b < hi; ++b) {
        load_frame(fr.frames + fr.idx[b] * fr.frame_stride, g, Bp);
        for (int64_t i = 0; i < g.H; ++i) {  // h = relu(bn1(conv1(x))) into scratch A
          conv_row<HID>(Bp, 3, g, i, W1.data(), B1.data(), rows, g.Wr);
          for (int c = 0; c < HID; ++c) {
            const float* r = rows + c * g.Wr;
            float* d = g.at(A, c, i);
            for (int64_t j = 0; j < g.W; ++j) d[j] = std::max(r[j] * SC1[c] + SH1[c], 0.0f);
          }
        }
        for (int64_t i = 0; i < g.H; ++i) {
          conv_row<KK>(A, HID, g, i, W2.data(), B2.data(), rows, g.Wr);
          for (int k = 0; k < KK; ++k) std::memcpy(y2.data() + (k * g.H + i) * g.W, rows + k * g.Wr, g.W * 4);
        }
        com_image<KK>(y2.data(), SC2.data(), SH2.data(), g, cb);
        for (int k = 0; k < KK; ++k) {
          const double m = std::max(cb[3 * k], 1e-12);
          Z[b * 2 * KK + 2 * k] = static_cast<float>(cb[3 * k + 1] / m);
          Z[b * 2 * KK + 2 * k + 1] = static_cast<float>(cb[3 * k + 2] / m);
        }
      }
    });
  });
  return z;
}

int64_t scratch_size(int64_t H, int64_t W) { return scratch_floats(Geo(H, W)); }

// frames[idx] as the kernels read them: (B, 3, H, W) float, value / 255 (to check load_frame against the eager cast).
torch::Tensor load_frames(torch::Tensor frames, torch::Tensor idx) {
  const Geo g(frames.size(1), frames.size(2));
  const Tensors fr = frames_of(frames, idx, g);
  const int64_t B = idx.size(0);
  auto out = torch::empty({B, 3, g.H, g.W}, torch::kFloat);
  std::vector<float> planes(3 * g.plane, 0.0f);
  for (int64_t b = 0; b < B; ++b) {
    load_frame(fr.frames + fr.idx[b] * fr.frame_stride, g, planes.data());
    for (int c = 0; c < 3; ++c)
      for (int64_t i = 0; i < g.H; ++i)
        std::memcpy(out.data_ptr<float>() + ((b * 3 + c) * g.H + i) * g.W, g.at(planes.data(), c, i), g.W * 4);
  }
  return out;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("train_forward", &train_forward, "fused encoder forward, BatchNorm in training mode");
  m.def("train_backward", &train_backward, "fused encoder backward");
  m.def("eval_forward", &eval_forward, "fused encoder forward, BatchNorm folded (eval mode)");
  m.def("scratch_size", &scratch_size, "floats of per-thread scratch for an H x W frame");
  m.def("set_min_task_pixels", &set_min_task_pixels, "pixels a parallel task gets at least (small frames: 1 thread)");
  m.def("load_frames", &load_frames, "frames[idx] as the kernels read them, (B, 3, H, W) float");
}
