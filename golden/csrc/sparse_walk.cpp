// Sparse RTRL influence update over a window of queued steps, per sample and column tile
// (golden/sparse_influence.py builds the inputs and documents the arithmetic).
//
// For each sample b (in parallel), column tile of Mstore_b, queued step t, and chunk of CHUNK
// columns of the tile:
//   R       = Mstore[S_t, chunk]                        (source rows, before the step writes)
//   Mstore[restart_t, chunk] = 0 ;  Mstore[fold_t, chunk] *= factor_t   (clear: all rows = 0)
//   Mstore[k(e), c(e)] += Sd_t[s(e)] Od_t[o(e)] / s_k   (diagonal blocks' immediate entries, row k)
//   Mstore[:, c(e)]    += S_t[:, m(e)] v_t(e) / s       (dense blocks' entries, skipped where v = 0)
//   Mstore[rows_t, chunk] += J_t[rows_t, :] R           (J_t: n x |S_t|, rows already scaled)
//   grad[chunk] += Mstore[:, chunk]^T w_t ;  nonzero[t] += non-zero entries of the chunk
// The tile stays in cache across the window. Columns evolve independently, so each entry sees the
// same sums as in a step-by-step update of the whole matrix.

#include <torch/extension.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <vector>

namespace {

using at::Tensor;
using Tensors = std::vector<Tensor>;

constexpr int64_t CHUNK = 32;  // columns kept in registers while every row of a chunk is updated

// 64 bytes of T (one AVX-512 register, two AVX2 ones)
template <typename T>
using Vec [[gnu::vector_size(64)]] = T;

// The immediate entries' fixed layout, sorted by column (see _ImmediateLayout in sparse_influence.py).
struct Layout {
  const int64_t *diag_rows, *diag_cols, *diag_s, *diag_o;  // diagonal entry: row, column, S and operand index
  const int64_t *dense_cols, *dense_s;                      // dense entry: column, column of S
  std::vector<int64_t> diag_bounds, dense_bounds;           // each tile's first entry, and the end
};

// One step's inputs as raw pointers (see _Step in golden/sparse_influence.py); *_off are [B + 1].
template <typename T>
struct Step {
  const int64_t *src, *src_off;
  const T *J;  // [sum |S|, n]
  const int64_t *restart, *restart_off, *fold, *fold_off;
  const T *fold_factor;
  const int64_t *rows, *rows_off;
  bool clear, all_rows;
  const T *diag_S, *diag_O;  // [B, *]: the diagonal blocks' S (stacked) and operands (concatenated)
  int64_t diag_S_size, diag_O_size;
  const T *dense_S;  // [B, n, dense_rows]
  int64_t dense_rows;
  const T *dense_v;  // [B, dense entries]: each entry's operand
  int64_t dense_entries;
  const T *inverse;  // [B, n]: 1 / s_t
  const T *weight;   // [B, n]
};

// The walk of one sample: M_b [n, pk] and its gradient g [pk]; P [n, ld] is the packed copy of
// the tile whose first column is column `base` of M_b, gt = g + base.
template <typename T>
struct Sample {
  int64_t b, n, pk, B, tiles;
  T *M, *g;
  const Layout &layout;
  int64_t *nonzero;  // [steps, B] or null
  std::vector<T> R;  // right factor of a chunk's update: source rows, then operand rows [n + CHUNK, CHUNK]
  std::vector<T> extra_cols;  // columns of S joining the update as extra source rows [CHUNK, n]
  std::vector<char> written;
  T *P = nullptr, *gt = nullptr;
  int64_t ld = 0, base = 0;

  // One step on columns [c, c + width): entry_d / entry_e advance through the column-sorted
  // diagonal / dense entries of the tile.
  template <int64_t FIXED>
  void chunk(const Step<T> &s, int64_t t, int64_t c, int64_t cw, int64_t &entry_d, int64_t diag_end,
             int64_t &entry_e, int64_t dense_end) {
    const Layout &lay = layout;
    const T *inv = s.inverse + b * n;
    const int64_t width = FIXED > 0 ? FIXED : cw;
    const int64_t s0 = s.src_off[b], k = s.src_off[b + 1] - s0;
    const int64_t *src = s.src + s0;
    for (int64_t r = 0; r < k; ++r) std::copy(P + src[r] * ld + c, P + src[r] * ld + c + width, R.data() + r * CHUNK);
    if (s.clear) {
      for (int64_t row = 0; row < n; ++row) std::fill(P + row * ld + c, P + row * ld + c + width, T(0));
    } else {
      for (int64_t i = s.restart_off[b]; i < s.restart_off[b + 1]; ++i)
        std::fill(P + s.restart[i] * ld + c, P + s.restart[i] * ld + c + width, T(0));
    }
    for (int64_t i = s.fold_off[b]; i < s.fold_off[b + 1]; ++i)
      for (int64_t j = 0; j < width; ++j) P[s.fold[i] * ld + c + j] *= s.fold_factor[i];
    const T *dS = s.diag_S + b * s.diag_S_size, *dO = s.diag_O + b * s.diag_O_size;
    for (; entry_d < diag_end && lay.diag_cols[entry_d] - base < c + width; ++entry_d) {
      const int64_t row = lay.diag_rows[entry_d];
      P[row * ld + lay.diag_cols[entry_d] - base] += dS[lay.diag_s[entry_d]] * dO[lay.diag_o[entry_d]] * inv[row];
    }
    // the update's left factor: the sources' columns of J ([k, n], rows of s.J), then one column of S
    // per run of dense entries sharing it (row m of a block: S[:, m] times the operands at the run's
    // columns, copied to extra_cols), so the immediate entries of dense blocks join the rank-|S|
    // update as extra source rows of R
    const T *J = s.J + s0 * n;
    const T *S = s.dense_S + b * n * s.dense_rows;
    int64_t extras = 0, last = -1;
    const T *v = s.dense_v + b * s.dense_entries;
    for (; entry_e < dense_end && lay.dense_cols[entry_e] - base < c + width; ++entry_e) {
      if (v[entry_e] == T(0)) continue;  // a silent unit's entry adds nothing
      const int64_t m = lay.dense_s[entry_e];
      if (m != last) {
        for (int64_t row = 0; row < n; ++row) extra_cols[extras * n + row] = S[row * s.dense_rows + m] * inv[row];
        std::fill(R.data() + (k + extras) * CHUNK, R.data() + (k + extras + 1) * CHUNK, T(0));
        ++extras;
        last = m;
      }
      R[(k + extras - 1) * CHUNK + lay.dense_cols[entry_e] - base - c] = v[entry_e];
    }
    const T *wt = s.weight + b * n;
    if constexpr (FIXED > 0)
      rows_and_gradient(J, k, extras, wt, c, t);
    else
      rows_and_gradient_narrow(J, k, extras, wt, c, width, t);
  }

  // Every row of the chunk: y += J[row, :] R where written, then gacc += w_row y; the chunk's CHUNK
  // columns stay in registers (GCC vector types) while the source rows stream from L1, four rows at
  // a time so that each source row loaded serves four rows' FMAs.
  void rows_and_gradient(const T *J, int64_t k, int64_t extras, const T *wt, int64_t c, int64_t t) {
    Vec<T> gacc[CHUNK * sizeof(T) / sizeof(Vec<T>)] = {};
    int64_t count = 0, row = 0;
    for (; row + 4 <= n; row += 4) {
      if (written[row] && written[row + 1] && written[row + 2] && written[row + 3])
        row_block<4>(row, J, k, extras, true, wt, c, gacc, count);
      else
        for (int64_t i = 0; i < 4; ++i) row_block<1>(row + i, J, k, extras, written[row + i], wt, c, gacc, count);
    }
    for (; row < n; ++row) row_block<1>(row, J, k, extras, written[row], wt, c, gacc, count);
    constexpr int64_t L = sizeof(Vec<T>) / sizeof(T);
    for (int64_t q = 0; q < CHUNK / L; ++q)
      for (int64_t i = 0; i < L; ++i) gt[c + q * L + i] += gacc[q][i];
    if (nonzero != nullptr) nonzero[t * B + b] += count;
  }

  template <int64_t RB>
  void row_block(int64_t row, const T *J, int64_t k, int64_t extras, bool update, const T *wt, int64_t c,
                 Vec<T> *gacc, int64_t &count) {
    using V = Vec<T>;
    constexpr int64_t L = sizeof(V) / sizeof(T), NV = CHUNK / L;
    V acc[RB][NV];
#pragma GCC unroll 16
    for (int64_t i = 0; i < RB; ++i)
#pragma GCC unroll 8
      for (int64_t q = 0; q < NV; ++q) __builtin_memcpy(&acc[i][q], P + (row + i) * ld + c + q * L, sizeof(V));
    if (update) fma_rows<RB>(acc, J + row, k, R.data());
    fma_rows<RB>(acc, extra_cols.data() + row, extras, R.data() + k * CHUNK);
#pragma GCC unroll 16
    for (int64_t i = 0; i < RB; ++i) {
      const T w = wt[row + i];
#pragma GCC unroll 8
      for (int64_t q = 0; q < NV; ++q) {
        __builtin_memcpy(P + (row + i) * ld + c + q * L, &acc[i][q], sizeof(V));
        gacc[q] += w * acc[i][q];
      }
      if (nonzero != nullptr)
        for (int64_t j = 0; j < CHUNK; ++j) count += P[(row + i) * ld + c + j] != T(0);
    }
  }

  // acc[i] += sum_r a[r n + i] x_r for the RB rows of a block: a = the left factor's columns from
  // the block's first row, x_r = row r of the right factor (CHUNK columns).
  template <int64_t RB>
  [[gnu::always_inline]] inline void fma_rows(Vec<T> (&acc)[RB][CHUNK * sizeof(T) / sizeof(Vec<T>)], const T *a,
                                              int64_t count, const T *x_rows) {
    using V = Vec<T>;
    constexpr int64_t L = sizeof(V) / sizeof(T), NV = CHUNK / L;
    for (int64_t r = 0; r < count; ++r) {
      V x[NV];
#pragma GCC unroll 8
      for (int64_t q = 0; q < NV; ++q) __builtin_memcpy(&x[q], x_rows + r * CHUNK + q * L, sizeof(V));
#pragma GCC unroll 16
      for (int64_t i = 0; i < RB; ++i) {
        const T ai = a[r * n + i];
#pragma GCC unroll 8
        for (int64_t q = 0; q < NV; ++q) acc[i][q] += ai * x[q];
      }
    }
  }

  // The same for a chunk narrower than CHUNK (the end of a tile), one column at a time.
  void rows_and_gradient_narrow(const T *J, int64_t k, int64_t extras, const T *wt, int64_t c, int64_t width,
                                int64_t t) {
    int64_t count = 0;
    for (int64_t j = 0; j < width; ++j) {
      T gsum = 0;
      for (int64_t row = 0; row < n; ++row) {
        T &y = P[row * ld + c + j];
        if (written[row])
          for (int64_t r = 0; r < k; ++r) y += J[r * n + row] * R[r * CHUNK + j];
        for (int64_t e = 0; e < extras; ++e) y += extra_cols[e * n + row] * R[(k + e) * CHUNK + j];
        gsum += wt[row] * y;
        count += y != T(0);
      }
      gt[c + j] += gsum;
    }
    if (nonzero != nullptr) nonzero[t * B + b] += count;
  }

  void walk(const std::vector<Step<T>> &steps, const std::vector<int64_t> &edges) {
    const std::vector<int64_t> &diag_bounds = layout.diag_bounds, &dense_bounds = layout.dense_bounds;
    std::vector<T> buffer;
    for (int64_t tile = 0; tile < tiles; ++tile) {
      const int64_t c0 = edges[tile], c1 = edges[tile + 1], width = c1 - c0;
      // the tile is worked on in a packed copy whose row stride is not a multiple of 4 KiB: with
      // M's own stride (p_kept entries, often a multiple of 2^10) a chunk's rows would all fall
      // into the same few cache sets
      ld = width + 64 / static_cast<int64_t>(sizeof(T));
      buffer.resize(static_cast<size_t>(n * ld));
      P = buffer.data();
      base = c0;
      gt = g + c0;
      for (int64_t row = 0; row < n; ++row) std::copy(M + row * pk + c0, M + row * pk + c1, P + row * ld);
      for (size_t t = 0; t < steps.size(); ++t) {
        const Step<T> &s = steps[t];
        std::fill(written.begin(), written.end(), static_cast<char>(s.all_rows));
        if (!s.all_rows)
          for (int64_t i = s.rows_off[b]; i < s.rows_off[b + 1]; ++i) written[s.rows[i]] = 1;
        int64_t entry_d = diag_bounds[tile], entry_e = dense_bounds[tile];
        for (int64_t c = 0; c < width; c += CHUNK) {
          if (width - c >= CHUNK)
            chunk<CHUNK>(s, t, c, CHUNK, entry_d, diag_bounds[tile + 1], entry_e, dense_bounds[tile + 1]);
          else
            chunk<0>(s, t, c, width - c, entry_d, diag_bounds[tile + 1], entry_e, dense_bounds[tile + 1]);
        }
      }
      for (int64_t row = 0; row < n; ++row) std::copy(P + row * ld, P + row * ld + width, M + row * pk + c0);
    }
  }
};

template <typename T>
std::vector<Step<T>> steps_of(const std::vector<Tensors> &f, const std::vector<bool> &clear,
                              const std::vector<bool> &all_rows) {
  // f: src, src_off, J, restart, restart_off, fold, fold_factor, fold_off, rows, rows_off,
  //    diag_S, diag_O, dense_S, dense_v, inverse, weight (each per step)
  std::vector<Step<T>> out(clear.size());
  for (size_t t = 0; t < out.size(); ++t) {
    for (const auto &tensors : f) TORCH_CHECK(tensors[t].is_contiguous(), "walk: inputs must be contiguous");
    auto i64 = [&](int field) { return f[field][t].data_ptr<int64_t>(); };
    auto real = [&](int field) { return f[field][t].data_ptr<T>(); };
    auto size = [&](int field, int dim) { return f[field][t].size(dim); };
    out[t] = Step<T>{i64(0),      i64(1),      real(2),     i64(3),     i64(4),     i64(5),    i64(7),
                     real(6),     i64(8),      i64(9),      clear[t],   all_rows[t], real(10), real(11),
                     size(10, 1), size(11, 1), real(12),    size(12, 2), real(13),  size(13, 1), real(14),
                     real(15)};
  }
  return out;
}

}  // namespace

void walk(Tensor M, Tensor grads, Tensor nonzero, std::vector<int64_t> edges, Tensors layout,
          std::vector<int64_t> diag_bounds, std::vector<int64_t> dense_bounds, Tensors src, Tensors src_off,
          Tensors J, Tensors restart, Tensors restart_off, Tensors fold, Tensors fold_factor, Tensors fold_off,
          Tensors rows, Tensors rows_off, std::vector<bool> clear, std::vector<bool> all_rows, Tensors diag_S,
          Tensors diag_O, Tensors dense_S, Tensors dense_v, Tensors inverse, Tensors weight) {
  TORCH_CHECK(M.is_contiguous() && grads.is_contiguous(), "walk: M and grads must be contiguous");
  TORCH_CHECK(layout.size() == 6, "walk: layout is (diag rows, cols, S index, operand index, dense cols, S cols)");
  for (const auto &x : layout) TORCH_CHECK(x.is_contiguous() && x.scalar_type() == at::kLong, "walk: layout");
  const Layout lay{layout[0].data_ptr<int64_t>(), layout[1].data_ptr<int64_t>(), layout[2].data_ptr<int64_t>(),
                   layout[3].data_ptr<int64_t>(), layout[4].data_ptr<int64_t>(), layout[5].data_ptr<int64_t>(),
                   diag_bounds,                   dense_bounds};
  const std::vector<Tensors> fields{src,  src_off, J,      restart, restart_off, fold,    fold_factor, fold_off,
                                    rows, rows_off, diag_S, diag_O,  dense_S,     dense_v, inverse,     weight};
  const int64_t B = M.size(0), n = M.size(1), pk = M.size(2);
  AT_DISPATCH_FLOATING_TYPES(M.scalar_type(), "walk", [&] {
    const auto steps = steps_of<scalar_t>(fields, clear, all_rows);
    at::parallel_for(0, B, 1, [&](int64_t begin, int64_t end) {
      for (int64_t b = begin; b < end; ++b) {
        Sample<scalar_t> sample{b,
                                n,
                                pk,
                                B,
                                static_cast<int64_t>(edges.size()) - 1,
                                M.data_ptr<scalar_t>() + b * n * pk,
                                grads.data_ptr<scalar_t>() + b * pk,
                                lay,
                                nonzero.numel() ? nonzero.data_ptr<int64_t>() : nullptr,
                                std::vector<scalar_t>(static_cast<size_t>((n + CHUNK) * CHUNK)),
                                std::vector<scalar_t>(static_cast<size_t>(CHUNK * n)),
                                std::vector<char>(static_cast<size_t>(n))};
        sample.walk(steps, edges);
      }
    });
  });
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("walk", &walk, "sparse RTRL window walk"); }
