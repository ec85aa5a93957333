// `llamascope golden record` and `golden check`: references for any model, made by the scalar path and kept
// with their provenance (commit, kernel set, model sha256), so a model llama.cpp gave no reference for is
// still checked: final logits, compact top-k references of each position, and the residual stream after
// every layer (docs/numerics.md). `check` runs a kernel set against them.
#include <fmt/format.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/error.h"
#include "engine/forward.h"
#include "engine/model.h"
#include "harness/commands.h"
#include "harness/common.h"
#include "harness/environment.h"
#include "harness/golden.h"
#include "harness/kld.h"
#include "harness/kld_reference.h"
#include "harness/layer_check.h"
#include "harness/records.h"
#include "kernels/kernel_set.h"

namespace llamascope {
namespace {

namespace fs = std::filesystem;
constexpr const char* kSchema = "llamascope.recorded/1";

struct RecordArgs {
  std::string model, dir, tokens, prompt;
  int top_k = 32;
};

struct CheckArgs {
  std::string dir, model, jsonl;
  KernelFlags kernels;
};

// Logits of every position, one prefill batch.
std::vector<float> all_logits(const Model& model, const std::vector<int32_t>& tokens,
                              const std::string& kernels, int threads, TensorType kv_type, bool faults) {
  KernelSet set(kernels, BackendOptions{threads});
  const int64_t n = static_cast<int64_t>(tokens.size());
  Forward forward(model, set, n, n, kv_type);
  forward.set_fault_injection(faults);
  std::vector<float> logits(static_cast<size_t>(n * model.config.vocab_size));
  forward.eval(tokens, 0, logits.data(), /*all_logits=*/true);
  return logits;
}

std::string bytes_of(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

std::vector<float> read_floats(const fs::path& path, size_t count) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string() + ": cannot open");
  const std::string bytes((std::istreambuf_iterator<char>(in)), {});
  if (bytes.size() != count * sizeof(float))
    throw Error(fmt::format("{}: {} bytes, expected {}", path.string(), bytes.size(), count * sizeof(float)));
  std::vector<float> v(count);
  std::memcpy(v.data(), bytes.data(), bytes.size());
  return v;
}

void golden_record(const RecordArgs& args) {
  const std::unique_ptr<Model> model = load_model(args.model);
  const std::vector<int32_t> tokens = check_tokens(*model, args.tokens, args.prompt);
  if (tokens.size() < 3) throw Error("golden record: give at least 3 tokens");
  const int64_t vocab = model->config.vocab_size;
  const std::vector<float> logits = all_logits(*model, tokens, "scalar", 1, TensorType::F32, false);
  const LayerCheckOptions layer_options{"scalar", 1, TensorType::F32, false};
  const std::vector<CapturedOutput> layers = reference_outputs(*model, tokens, layer_options);

  KldReference ref;  // one chunk of all the tokens, every position from the second on
  ref.n_vocab = static_cast<uint32_t>(vocab);
  ref.ctx = static_cast<uint32_t>(tokens.size());
  ref.n_chunks = 1;
  ref.first = 1;
  ref.min_k = static_cast<uint32_t>(args.top_k);
  ref.tail_mass = 1e-7;
  ref.base_sha256 = file_sha256(args.model);
  ref.tokens = tokens;
  for (size_t i = ref.first; i + 1 < tokens.size(); ++i)
    ref.add_position(std::span<const float>(logits).subspan(i * vocab, vocab), tokens[i + 1]);

  std::vector<float> layer_values;
  nlohmann::json layer_index = nlohmann::json::array();
  for (const CapturedOutput& c : layers) {
    layer_index.push_back(
        {{"op", c.op}, {"layer", c.layer}, {"offset", layer_values.size()}, {"count", c.values.size()}});
    layer_values.insert(layer_values.end(), c.values.begin(), c.values.end());
  }
  const nlohmann::json& git = environment_json()["build"]["git"];
  const nlohmann::json manifest = {
      {"schema", kSchema},
      {"time", utc_now_iso8601()},
      {"provenance",
       {{"commit", git["revision"]}, {"dirty", git["dirty"]}, {"kernels", "scalar"}, {"threads", 1}}},
      {"model",
       {{"path", fs::absolute(args.model).string()},
        {"sha256", ref.base_sha256},
        {"weight_types", model->weight_type_summary()}}},
      {"tokens", tokens},
      {"n_vocab", vocab},
      {"files", {{"logits", "logits.f32"}, {"top_k", "logits.ref"}, {"layers", "layers.f32"}}},
      {"layers", layer_index}};

  // Written into a sibling folder and renamed, so DIR is never half-written.
  const fs::path dir = fs::absolute(args.dir);
  const fs::path tmp = dir.string() + ".tmp";
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  write_file_atomically((tmp / "logits.f32").string(), bytes_of(logits));
  write_file_atomically((tmp / "layers.f32").string(), bytes_of(layer_values));
  write_kld_reference((tmp / "logits.ref").string(), ref);
  write_file_atomically((tmp / "reference.json").string(), manifest.dump(1) + "\n");
  fs::remove_all(dir);
  fs::rename(tmp, dir);
  fmt::print("recorded {} ({} tokens, {} layer states, commit {}) in {}\n", args.model, tokens.size(),
             layers.size(), git["revision"].is_string() ? git["revision"].get<std::string>() : "?",
             dir.string());
}

// The logits' divergence from the recorded top-k reference (logits.ref), position by position.
nlohmann::json kld_from_reference(const fs::path& dir, const std::vector<float>& logits,
                                  const std::vector<int32_t>& tokens, int64_t vocab) {
  const KldReference ref = read_kld_reference((dir / "logits.ref").string());
  DivergenceStats kld;
  for (size_t p = 0; p < ref.positions(); ++p) {
    const size_t i = ref.first + p;
    kld.add(divergence_top(ref.position(p), std::span<const float>(logits).subspan(i * vocab, vocab),
                           tokens[i + 1]));
  }
  return kld.summary();
}

// The layer states the reference recorded (layers.f32, laid out as reference.json's "layers" says).
std::vector<CapturedOutput> recorded_layers(const fs::path& dir, const nlohmann::json& m) {
  std::vector<CapturedOutput> recorded;
  size_t total = 0;
  for (const auto& e : m.at("layers"))
    total = std::max(total, e.at("offset").get<size_t>() + e.at("count").get<size_t>());
  const std::vector<float> layer_values = read_floats(dir / "layers.f32", total);
  for (const auto& e : m.at("layers")) {
    const size_t at = e.at("offset").get<size_t>(), count = e.at("count").get<size_t>();
    recorded.push_back({e.at("op").get<std::string>(), e.at("layer").get<int>(),
                        std::vector<float>(layer_values.begin() + at, layer_values.begin() + at + count)});
  }
  return recorded;
}

void golden_check(const CheckArgs& args) {
  const fs::path dir(args.dir);
  nlohmann::json m;
  {
    std::ifstream in(dir / "reference.json");
    if (!in) throw Error((dir / "reference.json").string() + ": cannot open");
    m = nlohmann::json::parse(in, nullptr, false);
  }
  if (m.is_discarded() || m.value("schema", "") != kSchema)
    throw Error((dir / "reference.json").string() + ": not a " + kSchema + " reference");
  try {
    const std::string model_path =
        args.model.empty() ? m.at("model").at("path").get<std::string>() : args.model;
    if (file_sha256(model_path) != m.at("model").at("sha256").get<std::string>())
      throw Error(model_path + ": not the model the reference was recorded from (sha256 differs)");
    const std::unique_ptr<Model> model = load_model(model_path);
    const std::vector<int32_t> tokens = m.at("tokens").get<std::vector<int32_t>>();
    const int64_t vocab = m.at("n_vocab").get<int64_t>();
    if (vocab != model->config.vocab_size || tokens.size() < 3)
      throw Error(args.dir + ": reference and model disagree");
    const TensorType kv = kv_type_from_flag(args.kernels.kv_type);

    const std::vector<float> expected = read_floats(dir / "logits.f32", tokens.size() * vocab);
    const std::vector<float> logits =
        all_logits(*model, tokens, args.kernels.kernels, args.kernels.threads, kv, true);
    const std::string golden = default_golden_dir();
    const GoldenTolerance tol = golden_tolerance(golden, model->weight_type_summary(), kv);
    const LogitsComparison lc = compare_logits(expected, logits, vocab, tol.tie_margin);
    const bool logits_ok = lc.finite && lc.nmse <= tol.nmse && lc.top1 >= tol.top1;

    const nlohmann::json kld_summary = kld_from_reference(dir, logits, tokens, vocab);

    const std::vector<CapturedOutput> recorded = recorded_layers(dir, m);
    const LayerCheckOptions options{args.kernels.kernels, args.kernels.threads, kv, false};
    const std::vector<LayerComparison> layers =
        compare_outputs(recorded, run_outputs(*model, tokens, options),
                        layer_tolerance(golden, model->weight_type_summary()));
    const LayerComparison* first_bad = nullptr;
    for (const LayerComparison& c : layers)
      if (!c.pass() && !first_bad) first_bad = &c;

    fmt::print("golden check [{} vs {} recorded at {}]\n", args.kernels.kernels,
               m.at("provenance").at("kernels").get<std::string>(), m.at("provenance").at("commit").dump());
    fmt::print("  logits: nmse {:.3e} (limit {:.0e}), top1 {:.4f} (limit {:.2f})  {}\n", lc.nmse, tol.nmse,
               lc.top1, tol.top1, logits_ok ? "ok" : "FAIL");
    fmt::print("  KLD from the top-k reference: mean {:.3e} (truncation bound {:.1e}), same top {:.2f}%\n",
               kld_summary["kld"]["mean"].get<double>(), kld_summary["kld"]["truncation_bound"].get<double>(),
               100 * kld_summary["same_top_p"].get<double>());
    if (first_bad)
      fmt::print("  layers: first out of tolerance: layer {} op {} (nmse {:.3e} > {:.0e})  FAIL\n",
                 first_bad->layer, first_bad->op, first_bad->nmse, first_bad->tolerance);
    else
      fmt::print("  layers: all {} states within {:.0e}  ok\n", layers.size(),
                 layers.empty() ? 0.0 : layers[0].tolerance);
    if (!args.jsonl.empty()) {
      std::string records;
      const std::string run_id = new_run_id();
      for (const LayerComparison& c : layers)
        records += layer_check_record(c, run_id, args.kernels.kernels).dump() + "\n";
      write_file_atomically(args.jsonl, records);
    }
    if (!logits_ok || first_bad) command_exit_status() = 1;
  } catch (const nlohmann::json::exception& e) {
    throw Error((dir / "reference.json").string() + ": " + e.what());
  }
}

}  // namespace

void register_golden_record_commands(CLI::App& golden) {
  auto rec = std::make_shared<RecordArgs>();
  auto* r =
      golden.add_subcommand("record", "Record scalar references (logits, top-k, layer states) for any model");
  add_model_flags(*r, rec->model);
  r->add_option("-o,--out", rec->dir, "folder to write (replaced as a whole)")->required();
  r->add_option("--tokens", rec->tokens, "token ids separated by spaces (default: a short English text)");
  r->add_option("-p,--prompt", rec->prompt, "text to tokenize");
  r->add_option("--top-k", rec->top_k, "logits kept per position in the top-k reference, at least")
      ->capture_default_str();
  r->callback([rec] { golden_record(*rec); });

  auto chk = std::make_shared<CheckArgs>();
  auto* c = golden.add_subcommand("check", "Check a kernel set against references made by `golden record`");
  c->add_option("dir", chk->dir, "folder written by golden record")->required();
  c->add_option("-m,--model", chk->model, "the model, if it moved (its sha256 must match)");
  c->add_option("--jsonl", chk->jsonl, "write one llamascope.layercheck/1 record per layer state");
  add_kernel_flags(*c, chk->kernels, "");
  c->callback([chk] { golden_check(*chk); });
}

}  // namespace llamascope
