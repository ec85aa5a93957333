#include "kernels/onednn/onednn_backend.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#ifdef LLAMASCOPE_ONEDNN_TBB
#include <oneapi/tbb/global_control.h>
#endif

#include <oneapi/dnnl/dnnl_debug.h>

#include "kernels/onednn/onednn_quant.h"
#include "kernels/onednn/onednn_runtime.h"

namespace llamascope {
namespace {

using dnnl::memory;
using dt = memory::data_type;
using tag = memory::format_tag;

// What a weight type runs as: activations (src) and weights (wei) data types, and for the quantized types
// their grouped-decompression mapping. docs/kernels.md ("oneDNN") explains each choice.
struct Recipe {
  dt src = dt::f32;
  dt wei = dt::f32;
  std::optional<OnednnQuantMapping> quant;
};

std::optional<Recipe> recipe_for(TensorType type) {
  switch (type) {
    case TensorType::F32:
      return Recipe{dt::f32, dt::f32, std::nullopt};
    case TensorType::F16:  // no f16 x f16 matmul on CPUs without AVX512-FP16: f32 activations
      return Recipe{dt::f32, dt::f16, std::nullopt};
    case TensorType::BF16:
      return Recipe{dt::bf16, dt::bf16, std::nullopt};
    default:
      break;
  }
  const auto mapping = onednn_quant_mapping(type);
  if (!mapping) return std::nullopt;
  const dt codes[] = {dt::s8, dt::u8, dt::s4, dt::u4};
  return Recipe{dt::bf16, codes[static_cast<int>(mapping->code)], mapping};
}

dnnl::primitive_attr attr_for(const Recipe& r) {
  dnnl::primitive_attr attr;
  if (r.quant) {
    // One scale per (group along K, output column); integer weights widened to the activations' type.
    attr.set_scales(DNNL_ARG_WEIGHTS, (1 << 0) | (1 << 1), {r.quant->group, 1}, dt::f32);
    attr.set_fpmath_mode(r.src == dt::f32 ? dnnl::fpmath_mode::strict : dnnl::fpmath_mode::bf16, true);
  }
  return attr;
}

// Rows of activations the weight layout is chosen for at prepare(); the same layout serves every batch.
constexpr memory::dim kLayoutRows = 128;

bool is_reference(const char* impl) {
  return std::string(impl).find("ref") != std::string::npos;
}

// A weight reordered into the layout oneDNN's matmul picked (format `any`), with its group scales and, for
// types with a per-group minimum, the offsets matrix of the second, small matmul. `fallback` instead when
// oneDNN offers only its reference implementation for this shape.
struct OnednnWeight final : PreparedWeight {
  using PreparedWeight::PreparedWeight;
  Recipe recipe;
  memory weights, scales, offsets;
  std::string impl;
  WeightHandle fallback;
};

// The primitives of one matmul shape, made on first use.
struct Plan {
  memory::desc src_md, act_md, dst_md, sums_src_md, sums_md;
  dnnl::matmul main, offsets;
  dnnl::reorder to_bf16;
  dnnl::reduction sums;
};

class OnednnBackend final : public Backend {
 public:
  explicit OnednnBackend(const BackendOptions& options)
      : options_(options), engine_(onednn_cpu_engine()), stream_(engine_) {}

  std::string name() const override { return "onednn"; }
  bool supports(OpKind op, TensorType type) const override {
    return op == OpKind::matmul && recipe_for(type).has_value();
  }
  std::string description() const override {
    std::string types;
    for (TensorType t : kModelWeightTypes) {
      const Recipe r = *recipe_for(t);
      types +=
          fmt::format("{}{} {}x{}", types.empty() ? "" : ", ", type_name(t),
                      dnnl_dt2str(memory::convert_to_c(r.src)), dnnl_dt2str(memory::convert_to_c(r.wei)));
      if (r.quant) types += fmt::format("/g{}{}", r.quant->group, r.quant->has_offset ? "+min" : "");
    }
    std::string impls;
    {
      std::lock_guard lock(mutex_);
      for (const std::string& i : impls_) impls += (impls.empty() ? "" : " ") + i;
    }
    return fmt::format("oneDNN {}; matmul {}{}; threads: {}", onednn_runtime_summary(), types,
                       impls.empty() ? "" : "; impl " + impls, threads_note());
  }

  Buffer alloc(int64_t rows, int64_t cols) override { return host_buffer(rows, cols); }
  void upload(Mat dst, const float* src) override {
    for (int64_t r = 0; r < dst.rows; ++r)
      std::copy(src + r * dst.cols, src + (r + 1) * dst.cols, dst.data + r * dst.stride);
  }
  void download(Mat src, float* dst) override {
    for (int64_t r = 0; r < src.rows; ++r)
      std::copy(src.data + r * src.stride, src.data + r * src.stride + src.cols, dst + r * src.cols);
  }

  WeightHandle prepare(const Weight& w, OpKind use) override {
    const auto recipe = recipe_for(w.type);
    if (use != OpKind::matmul || !recipe) return Backend::prepare(w, use);
    auto handle = std::make_shared<OnednnWeight>(w, this);
    handle->recipe = *recipe;
    const memory::dim k = w.cols, n = w.rows;
    if (recipe->quant && k % recipe->quant->group != 0) return fall_back(w, handle);
    // The layout oneDNN picks (`any`); when it has no reorder into that layout (4-bit codes), the file's
    // own row order (`ba`). Never its reference implementation: seconds per call.
    std::optional<dnnl::matmul::primitive_desc> pd;
    std::optional<dnnl::reorder> to_layout;
    for (tag layout : {tag::any, tag::ba}) {
      try {
        pd.emplace(engine_, memory::desc({kLayoutRows, k}, recipe->src, tag::ab),
                   memory::desc({k, n}, recipe->wei, layout),
                   memory::desc({kLayoutRows, n}, dt::f32, tag::ab), attr_for(*recipe));
        if (is_reference(pd->impl_info_str())) throw dnnl::error(dnnl_unimplemented, "reference only");
        if (layout == tag::any)
          to_layout.emplace(dnnl::reorder::primitive_desc(engine_, memory::desc({k, n}, recipe->wei, tag::ba),
                                                          engine_, pd->weights_desc()));
        break;
      } catch (const dnnl::error&) {
        pd.reset();
      }
    }
    if (!pd) return fall_back(w, handle);
    handle->impl = fmt::format("{}{}", pd->impl_info_str(), to_layout ? "" : "(plain)");
    {
      std::lock_guard lock(mutex_);
      impls_.insert(fmt::format("{}:{}", type_name(w.type), handle->impl));
    }
    // The file's rows are the columns of the k x n weights matrix: layout `ba`.
    std::vector<int8_t> codes;
    OnednnQuantUnpacked unpacked;
    void* user = const_cast<void*>(w.data);
    if (recipe->quant) {
      unpacked = onednn_unpack(w, *recipe->quant);
      const bool four_bit = recipe->wei == dt::s4 || recipe->wei == dt::u4;
      if (four_bit) {  // two codes a byte, the first in the low nibble
        codes.resize(unpacked.codes.size() / 2);
        for (size_t i = 0; i < codes.size(); ++i)
          codes[i] = static_cast<int8_t>((unpacked.codes[2 * i] & 0xF) | (unpacked.codes[2 * i + 1] << 4));
        user = codes.data();
      } else {
        user = unpacked.codes.data();
      }
    }
    memory user_weights(memory::desc({k, n}, recipe->wei, tag::ba), engine_, user);
    handle->weights = memory(pd->weights_desc(), engine_);
    if (to_layout)
      to_layout->execute(stream_, user_weights, handle->weights);
    else  // already in the file's order (oneDNN has no reorder for 4-bit codes, not even a copy)
      std::memcpy(handle->weights.get_data_handle(), user, pd->weights_desc().get_size());
    handle->bytes = pd->weights_desc().get_size();
    if (recipe->quant) {
      const int64_t groups = unpacked.groups;
      handle->scales = memory(memory::desc({groups, n}, dt::f32, tag::ab), engine_);
      float* s = static_cast<float*>(handle->scales.get_data_handle());
      for (int64_t r = 0; r < n; ++r)
        for (int64_t g = 0; g < groups; ++g) s[g * n + r] = unpacked.scales[r * groups + g];
      handle->bytes += handle->scales.get_desc().get_size();
      if (recipe->quant->has_offset) {
        const dnnl::matmul::primitive_desc opd =
            offsets_pd(kLayoutRows, groups, n, kLayoutRows, n, memory::desc({groups, n}, dt::f32, tag::any));
        memory user_offsets(memory::desc({groups, n}, dt::f32, tag::ba), engine_, unpacked.offsets.data());
        handle->offsets = memory(opd.weights_desc(), engine_);
        dnnl::reorder(user_offsets, handle->offsets).execute(stream_, user_offsets, handle->offsets);
        handle->bytes += opd.weights_desc().get_size();
      }
    }
    stream_.wait();
    return handle;
  }

  void matmul(const PreparedWeight& prepared, Mat x, Mat out) override {
    if (prepared.owner != this) {  // a handle another backend made: prepare it here once more
      matmul(*prepare(prepared.host, OpKind::matmul), x, out);
      return;
    }
    const auto& w = static_cast<const OnednnWeight&>(prepared);
    if (w.fallback) {
      scalar().matmul(*w.fallback, x, out);
      return;
    }
#ifdef LLAMASCOPE_ONEDNN_TBB
    // oneDNN's SYCL CPU runtime runs its primitives on TBB (and nothing else in llamascope does): capping
    // TBB's parallelism for the duration of this backend's calls gives it its own thread count.
    const tbb::global_control threads(tbb::global_control::max_allowed_parallelism,
                                      static_cast<size_t>(std::max(options_.threads, 1)));
#endif
    const Plan& plan = plan_for(w, x, out);
    memory src(plan.src_md, engine_, x.data), dst(plan.dst_md, engine_, out.data);
    memory act = src;
    if (w.recipe.src != dt::f32) {
      bf16_.resize(static_cast<size_t>(x.rows * x.cols));
      act = memory(plan.act_md, engine_, bf16_.data());
      plan.to_bf16.execute(stream_, src, act);
    }
    std::unordered_map<int, memory> args{
        {DNNL_ARG_SRC, act}, {DNNL_ARG_WEIGHTS, w.weights}, {DNNL_ARG_DST, dst}};
    if (w.recipe.quant) args.emplace(DNNL_ARG_ATTR_SCALES | DNNL_ARG_WEIGHTS, w.scales);
    plan.main.execute(stream_, args);
    if (w.recipe.quant && w.recipe.quant->has_offset) {
      // y += (sums of each group of x) · offsetsᵀ: the per-group minimum, in f32 from the same activations.
      sums_.resize(static_cast<size_t>(x.rows * (x.cols / w.recipe.quant->group)));
      memory sums(plan.sums_md, engine_, sums_.data());
      memory grouped(plan.sums_src_md, engine_, act.get_data_handle());
      plan.sums.execute(stream_, {{DNNL_ARG_SRC, grouped}, {DNNL_ARG_DST, sums}});
      memory flat(memory::desc({x.rows, x.cols / w.recipe.quant->group}, dt::f32, tag::ab), engine_,
                  sums_.data());
      plan.offsets.execute(stream_,
                           {{DNNL_ARG_SRC, flat}, {DNNL_ARG_WEIGHTS, w.offsets}, {DNNL_ARG_DST, dst}});
    }
    stream_.wait();
  }

 private:
  dnnl::matmul::primitive_desc offsets_pd(memory::dim m, memory::dim groups, memory::dim n, memory::dim rows,
                                          memory::dim out_stride, const memory::desc& wei_md) const {
    (void)rows;
    dnnl::post_ops accumulate;
    accumulate.append_sum(1.0f);
    dnnl::primitive_attr attr;
    attr.set_post_ops(accumulate);
    return dnnl::matmul::primitive_desc(engine_, memory::desc({m, groups}, dt::f32, tag::ab), wei_md,
                                        memory::desc({m, n}, dt::f32, memory::dims{out_stride, 1}), attr);
  }

  const Plan& plan_for(const OnednnWeight& w, Mat x, Mat out) {
    const memory::dim m = x.rows, k = w.host.cols, n = w.host.rows;
    const auto key = std::make_tuple(static_cast<int>(w.host.type), m, k, n, x.stride, out.stride);
    auto it = plans_.find(key);
    if (it != plans_.end()) return it->second;
    Plan p;
    p.src_md = memory::desc({m, k}, dt::f32, memory::dims{x.stride, 1});
    p.act_md = w.recipe.src == dt::f32 ? p.src_md : memory::desc({m, k}, w.recipe.src, tag::ab);
    p.dst_md = memory::desc({m, n}, dt::f32, memory::dims{out.stride, 1});
    const dnnl::matmul::primitive_desc pd(engine_, p.act_md, w.weights.get_desc(), p.dst_md,
                                          attr_for(w.recipe));
    p.main = dnnl::matmul(pd);
    if (w.recipe.src != dt::f32)
      p.to_bf16 = dnnl::reorder(memory(p.src_md, engine_, nullptr), memory(p.act_md, engine_, nullptr));
    if (w.recipe.quant && w.recipe.quant->has_offset) {
      const memory::dim g = w.recipe.quant->group, groups = k / g;
      p.sums_src_md = memory::desc({m, groups, g}, w.recipe.src, memory::dims{k, g, 1});
      p.sums_md = memory::desc({m, groups, 1}, dt::f32, tag::abc);
      p.sums = dnnl::reduction(dnnl::reduction::primitive_desc(engine_, dnnl::algorithm::reduction_sum,
                                                               p.sums_src_md, p.sums_md, 0.f, 0.f));
      p.offsets = dnnl::matmul(offsets_pd(m, groups, n, m, out.stride, w.offsets.get_desc()));
    }
    return plans_.emplace(key, std::move(p)).first->second;
  }

  WeightHandle fall_back(const Weight& w, std::shared_ptr<OnednnWeight> handle) {
    {
      std::lock_guard lock(mutex_);
      if (warned_.insert(static_cast<int>(w.type)).second)
        std::fprintf(stderr,
                     "llamascope: note: oneDNN offers only its reference matmul for %s weights here (first: "
                     "%lldx%lld); using the scalar backend for those\n",
                     type_name(w.type), static_cast<long long>(w.rows), static_cast<long long>(w.cols));
    }
    handle->fallback = scalar().prepare(w, OpKind::matmul);
    handle->bytes = handle->fallback->bytes;
    return handle;
  }

  Backend& scalar() {
    if (!scalar_) scalar_ = find_backend("scalar")->create(options_);
    return *scalar_;
  }

  std::string threads_note() const {
#ifdef LLAMASCOPE_ONEDNN_TBB
    return fmt::format("{} (TBB parallelism capped during its calls)", options_.threads);
#else
    return "all cores (built without TBB headers: the thread count is not applied)";
#endif
  }

  BackendOptions options_;
  dnnl::engine engine_;
  dnnl::stream stream_;
  std::map<std::tuple<int, int64_t, int64_t, int64_t, int64_t, int64_t>, Plan> plans_;
  std::vector<uint16_t> bf16_;
  std::vector<float> sums_;
  std::unique_ptr<Backend> scalar_;
  mutable std::mutex mutex_;
  std::set<std::string> impls_;
  std::set<int> warned_;
};

}  // namespace

BackendEntry onednn_backend_entry() {
  return BackendEntry{
      "onednn",
      "oneDNN 3.x matmul primitives on every weight type (BF16 native, quantized types as int8/int4 weights "
      "with group scales); other ops fall back",
      onednn_unavailable_reason,
      create_backend<OnednnBackend>,
  };
}

}  // namespace llamascope
