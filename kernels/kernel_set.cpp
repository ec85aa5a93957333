#include "kernels/kernel_set.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <mutex>
#include <sstream>
#include <tuple>

#include "base/error.h"

namespace llamascope {
namespace {

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, sep)) parts.push_back(item);
  if (!text.empty() && text.back() == sep) parts.emplace_back();
  return parts;
}

std::string backend_list() {
  std::string names;
  for (const BackendEntry& e : backend_registry()) names += (names.empty() ? "" : ", ") + e.name;
  return names;
}

// Backends are shared by every kernel set of the process that asks for the same one with the same options
// while a set holds it, and so are the weights they prepared: two sets alive at once (an in-process A/B)
// then run the same code on the same memory wherever they agree, and differ only where they differ.
std::shared_ptr<Backend> shared_backend(const BackendEntry& entry, const BackendOptions& options) {
  static std::mutex mutex;
  static std::map<std::pair<std::string, int>, std::weak_ptr<Backend>> live;
  const std::lock_guard<std::mutex> lock(mutex);
  std::weak_ptr<Backend>& slot = live[{entry.name, options.threads}];
  std::shared_ptr<Backend> backend = slot.lock();
  if (!backend) slot = backend = std::shared_ptr<Backend>(entry.create(options));
  return backend;
}

// Handles given out, by (backend, file data, op): reused while someone holds them, never kept alive here.
std::mutex g_prepared_mutex;
std::map<std::tuple<const Backend*, const void*, int>, std::weak_ptr<const PreparedWeight>> g_prepared;

}  // namespace

KernelSet::KernelSet(const std::string& spec, const BackendOptions& options) : options_(options) {
  if (options.threads < 1) throw Error("-t: thread count must be at least 1");
  std::vector<std::string> items = split(spec, ',');
  if (items.empty() || items.front().empty() || items.front().find('=') != std::string::npos)
    throw Error("-k '" + spec + "': expected BACKEND[,OP=BACKEND...] (backends: " + backend_list() + ")");
  Backend& fallback_default = get_or_create(items.front());
  op_backend_.fill(&fallback_default);
  std::string overrides;
  for (size_t i = 1; i < items.size(); ++i) {
    const size_t eq = items[i].find('=');
    if (eq == std::string::npos)
      throw Error("-k '" + spec + "': '" + items[i] +
                  "' should be OP=BACKEND (one kernel set has one default backend)");
    const std::string op_name = items[i].substr(0, eq);
    const std::string backend_name = items[i].substr(eq + 1);
    int op = -1;
    for (int o = 0; o < static_cast<int>(OpKind::count); ++o)
      if (op_name == op_kind_name(static_cast<OpKind>(o))) op = o;
    if (op < 0) {
      std::string ops;
      for (int o = 0; o < static_cast<int>(OpKind::count); ++o)
        ops += std::string(o ? ", " : "") + op_kind_name(static_cast<OpKind>(o));
      throw Error("-k '" + spec + "': unknown op '" + op_name + "' (ops: " + ops + ")");
    }
    Backend& backend = get_or_create(backend_name);
    if (backend.memory_space() != fallback_default.memory_space())
      throw Error("-k '" + spec + "': " + op_name + " on '" + backend.name() + "' (" +
                  memory_space_name(backend.memory_space()) + " memory) cannot work on the buffers of '" +
                  fallback_default.name() + "' (" + memory_space_name(fallback_default.memory_space()) +
                  " memory); a kernel set composes backends of one memory space");
    op_backend_[op] = &backend;
  }
  spec_ = backends_.front()->name();
  for (int o = 0; o < static_cast<int>(OpKind::count); ++o)
    if (op_backend_[o] != backends_.front().get())
      spec_ += std::string(",") + op_kind_name(static_cast<OpKind>(o)) + "=" + op_backend_[o]->name();
}

Backend& KernelSet::get_or_create(const std::string& name) {
  for (auto& b : backends_)
    if (b->name() == name) return *b;
  const BackendEntry* entry = find_backend(name);
  if (!entry) throw Error("-k: unknown backend '" + name + "' (backends: " + backend_list() + ")");
  const std::string why = entry->unavailable_reason();
  if (!why.empty()) throw Error("-k: backend '" + name + "' is unavailable here: " + why);
  backends_.push_back(shared_backend(*entry, options_));
  return *backends_.back();
}

Backend& KernelSet::for_op(OpKind op, TensorType type) {
  Backend* chosen = op_backend_[static_cast<size_t>(op)];
  if (chosen->supports(op, type)) return *chosen;
  const std::pair<int, int> key{static_cast<int>(op), static_cast<int>(type)};
  if (auto it = fallbacks_.find(key); it != fallbacks_.end()) return *it->second;
  // Fallback: the registry's backends of this memory space by rank (BackendEntry::fallback_rank).
  std::vector<const BackendEntry*> candidates;
  for (const BackendEntry& entry : backend_registry())
    if (entry.fallback_rank > 0 && entry.memory == chosen->memory_space() && entry.name != chosen->name() &&
        entry.unavailable_reason().empty())
      candidates.push_back(&entry);
  std::stable_sort(candidates.begin(), candidates.end(), [](const BackendEntry* a, const BackendEntry* b) {
    return a->fallback_rank > b->fallback_rank;
  });
  Backend* fallback = nullptr;
  for (const BackendEntry* entry : candidates) {
    Backend& candidate = get_or_create(entry->name);
    if (candidate.supports(op, type)) {
      fallback = &candidate;
      break;
    }
  }
  if (!fallback)
    throw Error("-k " + spec_ + ": no backend offers " + op_kind_name(op) + " for " + type_name(type));
  fallbacks_[key] = fallback;
  std::fprintf(stderr, "llamascope: note: backend '%s' has no %s%s%s; using '%s' for it\n",
               chosen->name().c_str(), op_kind_name(op),
               op == OpKind::matmul || op == OpKind::embed ? " for " : "",
               op == OpKind::matmul || op == OpKind::embed ? type_name(type) : "", fallback->name().c_str());
  return *fallback;
}

std::vector<std::string> KernelSet::backend_names() const {
  std::vector<std::string> names;
  for (const auto& b : backends_) names.push_back(b->name());
  return names;
}

std::vector<std::string> KernelSet::descriptions() const {
  std::vector<std::string> lines;
  for (const auto& b : backends_) lines.push_back(b->name() + ": " + b->description());
  return lines;
}

void KernelSet::matmuls(std::span<const PreparedWeight* const> weights, Mat x, std::span<const Mat> outs) {
  Backend& first = for_op(OpKind::matmul, weights.front()->host.type);
  bool one_backend = true;
  for (const PreparedWeight* w : weights)
    one_backend = one_backend && &for_op(OpKind::matmul, w->host.type) == &first;
  if (one_backend) return first.matmuls(weights, x, outs);
  for (size_t i = 0; i < weights.size(); ++i)
    for_op(OpKind::matmul, weights[i]->host.type).matmul(*weights[i], x, outs[i]);
}

WeightHandle KernelSet::prepare(const Weight& w, OpKind op) {
  Backend& backend = for_op(op, w.type);
  const std::lock_guard<std::mutex> lock(g_prepared_mutex);
  std::weak_ptr<const PreparedWeight>& slot = g_prepared[{&backend, w.data, static_cast<int>(op)}];
  if (WeightHandle held = slot.lock()) {
    const Weight& h = held->host;
    if (h.type == w.type && h.rows == w.rows && h.cols == w.cols && h.row_bytes == w.row_bytes) return held;
  }
  WeightHandle handle = backend.prepare(w, op);
  slot = handle;
  return handle;
}

void KernelSet::rest() {
  synchronize();
  for (auto& b : backends_) b->rest();
}

void KernelSet::synchronize() {
  for (auto& b : backends_) b->synchronize();
}

OpTimer& KernelSet::timer() {
  if (!timer_) timer_ = memory().make_timer();
  return *timer_;
}

std::vector<std::string> KernelSet::split_list(const std::string& list) {
  std::vector<std::string> sets;
  for (const std::string& item : split(list, ',')) {
    if (item.find('=') != std::string::npos && !sets.empty())
      sets.back() += "," + item;
    else
      sets.push_back(item);
  }
  return sets;
}

}  // namespace llamascope
