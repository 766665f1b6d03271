// Sparse RTRL influence update over a window of queued steps, per sample and column tile
// (golden/sparse_influence.py builds the inputs and documents the arithmetic).
//
// For each sample b (in parallel), column tile of Mstore_b, queued step t, and chunk of CHUNK
// columns of the tile:
//   R       = Mstore[S_t, chunk]                        (source rows, before the step writes)
//   Mstore[restart_t, chunk] = 0 ;  Mstore[fold_t, chunk] *= factor_t   (clear: all rows = 0)
//   Mstore[k(e), c(e)] += diag_t[e]                     (diagonal blocks' immediate entries)
//   Mstore[:, c(e)]    += S_t[:, m(e)] v_t(e)           (dense blocks' entries with v != 0)
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

// One step's inputs as raw pointers (see _Step in golden/sparse_influence.py); *_off are [B + 1].
template <typename T>
struct Step {
  const int64_t *src, *src_off;
  const T *J;  // [sum |S|, n]
  const int64_t *restart, *restart_off, *fold, *fold_off;
  const T *fold_factor;
  const int64_t *rows, *rows_off;
  bool clear, all_rows;
  const T *diag;  // [B, diag_entries]
  int64_t diag_entries;
  const T *dense_S;  // [B, n, dense_rows]
  int64_t dense_rows;
  const int64_t *dense_col, *dense_scol, *dense_bounds;  // bounds [B, tiles + 1]
  const T *dense_val;
  const T *weight;  // [B, n]
};

// The walk of one sample: M_b [n, pk] and its gradient g [pk]; P [n, ld] is the packed copy of
// the tile whose first column is column `base` of M_b, gt = g + base.
template <typename T>
struct Sample {
  int64_t b, n, pk, B, tiles;
  T *M, *g;
  const int64_t *diag_rows, *diag_cols;
  int64_t *nonzero;  // [steps, B] or null
  std::vector<T> R;  // right factor of a chunk's update: source rows, then operand rows [n + CHUNK, CHUNK]
  std::vector<std::pair<const T *, int64_t>> A;  // left factor's columns: first element and stride
  std::vector<char> written;
  T *P = nullptr, *gt = nullptr;
  int64_t ld = 0, base = 0;

  // One step on columns [c, c + width): entry_d / entry_e advance through the column-sorted
  // diagonal / dense entries of the tile.
  template <int64_t FIXED>
  void chunk(const Step<T> &s, int64_t t, int64_t c, int64_t cw, int64_t &entry_d, int64_t diag_end,
             int64_t &entry_e, int64_t dense_end) {
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
    const T *dv = s.diag + b * s.diag_entries;
    for (; entry_d < diag_end && diag_cols[entry_d] - base < c + width; ++entry_d)
      P[diag_rows[entry_d] * ld + diag_cols[entry_d] - base] += dv[entry_d];
    // left factor columns: the sources' columns of J, then one column of S per run of dense entries
    // sharing it (a row m of a block: S[:, m] times the operands at the run's columns), so the
    // immediate entries of dense blocks join the rank-|S| update as extra source rows
    for (int64_t r = 0; r < k; ++r) A[r] = {s.J + (s0 + r) * n, 1};
    int64_t rows_total = k;
    const T *S = s.dense_S + b * n * s.dense_rows;
    for (; entry_e < dense_end && s.dense_col[entry_e] - base < c + width; ++entry_e) {
      const int64_t m = s.dense_scol[entry_e];
      if (rows_total == k || A[rows_total - 1].first != S + m) {
        A[rows_total] = {S + m, s.dense_rows};
        std::fill(R.data() + rows_total * CHUNK, R.data() + (rows_total + 1) * CHUNK, T(0));
        ++rows_total;
      }
      R[(rows_total - 1) * CHUNK + s.dense_col[entry_e] - base - c] = s.dense_val[entry_e];
    }
    const T *wt = s.weight + b * n;
    if constexpr (FIXED > 0)
      rows_and_gradient(k, rows_total, wt, c, t);
    else
      rows_and_gradient_narrow(k, rows_total, wt, c, width, t);
  }

  // Every row of the chunk: y += J[row, :] R where written, then gacc += w_row y; the chunk's CHUNK
  // columns stay in registers (GCC vector types) while the source rows stream from L1, four rows at
  // a time so that each source row loaded serves four rows' FMAs.
  void rows_and_gradient(int64_t k, int64_t rows_total, const T *wt, int64_t c, int64_t t) {
    Vec<T> gacc[CHUNK * sizeof(T) / sizeof(Vec<T>)] = {};
    int64_t count = 0, row = 0;
    for (; row + 4 <= n; row += 4) {
      if (written[row] && written[row + 1] && written[row + 2] && written[row + 3])
        row_block<4>(row, k, rows_total, true, wt, c, gacc, count);
      else
        for (int64_t i = 0; i < 4; ++i) row_block<1>(row + i, k, rows_total, written[row + i], wt, c, gacc, count);
    }
    for (; row < n; ++row) row_block<1>(row, k, rows_total, written[row], wt, c, gacc, count);
    constexpr int64_t L = sizeof(Vec<T>) / sizeof(T);
    for (int64_t q = 0; q < CHUNK / L; ++q)
      for (int64_t i = 0; i < L; ++i) gt[c + q * L + i] += gacc[q][i];
    if (nonzero != nullptr) nonzero[t * B + b] += count;
  }

  template <int64_t RB>
  void row_block(int64_t row, int64_t k, int64_t rows_total, bool update, const T *wt, int64_t c, Vec<T> *gacc,
                 int64_t &count) {
    using V = Vec<T>;
    constexpr int64_t L = sizeof(V) / sizeof(T), NV = CHUNK / L;
    V acc[RB][NV];
#pragma GCC unroll 16
    for (int64_t i = 0; i < RB; ++i)
#pragma GCC unroll 8
      for (int64_t q = 0; q < NV; ++q) __builtin_memcpy(&acc[i][q], P + (row + i) * ld + c + q * L, sizeof(V));
    for (int64_t r = update ? 0 : k; r < rows_total; ++r) {
        V x[NV];
#pragma GCC unroll 8
        for (int64_t q = 0; q < NV; ++q) __builtin_memcpy(&x[q], R.data() + r * CHUNK + q * L, sizeof(V));
#pragma GCC unroll 16
        for (int64_t i = 0; i < RB; ++i) {
          const T a = A[r].first[(row + i) * A[r].second];
#pragma GCC unroll 8
          for (int64_t q = 0; q < NV; ++q) acc[i][q] += a * x[q];
        }
      }
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

  // The same for a chunk narrower than CHUNK (the end of a tile), one column at a time.
  void rows_and_gradient_narrow(int64_t k, int64_t rows_total, const T *wt, int64_t c, int64_t width, int64_t t) {
    int64_t count = 0;
    for (int64_t j = 0; j < width; ++j) {
      T gsum = 0;
      for (int64_t row = 0; row < n; ++row) {
        T &y = P[row * ld + c + j];
        for (int64_t r = written[row] ? 0 : k; r < rows_total; ++r)
          y += A[r].first[row * A[r].second] * R[r * CHUNK + j];
        gsum += wt[row] * y;
        count += y != T(0);
      }
      gt[c + j] += gsum;
    }
    if (nonzero != nullptr) nonzero[t * B + b] += count;
  }

  void walk(const std::vector<Step<T>> &steps, const std::vector<int64_t> &edges,
             const std::vector<int64_t> &diag_bounds) {
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
        const int64_t *eb = s.dense_bounds + b * (tiles + 1);
        int64_t entry_d = diag_bounds[tile], entry_e = eb[tile];
        for (int64_t c = 0; c < width; c += CHUNK) {
          if (width - c >= CHUNK)
            chunk<CHUNK>(s, t, c, CHUNK, entry_d, diag_bounds[tile + 1], entry_e, eb[tile + 1]);
          else
            chunk<0>(s, t, c, width - c, entry_d, diag_bounds[tile + 1], entry_e, eb[tile + 1]);
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
  //    diag, dense_S, dense_col, dense_scol, dense_val, dense_bounds, weight (each per step)
  std::vector<Step<T>> out(clear.size());
  for (size_t t = 0; t < out.size(); ++t) {
    auto i64 = [&](int field) { return f[field][t].data_ptr<int64_t>(); };
    auto real = [&](int field) { return f[field][t].data_ptr<T>(); };
    for (const auto &tensors : f) TORCH_CHECK(tensors[t].is_contiguous(), "walk: inputs must be contiguous");
    out[t] = Step<T>{i64(0),  i64(1),      real(2),  i64(3),  i64(4),  i64(5),  i64(7),
                     real(6), i64(8),      i64(9),   clear[t], all_rows[t], real(10), f[10][t].size(1),
                     real(11), f[11][t].size(2), i64(12), i64(13), i64(15), real(14), real(16)};
  }
  return out;
}

}  // namespace

void walk(Tensor M, Tensor grads, Tensor nonzero, std::vector<int64_t> edges, Tensor diag_rows, Tensor diag_cols,
          std::vector<int64_t> diag_bounds, Tensors src, Tensors src_off, Tensors J, Tensors restart,
          Tensors restart_off, Tensors fold, Tensors fold_factor, Tensors fold_off, Tensors rows, Tensors rows_off,
          std::vector<bool> clear, std::vector<bool> all_rows, Tensors diag, Tensors dense_S, Tensors dense_col,
          Tensors dense_scol, Tensors dense_val, Tensors dense_bounds, Tensors weight) {
  TORCH_CHECK(M.is_contiguous() && grads.is_contiguous(), "walk: M and grads must be contiguous");
  const std::vector<Tensors> fields{src,  src_off, J,       restart,   restart_off, fold,       fold_factor, fold_off, rows,
                                    rows_off, diag, dense_S, dense_col, dense_scol,  dense_val, dense_bounds, weight};
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
                                diag_rows.data_ptr<int64_t>(),
                                diag_cols.data_ptr<int64_t>(),
                                nonzero.numel() ? nonzero.data_ptr<int64_t>() : nullptr,
                                std::vector<scalar_t>(static_cast<size_t>((n + CHUNK) * CHUNK)),
                                std::vector<std::pair<const scalar_t *, int64_t>>(static_cast<size_t>(n + CHUNK)),
                                std::vector<char>(static_cast<size_t>(n))};
        sample.walk(steps, edges, diag_bounds);
      }
    });
  });
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("walk", &walk, "sparse RTRL window walk"); }
