// `llamascope info -m MODEL`: architecture, hyper-parameters, tokenizer and the tensor table.
#include <fmt/format.h>

#include <memory>
#include <string>

#include "engine/model.h"
#include "harness/commands.h"
#include "harness/common.h"

namespace llamascope {
namespace {

void print_info(const Model& m) {
  const ModelConfig& c = m.config;
  fmt::print("model:           {}\n", m.path);
  fmt::print("format:          {}", m.format_name());
  if (m.gguf)
    fmt::print(" v{} (alignment {}, {} metadata keys)", m.gguf->version(), m.gguf->alignment(),
               m.gguf->metadata().size());
  fmt::print("\n");
  if (m.gguf) {
    if (auto name = m.gguf->get_string("general.name")) fmt::print("name:            {}\n", *name);
    if (auto ft = m.gguf->get_int("general.file_type")) fmt::print("file type:       {}\n", *ft);
  }
  fmt::print("architecture:    {}\n", c.architecture);
  fmt::print("parameters:      {} ({:.3f} M)\n", m.parameter_count(), m.parameter_count() / 1e6);
  fmt::print("weights:         {} ({})\n", format_bytes(static_cast<double>(m.weight_bytes())),
             m.weight_type_summary());
  fmt::print("dim:             {}\n", c.dim);
  fmt::print("layers:          {}\n", c.n_layers);
  fmt::print("heads:           {} (kv heads {}, head dim {}{})\n", c.n_heads, c.n_kv_heads, c.head_dim,
             c.n_kv_heads == c.n_heads ? ""
             : c.n_kv_heads == 1       ? ", multi-query"
                                       : ", grouped-query");
  fmt::print("hidden dim:      {}\n", c.hidden_dim);
  fmt::print("vocab size:      {}\n", c.vocab_size);
  fmt::print("context length:  {}\n", c.context_length);
  fmt::print("rms epsilon:     {:g}\n", c.rms_eps);
  fmt::print("rope:            base {:g}, {} dims{}\n", c.rope_freq_base, c.rope_dims,
             m.rope_freq_factors.empty() ? "" : ", rope_freqs factors");
  fmt::print("embeddings:      {}\n", c.tied_embeddings ? "tied (output = token_embd)" : "separate output");
  if (m.tokenizer) {
    const Vocabulary& v = m.tokenizer->vocab();
    fmt::print("tokenizer:       {} ({} tokens{}), bos {}, eos {}, add_bos {}\n",
               v.kind == Vocabulary::Kind::spm ? "sentencepiece (llama)" : "byte-level BPE (gpt2)",
               v.tokens.size(), v.kind == Vocabulary::Kind::bpe ? ", pre " + v.pre : "", v.bos, v.eos,
               v.add_bos);
  } else {
    fmt::print("tokenizer:       none (give -z tokenizer.bin for a llama2.c checkpoint)\n");
  }

  fmt::print("\n{:<32} {:<6} {:<20} {:>12}\n", "tensor", "type", "shape", "bytes");
  if (m.gguf) {
    for (const GgufTensorInfo& t : m.gguf->tensors()) {
      std::string shape;
      for (size_t i = 0; i < t.shape.size(); ++i) shape += (i ? " x " : "") + std::to_string(t.shape[i]);
      fmt::print("{:<32} {:<6} {:<20} {:>12}\n", t.name, type_name(t.type), shape, t.bytes);
    }
  } else {
    for (const Weight* w : m.all_weights()) {
      const std::string shape =
          w->rows == 1 ? std::to_string(w->cols) : fmt::format("{} x {}", w->cols, w->rows);
      fmt::print("{:<32} {:<6} {:<20} {:>12}\n", w->name, type_name(w->type), shape, w->bytes());
    }
  }
}

}  // namespace

void register_info_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "info", "Print a model's architecture, hyper-parameters, tokenizer and tensor table");
  auto model = std::make_shared<std::string>();
  auto tokenizer = std::make_shared<std::string>();
  add_model_flags(*cmd, *model, tokenizer.get());
  cmd->callback([model, tokenizer] { print_info(*load_model(*model, *tokenizer)); });
}

}  // namespace llamascope
