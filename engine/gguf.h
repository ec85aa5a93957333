// GGUF (v2, v3) reading and streaming writing. The reader validates everything it reads against the file
// size before use and memory-maps the tensor data; any violation throws Error("PATH: problem").
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/non_copyable.h"
#include "base/tensor_type.h"
#include "engine/mapped_file.h"

namespace llamascope {

enum class GgufType : uint32_t {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
};
const char* gguf_type_name(GgufType type);

// One metadata value. Scalars are widened into i/u/f; arrays keep their element type and may nest.
struct GgufValue {
  GgufType type = GgufType::UINT32;
  int64_t i = 0;                          // INT8..INT64, BOOL
  uint64_t u = 0;                         // UINT8..UINT64
  double f = 0;                           // FLOAT32, FLOAT64
  std::string str;                        // STRING
  GgufType elem_type = GgufType::UINT32;  // ARRAY: type of the elements
  std::vector<GgufValue> array;           // ARRAY

  bool is_integer() const;
  bool is_float() const { return type == GgufType::FLOAT32 || type == GgufType::FLOAT64; }
};

struct GgufKeyValue {
  std::string key;
  GgufValue value;
};

struct GgufTensorInfo {
  std::string name;
  std::vector<int64_t> shape;  // ne[0] (innermost, contiguous) first
  TensorType type = TensorType::F32;
  uint64_t offset = 0;  // from the start of the data section
  uint64_t bytes = 0;
  const void* data = nullptr;  // into the mapping
  int64_t elements() const;
};

class GgufFile {
 public:
  static std::unique_ptr<GgufFile> open(const std::string& path);

  const std::string& path() const { return file_->path(); }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }
  uint64_t file_size() const { return file_->size(); }

  const std::vector<GgufKeyValue>& metadata() const { return metadata_; }
  const GgufValue* find(std::string_view key) const;
  // Typed getters: nullopt when the key is absent; Error naming the key when it has the wrong type or
  // (for integers) a value out of range.
  std::optional<int64_t> get_int(std::string_view key) const;
  std::optional<double> get_float(std::string_view key) const;  // accepts integer values too
  std::optional<bool> get_bool(std::string_view key) const;
  std::optional<std::string> get_string(std::string_view key) const;
  // Array getters: nullopt when absent; Error when not an array of the right element kind.
  std::optional<std::vector<std::string>> get_string_array(std::string_view key) const;
  std::optional<std::vector<float>> get_float_array(std::string_view key) const;
  std::optional<std::vector<int64_t>> get_int_array(std::string_view key) const;

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  // See MappedFile::release_pages: for tensor data a backend has copied.
  void release_pages(const void* p, size_t bytes) const { file_->release_pages(p, bytes); }
  const GgufTensorInfo* find_tensor(std::string_view name) const;

 private:
  GgufFile() = default;
  std::unique_ptr<MappedFile> file_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<GgufKeyValue> metadata_;
  std::vector<GgufTensorInfo> tensors_;
};

// Writes a GGUF v3 file with tensor data streamed in order, so memory stays far below the file size.
// Usage: add metadata and declare every tensor, then write_header(), then write each tensor's bytes in
// declaration order with write_tensor_data(), then finish(). Writes PATH.tmp and renames on finish(); the
// destructor removes the temporary file if finish() was never reached.
class GgufWriter : NonCopyable {
 public:
  explicit GgufWriter(std::string path, uint64_t alignment = 32);
  ~GgufWriter();

  void set(const std::string& key, GgufValue value);  // replaces an existing key, else appends
  void set_u32(const std::string& key, uint32_t v);
  void set_i32(const std::string& key, int32_t v);
  void set_f32(const std::string& key, float v);
  void set_bool(const std::string& key, bool v);
  void set_string(const std::string& key, const std::string& v);
  void declare_tensor(const std::string& name, TensorType type, const std::vector<int64_t>& shape);

  // The size the finished file will have, exactly, from what is declared so far (callable before
  // write_header(), so a file's size can be known without writing it).
  uint64_t file_bytes() const;

  void write_header();
  void write_tensor_data(const void* data, uint64_t bytes);  // may be called several times per tensor
  void finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace llamascope
