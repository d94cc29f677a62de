// The fused CPU step of Lion, AdaBelief and EXAdam: one call per parameter group, one pass over memory
// per tensor, OpenMP over blocks of work. Built at first use by optarena/optim/_fused.py, which documents
// the Python side; the update formulas are those of the readable loops in lion.py, adabelief.py and
// exadam.py (same operations in the same order, scalars in the state's dtype, 16-bit parameters
// computed in float32 and rounded once).
//
// Two entry points, both return what they did not update (the caller's loop takes it):
//   step_lists(hyper, lists, steps) -> [index]   lists = (params, grads, state_1, ...), flat lists of
//       tensors (complex ones already viewed as real); steps[i] is a float32 0-dim tensor (incremented
//       here) or an int (the step, already counted).
//   step_state(hyper, params, state, keys) -> [param]   params = a group's parameters; each one with a
//       grad is looked up in the optimizer's ``state`` dict: state[p][key] for key in ``keys`` and
//       state[p]["step"] (a float32 0-dim tensor or an int, incremented here). A parameter without grad is
//       skipped; one without complete state (its first step), or with anything the kernels do not take
//       (device, dtype, layout, tensor subclass), is returned.
// hyper = (algo, flags, lr, beta1, beta2, eps, weight_decay). Nothing is written unless every returned
// entry was left untouched: all checks run before the first write.

#include <Python.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>
#include <omp.h>
#include <torch/csrc/autograd/python_variable.h>
#include <torch/csrc/autograd/variable.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace {

enum Algo { LION = 0, ADABELIEF = 1, EXADAM = 2 };
enum Flag { MAXIMIZE = 1, DECOUPLED = 2, AMSGRAD = 4, RECTIFY = 8, LR_V1 = 16 };
enum Kind { F32 = 0, F64 = 1, BF16 = 2, F16 = 3 };

constexpr int64_t BLOCK = 1 << 15;  // elements per unit of parallel work

struct Hyper {
  int algo, flags;
  double lr, beta1, beta2, eps, wd;
};

struct Item {
  void* p;
  const void* g;
  void* s[3];
  int64_t n;  // real elements
  int kind;
  double step;
  double c[4];  // per-step numbers (see coefficients)
};

int n_states(const Hyper& h) {
  if (h.algo == LION) return 1;
  if (h.algo == ADABELIEF) return (h.flags & AMSGRAD) ? 3 : 2;
  return 2;
}

// --- per-step numbers, operation for operation as the Python of each optimizer ----------------------

void coefficients(const Hyper& h, double step, double* c) {
  if (h.algo == ADABELIEF) {  // adabelief._step_sizes: c = (-step_size, sqrt_bc2, adaptive)
    double bias_correction1 = 1 - std::pow(h.beta1, step);
    double bias_correction2 = 1 - std::pow(h.beta2, step);
    if (!(h.flags & RECTIFY)) {
      c[0] = -(h.lr / bias_correction1), c[1] = std::sqrt(bias_correction2), c[2] = 1.0;
      return;
    }
    double beta2_t = std::pow(h.beta2, step);
    double n_sma_max = 2 / (1 - h.beta2) - 1;
    double n_sma = n_sma_max - 2 * step * beta2_t / (1 - beta2_t);
    if (n_sma >= 5) {
      double step_size = std::sqrt((1 - beta2_t) * (n_sma - 4) / (n_sma_max - 4) * (n_sma - 2) / n_sma *
                                   n_sma_max / (n_sma_max - 2)) /
                         (1 - std::pow(h.beta1, step));
      c[0] = -(step_size * h.lr), c[1] = 1.0, c[2] = 1.0;
    } else {
      c[0] = -(1.0 / (1 - std::pow(h.beta1, step)) * h.lr), c[1] = 1.0, c[2] = 0.0;
    }
  } else if (h.algo == EXADAM) {  // exadam._coefficients: c = (beta1^t, beta2^t, 1 - beta2^t, -lr_t/bc1)
    double b1t = std::pow(h.beta1, step);
    double b2t = std::pow(h.beta2, step);
    double lr_t = (h.flags & LR_V1) ? h.lr * std::log(std::sqrt(2.0 * (step + 1))) : h.lr;
    c[0] = b1t, c[1] = b2t, c[2] = 1.0 - b2t, c[3] = -lr_t / (1.0 - b1t);
  }
}

// --- the kernels: elements [lo, hi) of one tensor --------------------------------------------------

template <class S>
__attribute__((always_inline)) inline S maximum(S a, S b) {  // torch.maximum: NaN if either is NaN
  return (a != a || b != b) ? a + b : (a > b ? a : b);
}

template <class P, class S>
__attribute__((always_inline)) inline void lion_kernel(const Hyper& h, const Item& it, int64_t lo, int64_t hi) {
  P* __restrict p = static_cast<P*>(it.p);
  const P* __restrict g = static_cast<const P*>(it.g);
  S* __restrict m = static_cast<S*>(it.s[0]);
  const S sgn = (h.flags & MAXIMIZE) ? S(-1) : S(1);
  const S decay = S(1.0 - h.lr * h.wd), b1 = S(h.beta1), omb1 = S(1.0 - h.beta1);
  const S b2 = S(h.beta2), omb2 = S(1.0 - h.beta2), neg_lr = S(-h.lr);
  for (int64_t i = lo; i < hi; ++i) {
    const S grad = static_cast<S>(g[i]) * sgn;
    const S c = m[i] * b1 + grad * omb1;
    const S update = S((c > S(0)) - (c < S(0)));
    p[i] = static_cast<P>(static_cast<S>(p[i]) * decay + neg_lr * update);
    m[i] = m[i] * b2 + grad * omb2;
  }
}

template <class P, class S, bool L2, bool AMS, bool FROM_MAX, bool ADAPTIVE>
__attribute__((always_inline)) inline void adabelief_kernel(const Hyper& h, const Item& it, int64_t lo, int64_t hi) {
  P* __restrict p = static_cast<P*>(it.p);
  const P* __restrict g = static_cast<const P*>(it.g);
  S* __restrict m = static_cast<S*>(it.s[0]);
  S* __restrict s = static_cast<S*>(it.s[1]);
  S* __restrict s_max = static_cast<S*>(it.s[2]);
  const S sgn = (h.flags & MAXIMIZE) ? S(-1) : S(1);
  const bool decoupled = (h.flags & DECOUPLED) != 0;
  const S decay = S(decoupled ? 1.0 - h.lr * h.wd : 1.0), wd = S(h.wd);
  const S b1 = S(h.beta1), omb1 = S(1 - h.beta1), b2 = S(h.beta2), omb2 = S(1 - h.beta2), eps = S(h.eps);
  const S neg_step = S(it.c[0]), sqrt_bc2 = S(it.c[1]);
  for (int64_t i = lo; i < hi; ++i) {
    S theta = static_cast<S>(p[i]) * decay;
    S grad = static_cast<S>(g[i]) * sgn;
    if (L2) grad = grad + wd * theta;
    const S m_new = m[i] * b1 + grad * omb1;
    const S r = grad - m_new;
    const S s_new = s[i] * b2 + omb2 * r * r + eps;
    S base = s_new;
    if (AMS) {
      const S mx = maximum(s_max[i], s_new);
      s_max[i] = mx;
      if (FROM_MAX) base = mx;
    }
    if (ADAPTIVE) {
      const S denom = std::sqrt(base) / sqrt_bc2 + eps;
      theta = theta + neg_step * (m_new / denom);
    } else {
      theta = theta + neg_step * m_new;
    }
    p[i] = static_cast<P>(theta);
    m[i] = m_new;
    s[i] = s_new;
  }
}

template <class P, class S>
__attribute__((always_inline)) inline void exadam_kernel(const Hyper& h, const Item& it, int64_t lo, int64_t hi) {
  P* __restrict p = static_cast<P*>(it.p);
  const P* __restrict g = static_cast<const P*>(it.g);
  S* __restrict m = static_cast<S*>(it.s[0]);
  S* __restrict v = static_cast<S*>(it.s[1]);
  const S sgn = (h.flags & MAXIMIZE) ? S(-1) : S(1);
  const S decay = S(1.0 - h.lr * h.wd), w = S(1.0 - h.beta1), b2 = S(h.beta2), omb2 = S(1.0 - h.beta2);
  const S eps = S(h.eps), b1t = S(it.c[0]), b2t = S(it.c[1]), bc2 = S(it.c[2]), neg_step = S(it.c[3]);
  const bool small_w = std::abs(1.0 - h.beta1) < 0.5;  // torch.lerp's two formulas
  for (int64_t i = lo; i < hi; ++i) {
    const S grad = static_cast<S>(g[i]) * sgn;
    const S theta = static_cast<S>(p[i]) * decay;
    const S diff = grad - m[i];
    const S m_new = small_w ? m[i] + w * diff : grad - diff * (S(1) - w);
    const S v_new = v[i] * b2 + omb2 * grad * grad;
    const S d1 = v_new / (v_new + eps) * b2t + S(1);
    const S msq = m_new * m_new;
    const S d2 = msq / (msq + eps) * b1t + S(1);
    const S num = (m_new + grad) * d1;
    const S den = std::sqrt(v_new / bc2 * d2) + eps;
    p[i] = static_cast<P>(theta + neg_step * (num / den));
    m[i] = m_new;
    v[i] = v_new;
  }
}

template <class P, class S>
__attribute__((always_inline)) inline void run_typed(const Hyper& h, const Item& it, int64_t lo, int64_t hi) {
  if (h.algo == LION) return lion_kernel<P, S>(h, it, lo, hi);
  if (h.algo == EXADAM) return exadam_kernel<P, S>(h, it, lo, hi);
  const bool l2 = !(h.flags & DECOUPLED) && h.wd != 0, ams = (h.flags & AMSGRAD) != 0;
  const bool from_max = ams && !(h.flags & RECTIFY), adaptive = it.c[2] > 0;
  // 2^4 instantiations of one loop; each flag is then a constant the compiler folds.
#define OPTARENA_AB(A, B, C, D)                                 \
  if (l2 == A && ams == B && from_max == C && adaptive == D) \
    return adabelief_kernel<P, S, A, B, C, D>(h, it, lo, hi);
#define OPTARENA_AB2(A, B, C) OPTARENA_AB(A, B, C, true) OPTARENA_AB(A, B, C, false)
#define OPTARENA_AB3(A, B) OPTARENA_AB2(A, B, true) OPTARENA_AB2(A, B, false)
  OPTARENA_AB3(true, true) OPTARENA_AB3(true, false) OPTARENA_AB3(false, true) OPTARENA_AB3(false, false)
#undef OPTARENA_AB3
#undef OPTARENA_AB2
#undef OPTARENA_AB
}

// One entry per dtype, compiled for AVX2 (x86-64-v3) and baseline x86-64 (picked at load time by the CPU;
// the kernels are inlined into each), so that division and square root do not bound the step.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define OPTARENA_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define OPTARENA_CLONES
#endif
OPTARENA_CLONES void run_f32(const Hyper& h, const Item& it, int64_t lo, int64_t hi) {
  run_typed<float, float>(h, it, lo, hi);
}
OPTARENA_CLONES void run_f64(const Hyper& h, const Item& it, int64_t lo, int64_t hi) {
  run_typed<double, double>(h, it, lo, hi);
}
OPTARENA_CLONES void run_bf16(const Hyper& h, const Item& it, int64_t lo, int64_t hi) {
  run_typed<c10::BFloat16, float>(h, it, lo, hi);
}
OPTARENA_CLONES void run_f16(const Hyper& h, const Item& it, int64_t lo, int64_t hi) {
  run_typed<c10::Half, float>(h, it, lo, hi);
}

void run(const Hyper& h, const Item& it, int64_t lo, int64_t hi) {
  switch (it.kind) {
    case F32: return run_f32(h, it, lo, hi);
    case F64: return run_f64(h, it, lo, hi);
    case BF16: return run_bf16(h, it, lo, hi);
    case F16: return run_f16(h, it, lo, hi);
  }
}

// --- the driver ------------------------------------------------------------------------------------

struct Unit {
  int64_t a, b, lo, hi;  // items [a, b); when b == a + 1, elements [lo, hi) of item a (else all)
};

void execute(const Hyper& h, std::vector<Item>& items) {
  double last = -1.0, c[4] = {0, 0, 0, 0};
  int64_t total = 0;
  for (Item& it : items) {  // numbers per distinct step (steps usually agree across tensors)
    if (it.step != last) coefficients(h, it.step, c), last = it.step;
    std::copy(c, c + 4, it.c);
    total += it.n;
  }
  std::vector<Unit> units;
  int64_t start = 0, acc = 0, n_items = static_cast<int64_t>(items.size());
  for (int64_t i = 0; i < n_items; ++i) {
    const int64_t n = items[i].n;
    if (n >= BLOCK) {
      if (start < i) units.push_back({start, i, 0, 0});
      for (int64_t lo = 0; lo < n; lo += BLOCK) units.push_back({i, i + 1, lo, std::min(n, lo + BLOCK)});
      start = i + 1, acc = 0;
    } else if ((acc += n) >= BLOCK) {
      units.push_back({start, i + 1, 0, 0});
      start = i + 1, acc = 0;
    }
  }
  if (start < n_items) units.push_back({start, n_items, 0, 0});
  const int64_t n_units = static_cast<int64_t>(units.size());
  auto work = [&](int64_t u) {
    const Unit& w = units[u];
    if (w.b == w.a + 1 && w.hi > 0) return run(h, items[w.a], w.lo, w.hi);
    for (int64_t i = w.a; i < w.b; ++i) run(h, items[i], 0, items[i].n);
  };
  if (total < 2 * BLOCK || omp_get_max_threads() == 1) {
    for (int64_t u = 0; u < n_units; ++u) work(u);
  } else {
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t u = 0; u < n_units; ++u) work(u);
  }
}

bool parse_hyper(PyObject* t, Hyper& h) {
  return PyArg_ParseTuple(t, "iiddddd", &h.algo, &h.flags, &h.lr, &h.beta1, &h.beta2, &h.eps, &h.wd);
}

// A plain tensor (Tensor or Parameter, no subclass), else nullptr.
const at::Tensor* tensor_of(PyObject* o) {
  return (o != nullptr && THPVariable_CheckExact(o)) ? &THPVariable_Unpack(o) : nullptr;
}

bool same_layout(const at::Tensor& a, const at::Tensor& b) {
  return b.device().is_cpu() && b.layout() == c10::kStrided && !b.is_conj() && !b.is_neg() &&
         a.sizes() == b.sizes() && a.strides() == b.strides();
}

// Fill ``it`` from parameter ``p``, its gradient and its state tensors; false if a kernel cannot take them.
bool make_item(const Hyper& h, const at::Tensor& p, const at::Tensor& g, const at::Tensor* const* s, Item& it) {
  if (!p.device().is_cpu() || p.layout() != c10::kStrided || p.is_conj() || p.is_neg() || p.is_inference() ||
      !p.is_non_overlapping_and_dense() || g.scalar_type() != p.scalar_type() || !same_layout(p, g))
    return false;
  c10::ScalarType state_type;
  int64_t width = 1;
  switch (p.scalar_type()) {
    case c10::kFloat: it.kind = F32, state_type = c10::kFloat; break;
    case c10::kDouble: it.kind = F64, state_type = c10::kDouble; break;
    case c10::kBFloat16: it.kind = BF16, state_type = c10::kFloat; break;
    case c10::kHalf: it.kind = F16, state_type = c10::kFloat; break;
    case c10::kComplexFloat: it.kind = F32, state_type = c10::kComplexFloat, width = 2; break;
    case c10::kComplexDouble: it.kind = F64, state_type = c10::kComplexDouble, width = 2; break;
    default: return false;
  }
  if (width == 2 && h.algo == EXADAM) return false;  // its cross-moment terms are not per real part
  const int k = n_states(h);
  for (int j = 0; j < k; ++j)
    if (s[j] == nullptr || s[j]->scalar_type() != state_type || !same_layout(p, *s[j])) return false;
  it.p = p.data_ptr();
  it.g = g.data_ptr();
  for (int j = 0; j < k; ++j) it.s[j] = s[j]->data_ptr();
  it.n = p.numel() * width;
  return true;
}

// A step counter: a float32 0-dim CPU tensor, or an int; false otherwise.
bool valid_step(PyObject* o) {
  if (o != nullptr && PyLong_CheckExact(o)) return true;
  const at::Tensor* t = tensor_of(o);
  return t != nullptr && t->device().is_cpu() && t->scalar_type() == c10::kFloat && t->dim() == 0 &&
         !t->is_inference();
}

void bump(const at::Tensor& p) { p.unsafeGetTensorImpl()->bump_version(); }

PyObject* step_lists(PyObject*, PyObject* args) {
  PyObject *hyper, *lists, *steps;
  if (!PyArg_ParseTuple(args, "OO!O!", &hyper, &PyTuple_Type, &lists, &PyList_Type, &steps)) return nullptr;
  Hyper h;
  if (!parse_hyper(hyper, h)) return nullptr;
  const int k = n_states(h);
  if (PyTuple_GET_SIZE(lists) != 2 + k) return PyErr_Format(PyExc_ValueError, "need %d lists", 2 + k);
  const Py_ssize_t n = PyList_GET_SIZE(steps);
  for (Py_ssize_t j = 0; j < 2 + k; ++j) {
    PyObject* l = PyTuple_GET_ITEM(lists, j);
    if (!PyList_Check(l) || PyList_GET_SIZE(l) != n) return PyErr_Format(PyExc_ValueError, "lists differ in length");
  }
  try {
    std::vector<Item> items;
    std::vector<Py_ssize_t> taken;
    PyObject* left = PyList_New(0);
    if (left == nullptr) return nullptr;
    for (Py_ssize_t i = 0; i < n; ++i) {
      const at::Tensor* p = tensor_of(PyList_GET_ITEM(PyTuple_GET_ITEM(lists, 0), i));
      const at::Tensor* g = tensor_of(PyList_GET_ITEM(PyTuple_GET_ITEM(lists, 1), i));
      const at::Tensor* s[3] = {nullptr, nullptr, nullptr};
      for (int j = 0; j < k; ++j) s[j] = tensor_of(PyList_GET_ITEM(PyTuple_GET_ITEM(lists, 2 + j), i));
      Item it;
      if (p && g && valid_step(PyList_GET_ITEM(steps, i)) && make_item(h, *p, *g, s, it)) {
        items.push_back(it), taken.push_back(i);
        continue;
      }
      PyObject* idx = PyLong_FromSsize_t(i);
      if (idx == nullptr || PyList_Append(left, idx) < 0) {
        Py_XDECREF(idx), Py_DECREF(left);
        return nullptr;
      }
      Py_DECREF(idx);
    }
    for (size_t j = 0; j < items.size(); ++j) {  // all checks passed: count the step, then update
      PyObject* o = PyList_GET_ITEM(steps, taken[j]);
      if (PyLong_CheckExact(o)) {
        items[j].step = PyLong_AsDouble(o);
      } else {
        float* t = THPVariable_Unpack(o).data_ptr<float>();
        *t += 1.0f;
        items[j].step = *t;
      }
      bump(THPVariable_Unpack(PyList_GET_ITEM(PyTuple_GET_ITEM(lists, 0), taken[j])));
    }
    execute(h, items);
    return left;
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
    return nullptr;
  }
}

PyObject* step_state(PyObject*, PyObject* args) {
  PyObject *hyper, *params, *state, *keys;
  if (!PyArg_ParseTuple(args, "OO!O!O!", &hyper, &PyList_Type, &params, &PyDict_Type, &state, &PyTuple_Type, &keys))
    return nullptr;
  Hyper h;
  if (!parse_hyper(hyper, h)) return nullptr;
  const int k = n_states(h);
  if (PyTuple_GET_SIZE(keys) != k) return PyErr_Format(PyExc_ValueError, "need %d state keys", k);
  static PyObject* step_key = PyUnicode_InternFromString("step");
  try {
    std::vector<Item> items;
    // What pass 2 needs, kept from pass 1 so that it looks nothing up again: the parameter (its
    // version counter), the step's float (tensor counters) or the state dict (int counters, else null).
    struct Taken {
      c10::TensorImpl* p;
      float* step;
      PyObject* st;
    };
    std::vector<Taken> taken;
    items.reserve(PyList_GET_SIZE(params)), taken.reserve(PyList_GET_SIZE(params));
    PyObject* left = PyList_New(0);
    if (left == nullptr) return nullptr;
    // state is usually filled in parameter order: walk it alongside the list, look up on a mismatch.
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    const Py_ssize_t n = PyList_GET_SIZE(params);
    for (Py_ssize_t i = 0; i < n; ++i) {
      PyObject* po = PyList_GET_ITEM(params, i);
      const at::Tensor* p = tensor_of(po);
      if (p != nullptr && !p->unsafeGetTensorImpl()->grad().defined()) continue;  // no grad: untouched
      PyObject* st = nullptr;
      if (p != nullptr) {
        if (PyDict_Next(state, &pos, &key, &value) && key == po) {
          st = value;
        } else {
          st = PyDict_GetItemWithError(state, po);  // hashes by id, in Python: slower
          if (st == nullptr && PyErr_Occurred()) {
            Py_DECREF(left);
            return nullptr;
          }
        }
      }
      Item it;
      PyObject* step = (st != nullptr && PyDict_Check(st)) ? PyDict_GetItemWithError(st, step_key) : nullptr;
      if (step != nullptr && valid_step(step)) {
        const at::Tensor* s[3] = {nullptr, nullptr, nullptr};
        for (int j = 0; j < k; ++j) s[j] = tensor_of(PyDict_GetItemWithError(st, PyTuple_GET_ITEM(keys, j)));
        if (make_item(h, *p, p->unsafeGetTensorImpl()->grad(), s, it)) {
          const bool is_int = PyLong_CheckExact(step);
          items.push_back(it);
          taken.push_back({p->unsafeGetTensorImpl(), is_int ? nullptr : THPVariable_Unpack(step).data_ptr<float>(),
                           is_int ? st : nullptr});
          continue;
        }
      }
      if (PyErr_Occurred() || PyList_Append(left, po) < 0) {
        Py_DECREF(left);
        return nullptr;
      }
    }
    for (size_t j = 0; j < items.size(); ++j) {  // all checks passed: count the step, then update
      if (taken[j].step != nullptr) {
        items[j].step = (*taken[j].step += 1.0f);
      } else {
        PyObject* st = taken[j].st;
        const long long t = PyLong_AsLongLong(PyDict_GetItem(st, step_key)) + 1;
        PyObject* next = PyLong_FromLongLong(t);
        if (next == nullptr || PyDict_SetItem(st, step_key, next) < 0) {
          Py_XDECREF(next), Py_DECREF(left);
          return nullptr;  // only after an allocation failure: earlier steps were counted
        }
        Py_DECREF(next);
        items[j].step = static_cast<double>(t);
      }
      taken[j].p->bump_version();
    }
    execute(h, items);
    return left;
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
    return nullptr;
  }
}


// --- flat blocks: parameters, gradients and state as views of one buffer each ----------------------
//
// A block (made by _flat.py) holds a group's parameters of one dtype whose data, gradients and state are
// views of four (Lion: three) contiguous buffers at the same element offsets, one step counter shared by
// all of them, and (set here) one version counter, the parameter buffer's. flat_step counts the step and
// then, per unit of work (about BLOCK elements: many small parameters, or a piece of a large one; each
// OpenMP thread a contiguous range of units), checks each of the unit's parameters from cached pointers
// (no Python objects): is it still its view of the parameter buffer, does it have a gradient, either its
// view of the gradient buffer or a dense tensor of its dtype and size (copied into the slot). The kernel
// then runs over the unit's parameters that passed, as over one tensor. A parameter that fails (given
// new data, a gradient that is None, sparse, of another dtype or strided) is left untouched and
// returned: the caller gives every parameter of the block its own step again (those returned keep the
// old count) and sends the returned ones down the per-tensor path. The reference counts of the buffers'
// storages stand in for what is not checked per parameter (see flat_step).

struct FlatUnit {
  int64_t a, b, lo, hi;  // parameters [a, b), elements [lo, hi) of the buffers
};

struct Block {
  std::vector<at::Tensor> params, gviews;
  std::vector<int64_t> offset, numel;  // in elements of the parameter buffer
  std::vector<c10::DispatchKeySet> keys;  // of each parameter, at the build
  std::vector<FlatUnit> units;
  at::Tensor pbuf, gbuf, state[3], step;
  const c10::StorageImpl *pstorage = nullptr, *gstorage = nullptr;
  caffe2::TypeMeta dtype;
  int kind = F32, n_state = 0;
  int64_t esize = 0, total = 0;
  bool released = false;
};

void free_block(PyObject* capsule) { delete static_cast<Block*>(PyCapsule_GetPointer(capsule, "optarena.flat")); }

// The block of a capsule; nullptr (with a ValueError) once flat_release emptied it.
Block* block_of(PyObject* capsule) {
  auto* b = static_cast<Block*>(PyCapsule_GetPointer(capsule, "optarena.flat"));
  if (b != nullptr && b->released) {
    PyErr_SetString(PyExc_ValueError, "the flat block was released");
    return nullptr;
  }
  return b;
}

// Units of about BLOCK elements: consecutive small parameters together, a large one in pieces.
void make_units(Block& b) {
  const int64_t n = static_cast<int64_t>(b.params.size());
  int64_t start = 0, acc = 0;
  auto close = [&](int64_t end) {
    if (start < end) b.units.push_back({start, end, b.offset[start], b.offset[end - 1] + b.numel[end - 1]});
    start = end, acc = 0;
  };
  for (int64_t i = 0; i < n; ++i) {
    if (b.numel[i] >= BLOCK) {
      close(i);
      for (int64_t lo = 0; lo < b.numel[i]; lo += BLOCK)
        b.units.push_back({i, i + 1, b.offset[i] + lo, b.offset[i] + std::min(b.numel[i], lo + BLOCK)});
      start = i + 1;
    } else if ((acc += b.numel[i]) >= BLOCK) {
      close(i + 1);
    }
  }
  close(n);
}

bool dense_like(const c10::TensorImpl* t, caffe2::TypeMeta dtype, int64_t n) {
  return t->device_type() == c10::kCPU && t->layout() == c10::kStrided && t->has_storage() &&
         t->dtype() == dtype && t->numel() == n && !t->is_conj() && !t->is_neg() && t->is_contiguous();
}

// flat_block(params, grad_views, pbuf, gbuf, states, step) -> capsule
PyObject* flat_block(PyObject*, PyObject* args) {
  PyObject *params, *gviews, *pbuf, *gbuf, *states, *step;
  if (!PyArg_ParseTuple(args, "O!O!OOO!O", &PyList_Type, &params, &PyList_Type, &gviews, &pbuf, &gbuf,
                        &PyTuple_Type, &states, &step))
    return nullptr;
  const Py_ssize_t n = PyList_GET_SIZE(params);
  const at::Tensor *pb = tensor_of(pbuf), *gb = tensor_of(gbuf), *st = tensor_of(step);
  if (pb == nullptr || gb == nullptr || st == nullptr || !valid_step(step) || PyList_GET_SIZE(gviews) != n ||
      PyTuple_GET_SIZE(states) > 3 || gb->dtype() != pb->dtype() || gb->numel() != pb->numel() ||
      !pb->is_contiguous() || !gb->is_contiguous() || pb->storage_offset() != 0 || gb->storage_offset() != 0)
    return PyErr_Format(PyExc_ValueError, "flat_block: bad arguments");
  auto* b = new Block();
  b->pbuf = *pb, b->gbuf = *gb, b->step = *st, b->dtype = pb->dtype(), b->esize = pb->element_size();
  b->pstorage = pb->storage().unsafeGetStorageImpl(), b->gstorage = gb->storage().unsafeGetStorageImpl();
  b->total = pb->numel();
  switch (pb->scalar_type()) {
    case c10::kFloat: b->kind = F32; break;
    case c10::kDouble: b->kind = F64; break;
    case c10::kBFloat16: b->kind = BF16; break;
    case c10::kHalf: b->kind = F16; break;
    default: delete b; return PyErr_Format(PyExc_ValueError, "flat_block: unsupported dtype");
  }
  const c10::ScalarType state_type = b->kind == F64 ? c10::kDouble : c10::kFloat;
  for (Py_ssize_t j = 0; j < PyTuple_GET_SIZE(states); ++j) {
    const at::Tensor* s = tensor_of(PyTuple_GET_ITEM(states, j));
    if (s == nullptr || s->numel() != b->total || !s->is_contiguous() || s->scalar_type() != state_type) {
      delete b;
      return PyErr_Format(PyExc_ValueError, "flat_block: bad state buffer %zd", j);
    }
    b->state[j] = *s;
  }
  b->n_state = static_cast<int>(PyTuple_GET_SIZE(states));
  const char* gbase = static_cast<const char*>(gb->const_data_ptr());
  int64_t next = 0;
  for (Py_ssize_t i = 0; i < n; ++i) {
    const at::Tensor *p = tensor_of(PyList_GET_ITEM(params, i)), *g = tensor_of(PyList_GET_ITEM(gviews, i));
    const int64_t at = g == nullptr ? -1 : (static_cast<const char*>(g->const_data_ptr()) - gbase) / b->esize;
    if (p == nullptr || g == nullptr || p->numel() == 0 || g->numel() != p->numel() || at != next ||
        p->is_conj() || p->is_neg() || p->is_inference()) {
      delete b;
      return PyErr_Format(PyExc_ValueError, "flat_block: parameter %zd is not the next slot or not a plain tensor", i);
    }
    b->params.push_back(*p), b->gviews.push_back(*g);
    b->keys.push_back(p->key_set());
    p->unsafeGetTensorImpl()->set_version_counter(pb->unsafeGetTensorImpl()->version_counter());
    b->offset.push_back(at), b->numel.push_back(p->numel());
    next += p->numel();
  }
  if (next != b->total) {
    delete b;
    return PyErr_Format(PyExc_ValueError, "flat_block: the parameters do not fill the buffers");
  }
  make_units(*b);
  return PyCapsule_New(b, "optarena.flat", free_block);
}

// What check_param reads of a parameter's TensorImpl: its storage and autograd-meta pointers (bytes
// 16-31 in torch 2.13) and its storage offset, numel, dtype, device, flags and key set (the last 32
// bytes); of its AutogradMeta, the gradient (read as the member, without the virtual call).
void prefetch_param(const c10::TensorImpl* t) {
  const char* q = reinterpret_cast<const char*>(t);
  __builtin_prefetch(q + 16);
  __builtin_prefetch(q + sizeof(c10::TensorImpl) - 32), __builtin_prefetch(q + sizeof(c10::TensorImpl) - 1);
}

const at::Tensor* grad_slot(const c10::TensorImpl* t) {
  const c10::AutogradMetaInterface* m = t->autograd_meta();
  return m == nullptr ? nullptr : &static_cast<const torch::autograd::AutogradMeta*>(m)->grad_;
}

// Parameter i is still its slot's view: on the parameter buffer's storage (so a CPU, strided tensor) at
// its offset, with its numel and dtype, dense, and with the dispatch keys it had when the block was built
// (then neither conjugate, negative nor an inference tensor; one comparison instead of three tests, one
// of them a call). Fields of the TensorImpl only (nothing behind a pointer).
bool at_slot(const Block& b, int64_t i) {
  const c10::TensorImpl* p = b.params[i].unsafeGetTensorImpl();
  return p->storage().unsafeGetStorageImpl() == b.pstorage && p->storage_offset() == b.offset[i] &&
         p->numel() == b.numel[i] && p->dtype() == b.dtype && p->is_contiguous() && p->key_set() == b.keys[i];
}

// 0: parameter i is its view and its gradient is its view; 1: the gradient is to be copied in; -1: neither.
int check_param(const Block& b, int64_t i, const char* gbase, bool views_intact) {
  const c10::TensorImpl* p = b.params[i].unsafeGetTensorImpl();
  const int64_t n = b.numel[i], at = b.offset[i] * b.esize;
  if (!at_slot(b, i)) return -1;
  const at::Tensor* g = grad_slot(p);
  if (g == nullptr || !g->defined()) return -1;
  const c10::TensorImpl* gi = g->unsafeGetTensorImpl();
  // The view made for this slot (installed by zero_grad), still on the gradient buffer: recognised by
  // identity when every view still holds the buffer's storage (views_intact), else its storage is read.
  if (gi == b.gviews[i].unsafeGetTensorImpl() &&
      (views_intact || gi->storage().unsafeGetStorageImpl() == b.gstorage))
    return 0;
  if (!dense_like(gi, b.dtype, n)) return -1;
  return static_cast<const char*>(gi->data()) == gbase + at ? 0 : 1;
}

// The metadata a parameter's check reads, fetched into cache in dependent levels: its TensorImpl
// (level 0), then the gradient member of its autograd meta (1), then, unless the views are known to be
// intact, the line of its gradient's storage pointer (2). About 3 cache lines per parameter.
void prefetch_one(const Block& b, int64_t i, int level) {
  const c10::TensorImpl* t = b.params[i].unsafeGetTensorImpl();
  if (level == 0) {
    prefetch_param(t);
  } else if (level == 1) {
    if (const at::Tensor* g = grad_slot(t)) __builtin_prefetch(g);
  } else {
    const at::Tensor* g = grad_slot(t);
    if (g != nullptr && g->defined()) __builtin_prefetch(reinterpret_cast<const char*>(g->unsafeGetTensorImpl()) + 16);
  }
}

constexpr int64_t AHEAD = 4;    // parameters between two prefetch levels
constexpr int64_t PIECE = 256;  // elements: the kernel runs once a run of checked parameters has this many

// Units [first, last) in order. Each parameter is checked just before the kernel reaches it, and level L
// of its metadata was prefetched when the walk was (levels - L) * AHEAD parameters before it, so that
// the misses overlap the kernel's streaming. (Measured A/B on 16k x 256, Lion, one run at 104 GB/s:
// 76% of the stream, against 67% for whole units checked at once with their metadata prefetched a unit
// ahead and 70% for all checks on one thread while the other streams; about 4 points more at 60 GB/s.
// Prefetching the autograd meta's line at once, from its address recorded at the build, gave nothing
// robust: -4 to +1 points in A/B runs with the optimizers made in alternating order. Identical
// optimizers differ by up to 15 points with the order they were made in (where their memory lies).)
void flat_units(const Hyper& h, Block& b, int64_t first, int64_t last, const Item& whole, signed char* how,
                bool views_intact) {
  if (first >= last) return;
  const int levels = views_intact ? 2 : 3;  // the gradients' storage only when views may have moved
  const int64_t n = static_cast<int64_t>(b.params.size()), a = b.units[first].a;
  for (int level = 0; level < levels; ++level)  // fill the pipeline
    for (int64_t i = a; i < std::min(n, a + (levels - level) * AHEAD); ++i) prefetch_one(b, i, level);
  char* gbase = static_cast<char*>(b.gbuf.mutable_data_ptr());
  for (int64_t k = first; k < last; ++k) {
    const FlatUnit& u = b.units[k];
    int64_t run_lo = -1, run_hi = -1;
    for (int64_t i = u.a; i < u.b; ++i) {
      const int64_t lo = std::max(u.lo, b.offset[i]), hi = std::min(u.hi, b.offset[i] + b.numel[i]);
      if (lo == b.offset[i])  // the parameter's first piece (a large one is split over units)
        for (int level = 0; level < levels; ++level)
          if (i + (levels - level) * AHEAD < n) prefetch_one(b, i + (levels - level) * AHEAD, level);
      how[i] = static_cast<signed char>(check_param(b, i, gbase, views_intact));
      if (how[i] < 0) {
        if (run_lo >= 0) run(h, whole, run_lo, run_hi), run_lo = -1;
        continue;
      }
      if (how[i] == 1)
        std::memcpy(gbase + lo * b.esize,
                    static_cast<const char*>(b.params[i].unsafeGetTensorImpl()->grad().const_data_ptr()) +
                        (lo - b.offset[i]) * b.esize,
                    (hi - lo) * b.esize);
      if (run_lo < 0) run_lo = lo;
      run_hi = hi;
      if (run_hi - run_lo >= PIECE) run(h, whole, run_lo, run_hi), run_lo = -1;
    }
    if (run_lo >= 0) run(h, whole, run_lo, run_hi);
  }
}

// flat_step(hyper, block) -> [index]: counts the block's step and updates every parameter it can; returns
// the indices of those it left untouched (empty when it took them all).
PyObject* flat_step(PyObject*, PyObject* args) {
  PyObject *hyper, *capsule;
  if (!PyArg_ParseTuple(args, "OO", &hyper, &capsule)) return nullptr;
  Hyper h;
  if (!parse_hyper(hyper, h)) return nullptr;
  Block* b = block_of(capsule);
  if (b == nullptr) return nullptr;
  if (n_states(h) != b->n_state) return PyErr_Format(PyExc_ValueError, "flat_step: the block has other state");
  try {
    const int64_t n = static_cast<int64_t>(b->params.size());
    Item whole{};
    whole.p = b->pbuf.mutable_data_ptr(), whole.g = b->gbuf.const_data_ptr(), whole.n = b->total;
    whole.kind = b->kind;
    for (int j = 0; j < b->n_state; ++j) whole.s[j] = b->state[j].mutable_data_ptr();
    float* step = b->step.mutable_data_ptr<float>();
    whole.step = (*step += 1.0f);
    coefficients(h, whole.step, whole.c);
    std::vector<signed char> how(n, -1);
    // A buffer's storage is held by the buffer and by each slot's view while that view is on it. For the
    // gradient buffer, exactly that many references is taken to mean that no view was moved off it
    // (p.grad.data = ..., set_) and no other view of it exists, so a gradient that is its slot's view is
    // recognised by identity. For a state buffer, fewer means a state entry was replaced (not through
    // load_state_dict) and more that something else holds a view: the block then leaves every parameter
    // to the per-tensor path (which reads the state dicts) and is rebuilt. A count is a sum: an alias
    // kept alive hides a reference removed, and a view restrided within the buffer changes none (the
    // limits in _flat.py, "What the step does not see").
    const size_t held = static_cast<size_t>(n) + 1;
    const bool views_intact = b->gbuf.storage().use_count() == held;
    bool state_intact = true;
    for (int j = 0; j < b->n_state; ++j) state_intact = state_intact && b->state[j].storage().use_count() == held;
    const int64_t n_units = static_cast<int64_t>(b->units.size());
    if (state_intact && (b->total < 2 * BLOCK || omp_get_max_threads() == 1)) {
      flat_units(h, *b, 0, n_units, whole, how.data(), views_intact);
    } else if (state_intact) {  // each thread an equal, contiguous range of units (the pipeline needs them in order)
#pragma omp parallel
      {
        const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
        flat_units(h, *b, n_units * t / nt, n_units * (t + 1) / nt, whole, how.data(), views_intact);
      }
    }
    if (state_intact) b->pbuf.unsafeGetTensorImpl()->bump_version();  // the parameters' shared counter
    PyObject* left = PyList_New(0);
    if (left == nullptr) return nullptr;
    for (int64_t i = 0; i < n; ++i) {
      if (how[i] >= 0) continue;
      PyObject* idx = PyLong_FromLongLong(i);
      if (idx == nullptr || PyList_Append(left, idx) < 0) {
        Py_XDECREF(idx), Py_DECREF(left);
        return nullptr;
      }
      Py_DECREF(idx);
    }
    return left;
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
    return nullptr;
  }
}

// flat_install_grads(block) -> None: every parameter still at its slot gets its slot's view of the
// gradient buffer (zeroed by the caller) as its gradient; one that is not (given new data) gets None. A
// view moved off the buffer (p.grad.data = ...) is made anew.
PyObject* flat_install_grads(PyObject*, PyObject* capsule) {
  Block* b = block_of(capsule);
  if (b == nullptr) return nullptr;
  try {
    for (size_t i = 0; i < b->params.size(); ++i) {
      at::Tensor& g = b->params[i].unsafeGetTensorImpl()->mutable_grad();
      if (!at_slot(*b, static_cast<int64_t>(i))) {
        g.reset();
        continue;
      }
      at::Tensor& view = b->gviews[i];
      if (view.storage().unsafeGetStorageImpl() != b->gstorage)
        view = b->gbuf.narrow(0, b->offset[i], b->numel[i]).view(b->params[i].sizes());
      if (!g.defined() || g.unsafeGetTensorImpl() != view.unsafeGetTensorImpl()) g = view;
    }
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
    return nullptr;
  }
  Py_RETURN_NONE;
}

// flat_release(block) -> None: drops the block's references (buffers, parameters, views), so that a
// block taken out of use holds nothing that flat_movable would count.
PyObject* flat_release(PyObject*, PyObject* capsule) {
  auto* b = static_cast<Block*>(PyCapsule_GetPointer(capsule, "optarena.flat"));
  if (b == nullptr) return nullptr;
  *b = Block();
  b->released = true;
  Py_RETURN_NONE;
}

// flat_movable(params, blocks) -> [bool]: for each tensor of `params` (all the optimizer's parameters),
// whether it may be moved into a new block: its storage is referred to by nothing but tensors of
// `params` and the parameter buffers of `blocks` (the capsules in use), and no other of those tensors
// overlaps it. Otherwise something shares its memory and, as with torch's in-place updates, must keep
// seeing its updates: a view kept elsewhere (w = p.data, a held state_dict), a larger buffer it is a
// view of, a parameter tied to it by p.data = q.data.
PyObject* flat_movable(PyObject*, PyObject* args) {
  PyObject *params, *blocks;
  if (!PyArg_ParseTuple(args, "O!O!", &PyList_Type, &params, &PyList_Type, &blocks)) return nullptr;
  std::vector<const c10::StorageImpl*> ours;
  for (Py_ssize_t j = 0; j < PyList_GET_SIZE(blocks); ++j) {
    const Block* b = block_of(PyList_GET_ITEM(blocks, j));
    if (b == nullptr) return nullptr;
    ours.push_back(b->pstorage);
  }
  struct Span {
    const c10::StorageImpl* storage;
    int64_t lo, hi;  // the bytes it reaches; empty for an empty tensor
    size_t refs;
    Py_ssize_t index;
  };
  const Py_ssize_t n = PyList_GET_SIZE(params);
  std::vector<Span> spans;
  for (Py_ssize_t i = 0; i < n; ++i) {
    const at::Tensor* t = tensor_of(PyList_GET_ITEM(params, i));
    if (t == nullptr || !t->has_storage()) continue;  // never movable
    const int64_t lo = t->storage_offset() * t->element_size();
    int64_t last = 0;  // the furthest element, in elements from the first
    for (int64_t d = 0; d < t->dim() && t->numel() > 0; ++d) last += (t->size(d) - 1) * std::abs(t->stride(d));
    const int64_t hi = t->numel() == 0 ? lo : lo + (last + 1) * t->element_size();
    spans.push_back({t->storage().unsafeGetStorageImpl(), lo, hi, t->storage().use_count(), i});
  }
  std::sort(spans.begin(), spans.end(), [](const Span& x, const Span& y) {
    return x.storage != y.storage ? std::less<const c10::StorageImpl*>()(x.storage, y.storage) : x.lo < y.lo;
  });
  std::vector<char> movable(n, 0);
  for (size_t a = 0; a < spans.size();) {  // the tensors on one storage: spans[a, z)
    size_t z = a + 1;
    while (z < spans.size() && spans[z].storage == spans[a].storage) ++z;
    const size_t known = (z - a) + static_cast<size_t>(std::count(ours.begin(), ours.end(), spans[a].storage));
    if (spans[a].refs == known) {
      int64_t reach = INT64_MIN;  // the furthest byte of the nonempty spans before k
      for (size_t k = a; k < z; ++k) {
        const Span& s = spans[k];
        if (s.lo == s.hi) continue;
        size_t next = k + 1;
        while (next < z && spans[next].lo == spans[next].hi) ++next;
        movable[s.index] = s.lo >= reach && (next == z || spans[next].lo >= s.hi);
        reach = std::max(reach, s.hi);
      }
    }
    a = z;
  }
  PyObject* out = PyList_New(n);
  if (out == nullptr) return nullptr;
  for (Py_ssize_t i = 0; i < n; ++i) PyList_SET_ITEM(out, i, PyBool_FromLong(movable[i]));
  return out;
}

PyMethodDef methods[] = {
    {"step_lists", step_lists, METH_VARARGS, "Fused step over lists of tensors; returns the indices left."},
    {"step_state", step_state, METH_VARARGS, "Fused step over a group and its state; returns the params left."},
    {"flat_block", flat_block, METH_VARARGS, "A block of parameters viewed into buffers (a capsule)."},
    {"flat_step", flat_step, METH_VARARGS, "Fused step over a block; returns the indices it left."},
    {"flat_install_grads", flat_install_grads, METH_O, "Make every gradient of a block its buffer view."},
    {"flat_release", flat_release, METH_O, "Drop a block's references."},
    {"flat_movable", flat_movable, METH_VARARGS, "Which parameters share their storage with nothing else."},
    {nullptr, nullptr, 0, nullptr},
};

#define OPTARENA_STR2(x) #x
#define OPTARENA_STR(x) OPTARENA_STR2(x)
#define OPTARENA_CAT2(a, b) a##b
#define OPTARENA_CAT(a, b) OPTARENA_CAT2(a, b)

// torch.utils.cpp_extension names the module (it appends _v1, _v2, ... when the source changes).
PyModuleDef module = {PyModuleDef_HEAD_INIT, OPTARENA_STR(TORCH_EXTENSION_NAME), nullptr, -1, methods};

}  // namespace

PyMODINIT_FUNC OPTARENA_CAT(PyInit_, TORCH_EXTENSION_NAME)() { return PyModule_Create(&module); }
