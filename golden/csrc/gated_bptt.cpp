// The gated cells' dense forward pass and BPTT backward pass over a whole sequence (golden.cells
// GatedCell documents the equations; golden/bptt.py the adjoint recursion). Per step two matrix
// products (at::addmm / at::mm, as torch's own GRU) and one fused elementwise loop over the batch, so
// that a step costs its products and one pass over [B, n], not a dozen tensor operations.
//
// Variants: 0 GRU, 1 EGRU with the paper's reset (c = u z + (1 - u) c' - y'), 2 EGRU with the
// subtractive reset (c = u z + (1 - u)(c' - theta o')).
//
// forward(x [T, B, n_in]; W_ur = [W_u; W_r], b_ur, W_z, b_z; V_ur = [V_u; V_r] [2n, n]; V_z; theta [n])
//   -> records, one [T + 1, B, n] per key, step 0 all zero; keys c y o dH u r z d (EGRU), h u r z d (GRU):
//   u, r = sigmoid(W_ur x + b_ur + V_ur out'),  z = tanh(W_z x + b_z + V_z (r out')),
//   EGRU: c as above, o = H(c - theta), dH = gamma max(0, 1 - |c - theta| / epsilon), y = c o, d = o + c dH
//   GRU: h = u z + (1 - u) h', d = 1
// backward(records, cbar [T, B, n], V_ur, V_z, theta) -> (AW [T, B, 2n], Bz [T, B, n], TH [T, B, n]):
//   delta_t = cbar_t + J_{t+1}^T delta_{t+1};  a = coef_u delta, b = coef_z delta, v = V_z^T b,
//   w = out' r (1 - r) v,  G^T delta = [V_u; V_r]^T [a; w] + r v  [- delta: paper reset],
//   J^T delta = decay delta + src' G^T delta;  AW = [a | w], Bz = b,
//   TH = -c' dH' G^T delta  [+ (1 - u)(theta dH' - o') delta: subtractive]  (theta's S^T delta)

#include <torch/extension.h>

#include <cmath>
#include <vector>

namespace {

using at::Tensor;

constexpr int64_t GRU = 0, PAPER = 1, SUBTRACTIVE = 2;

// Record planes of the EGRU and of the GRU (the GRU's state h sits in plane 0 as c does).
enum Egru { C, Y, O, DH, U, R, Z, D, EGRU_KEYS };
enum Gru { H, GU, GR, GZ, GD, GRU_KEYS };

// The record entries, each [T + 1, B, n] (record_keys' order), step t of entry `key` at at(key, t).
template <typename T>
struct Planes {
  std::vector<T *> base;
  int64_t step;  // elements per step: B n
  Planes(const std::vector<Tensor> &records)
      : step(records[0].size(1) * records[0].size(2)) {
    for (const auto &r : records) base.push_back(r.data_ptr<T>());
  }
  T *at(int key, int64_t t) const { return base[key] + t * step; }
};

template <typename T>
void forward_loop(const Tensor &x, const Tensor &W_ur, const Tensor &b_ur, const Tensor &W_z, const Tensor &b_z,
                  const Tensor &V_ur, const Tensor &V_z, const Tensor &theta, int64_t variant, double gamma,
                  double epsilon, const std::vector<Tensor> &records) {
  const int64_t T_ = x.size(0), B = x.size(1), n = V_z.size(0), bn = B * n;
  const bool egru = variant != GRU;
  const int uk = egru ? U : GU, rk = egru ? R : GR, zk = egru ? Z : GZ, dk = egru ? D : GD;
  const int out_key = egru ? Y : H;
  const Planes<T> rec(records);
  const T *th = egru ? theta.data_ptr<T>() : nullptr;
  const T g = static_cast<T>(gamma), eps = static_cast<T>(epsilon);
  Tensor ur = at::empty({B, 2 * n}, x.options()), ro = at::empty({B, n}, x.options());
  Tensor zpre = at::empty({B, n}, x.options());
  const Tensor V_ur_t = V_ur.t(), V_z_t = V_z.t(), W_ur_t = W_ur.t(), W_z_t = W_z.t();
  for (int64_t t = 1; t <= T_; ++t) {
    const Tensor x_t = x[t - 1];
    const Tensor out = at::from_blob(rec.at(out_key, t - 1), {B, n}, x.options());
    at::addmm_out(ur, b_ur, x_t, W_ur_t);
    ur.addmm_(out, V_ur_t).sigmoid_();  // torch's vectorised sigmoid and tanh
    const T *gates = ur.data_ptr<T>(), *out_prev = out.data_ptr<T>();
    T *u = rec.at(uk, t), *r = rec.at(rk, t), *rop = ro.data_ptr<T>();
    for (int64_t b = 0; b < B; ++b)
      for (int64_t k = 0; k < n; ++k) {
        const int64_t i = b * n + k;
        u[i] = gates[b * 2 * n + k];
        r[i] = gates[b * 2 * n + n + k];
        rop[i] = r[i] * out_prev[i];
      }
    at::addmm_out(zpre, b_z, x_t, W_z_t);
    zpre.addmm_(ro, V_z_t).tanh_();
    const T *zp = zpre.data_ptr<T>();
    T *z = rec.at(zk, t), *d = rec.at(dk, t), *s = rec.at(egru ? C : H, t);
    const T *s_prev = rec.at(egru ? C : H, t - 1);
    if (!egru) {
      for (int64_t i = 0; i < bn; ++i) {
        z[i] = zp[i];
        s[i] = u[i] * z[i] + (T(1) - u[i]) * s_prev[i];
        d[i] = T(1);
      }
      continue;
    }
    T *y = rec.at(Y, t), *o = rec.at(O, t), *dH = rec.at(DH, t);
    const T *o_prev = rec.at(O, t - 1);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t k = 0; k < n; ++k) {
        const int64_t i = b * n + k;
        z[i] = zp[i];
        const T keep = T(1) - u[i];
        const T c = variant == SUBTRACTIVE ? u[i] * z[i] + keep * (s_prev[i] - th[k] * o_prev[i])
                                           : u[i] * z[i] + keep * s_prev[i] - out_prev[i];
        const T v = c - th[k];
        s[i] = c;
        o[i] = v > T(0) ? T(1) : T(0);
        dH[i] = g * std::max(T(0), T(1) - std::abs(v) / eps);
        y[i] = c * o[i];
        d[i] = o[i] + c * dH[i];
      }
  }
}

template <typename T>
void backward_loop(const std::vector<Tensor> &records, const Tensor &cbar, const Tensor &V_ur, const Tensor &V_z,
                   const Tensor &theta, int64_t variant, Tensor &AW, Tensor &Bz, Tensor &TH) {
  const int64_t T_ = cbar.size(0), B = cbar.size(1), n = cbar.size(2), bn = B * n;
  const bool egru = variant != GRU;
  const int uk = egru ? U : GU, rk = egru ? R : GR, zk = egru ? Z : GZ;
  const int out_key = egru ? Y : H, state_key = egru ? C : H;
  const Planes<T> rec(records);
  const T *th = egru ? theta.data_ptr<T>() : nullptr;
  const T *cb = cbar.data_ptr<T>();
  T *aw = AW.data_ptr<T>(), *bz = Bz.data_ptr<T>(), *tht = egru ? TH.data_ptr<T>() : nullptr;
  std::vector<T> carried(static_cast<size_t>(bn), T(0)), delta(static_cast<size_t>(bn));
  Tensor v = at::empty({B, n}, cbar.options()), GT = at::empty({B, n}, cbar.options());
  const T *vp = v.data_ptr<T>(), *gt = GT.data_ptr<T>();
  for (int64_t t = T_ - 1; t >= 0; --t) {
    const int64_t now = t + 1;  // record index of step t (record 0 is the initial state)
    const T *u = rec.at(uk, now), *r = rec.at(rk, now), *z = rec.at(zk, now);
    const T *out = rec.at(out_key, t), *q = rec.at(state_key, t);
    const T *o_prev = egru ? rec.at(O, t) : nullptr;
    T *aw_t = aw + t * 2 * bn, *b = bz + t * bn;  // row bb of AW_t: a at [0, n), w at [n, 2n)
    for (int64_t bb = 0; bb < B; ++bb)
      for (int64_t k = 0; k < n; ++k) {
        const int64_t i = bb * n + k;
        const T carried_state = variant == SUBTRACTIVE ? q[i] - th[k] * o_prev[i] : q[i];
        delta[i] = cb[t * bn + i] + carried[i];
        aw_t[bb * 2 * n + k] = (z[i] - carried_state) * u[i] * (T(1) - u[i]) * delta[i];
        b[i] = u[i] * (T(1) - z[i] * z[i]) * delta[i];
      }
    at::mm_out(v, Bz[t], V_z);
    for (int64_t bb = 0; bb < B; ++bb)
      for (int64_t k = 0; k < n; ++k) {
        const int64_t i = bb * n + k;
        aw_t[bb * 2 * n + n + k] = out[i] * r[i] * (T(1) - r[i]) * vp[i];
      }
    at::mm_out(GT, AW[t], V_ur);
    const T *src = egru ? rec.at(D, t) : nullptr, *dH_prev = egru ? rec.at(DH, t) : nullptr;
    const T *c_prev = egru ? rec.at(C, t) : nullptr;
    for (int64_t bb = 0; bb < B; ++bb)
      for (int64_t k = 0; k < n; ++k) {
        const int64_t i = bb * n + k;
        T g = gt[i] + r[i] * vp[i];
        if (variant == PAPER) g -= delta[i];
        T decay = T(1) - u[i];
        if (variant == SUBTRACTIVE) decay *= T(1) - th[k] * dH_prev[i];
        carried[i] = decay * delta[i] + (egru ? src[i] * g : g);
        if (!egru) continue;
        T theta_credit = -c_prev[i] * dH_prev[i] * g;
        if (variant == SUBTRACTIVE) theta_credit += (T(1) - u[i]) * (th[k] * dH_prev[i] - o_prev[i]) * delta[i];
        tht[t * bn + i] = theta_credit;
      }
  }
}

void check(const Tensor &x, const char *name) {
  TORCH_CHECK(x.is_contiguous(), "gated_bptt: ", name, " must be contiguous");
}

}  // namespace

std::vector<Tensor> forward(Tensor x, Tensor W_ur, Tensor b_ur, Tensor W_z, Tensor b_z, Tensor V_ur, Tensor V_z,
                            Tensor theta, int64_t variant, double gamma, double epsilon) {
  for (const auto &[t, name] : {std::pair{x, "x"}, {W_ur, "W_ur"}, {b_ur, "b_ur"}, {W_z, "W_z"}, {b_z, "b_z"},
                                {V_ur, "V_ur"}, {V_z, "V_z"}, {theta, "theta"}})
    check(t, name);
  std::vector<Tensor> records;
  for (int key = 0; key < (variant == GRU ? GRU_KEYS : EGRU_KEYS); ++key) {  // every step but 0 is written
    records.push_back(at::empty({x.size(0) + 1, x.size(1), V_z.size(0)}, x.options()));
    records.back()[0].zero_();
  }
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "gated_forward", [&] {
    forward_loop<scalar_t>(x, W_ur, b_ur, W_z, b_z, V_ur, V_z, theta, variant, gamma, epsilon, records);
  });
  return records;
}

std::vector<Tensor> backward(std::vector<Tensor> records, Tensor cbar, Tensor V_ur, Tensor V_z, Tensor theta,
                             int64_t variant) {
  for (const auto &[x, name] : {std::pair{cbar, "cbar"}, {V_ur, "V_ur"}, {V_z, "V_z"}, {theta, "theta"}}) check(x, name);
  TORCH_CHECK(records.size() == static_cast<size_t>(variant == GRU ? GRU_KEYS : EGRU_KEYS), "gated_bptt: record keys");
  for (const auto &r : records) {
    check(r, "records");
    TORCH_CHECK(r.size(0) == cbar.size(0) + 1 && r.size(1) == cbar.size(1) && r.size(2) == cbar.size(2),
                "gated_bptt: records must be [T + 1, B, n] beside cbar [T, B, n]");
  }
  const int64_t T_ = cbar.size(0), B = cbar.size(1), n = cbar.size(2);
  Tensor AW = at::empty({T_, B, 2 * n}, cbar.options()), Bz = at::empty({T_, B, n}, cbar.options());
  Tensor TH = variant == GRU ? at::empty({0}, cbar.options()) : at::empty({T_, B, n}, cbar.options());
  AT_DISPATCH_FLOATING_TYPES(cbar.scalar_type(), "gated_backward", [&] {
    backward_loop<scalar_t>(records, cbar, V_ur, V_z, theta, variant, AW, Bz, TH);
  });
  return {AW, Bz, TH};
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &forward, "gated cells' dense forward pass over a sequence");
  m.def("backward", &backward, "gated cells' BPTT backward pass over a sequence");
}
