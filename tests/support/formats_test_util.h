// Helpers shared by the format tests (GGUF, llama2.c, broken files): a scratch directory, whole-file I/O,
// a little-endian byte builder for hand-made (often deliberately broken) files, field locators inside real
// GGUF files, and a check that a loader fails with a one-line llamascope::Error naming the file.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "base/non_copyable.h"

namespace llamascope::formats_test {

inline std::string golden(const std::string& relative) {
  return std::string(LLAMASCOPE_GOLDEN_DIR) + "/" + relative;
}

// A fresh directory under the system temp dir, removed with everything in it when the test ends.
class ScratchDir : NonCopyable {
 public:
  ScratchDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "llamascope-formats-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

inline void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

template <class T>
void poke(std::vector<uint8_t>& bytes, size_t offset, T value) {
  if (offset + sizeof(T) > bytes.size()) throw std::runtime_error("poke past the end");
  std::memcpy(bytes.data() + offset, &value, sizeof(T));
}

template <class T>
T peek(const std::vector<uint8_t>& bytes, size_t offset) {
  if (offset + sizeof(T) > bytes.size()) throw std::runtime_error("peek past the end");
  T value;
  std::memcpy(&value, bytes.data() + offset, sizeof(T));
  return value;
}

// Appends little-endian fields; the GGUF helpers below encode strings, values and arrays as the format does.
struct Bytes {
  std::vector<uint8_t> data;

  template <class T>
  Bytes& pod(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    data.insert(data.end(), p, p + sizeof(T));
    return *this;
  }
  Bytes& raw(std::string_view s) {
    data.insert(data.end(), s.begin(), s.end());
    return *this;
  }
  Bytes& append(const Bytes& other) {
    data.insert(data.end(), other.data.begin(), other.data.end());
    return *this;
  }
  Bytes& gguf_string(std::string_view s) { return pod<uint64_t>(s.size()).raw(s); }
  Bytes& zeros(size_t n) {
    data.insert(data.end(), n, 0);
    return *this;
  }
  Bytes& pad_to(uint64_t alignment) {
    while (data.size() % alignment) data.push_back(0);
    return *this;
  }
  size_t size() const { return data.size(); }
};

// One tensor directory entry, every field raw so that broken values can be expressed.
struct RawTensor {
  std::string name;
  std::vector<uint64_t> ne;
  uint32_t type = 0;  // F32
  uint64_t offset = 0;
  uint32_t n_dims_override = 0;  // 0: ne.size()
};

// A hand-made GGUF file: header, metadata entries (key + already encoded type and value), tensor directory,
// padding to `alignment`, then `data_bytes` zero bytes of data.
struct RawGguf {
  uint32_t version = 3;
  std::vector<std::pair<std::string, Bytes>> metadata;  // key -> u32 type + value
  std::vector<RawTensor> tensors;
  uint64_t alignment = 32;
  uint64_t data_bytes = 0;
  int64_t kv_count_override = -1;
  int64_t tensor_count_override = -1;

  std::vector<uint8_t> build() const {
    Bytes b;
    b.raw("GGUF").pod<uint32_t>(version);
    b.pod<uint64_t>(tensor_count_override >= 0 ? uint64_t(tensor_count_override) : tensors.size());
    b.pod<uint64_t>(kv_count_override >= 0 ? uint64_t(kv_count_override) : metadata.size());
    for (const auto& [key, value] : metadata) b.gguf_string(key).append(value);
    for (const RawTensor& t : tensors) {
      b.gguf_string(t.name).pod<uint32_t>(t.n_dims_override ? t.n_dims_override : uint32_t(t.ne.size()));
      for (uint64_t ne : t.ne) b.pod<uint64_t>(ne);
      b.pod<uint32_t>(t.type).pod<uint64_t>(t.offset);
    }
    b.pad_to(alignment).zeros(data_bytes);
    return b.data;
  }
};

// Encoded metadata values (type id followed by the value).
inline Bytes gguf_u32(uint32_t v) {
  return Bytes().pod<uint32_t>(4).pod<uint32_t>(v);
}
inline Bytes gguf_str(std::string_view s) {
  return Bytes().pod<uint32_t>(8).gguf_string(s);
}

// The byte offset of tensor `name`'s directory entry (its u64 name length) inside a GGUF file: the name,
// with its length in front, occurs exactly once in files whose keys do not repeat tensor names.
inline size_t find_tensor_entry(const std::vector<uint8_t>& bytes, const std::string& name) {
  Bytes needle;
  needle.gguf_string(name);
  auto it = std::search(bytes.begin(), bytes.end(), needle.data.begin(), needle.data.end());
  if (it == bytes.end()) throw std::runtime_error("tensor entry not found: " + name);
  return static_cast<size_t>(it - bytes.begin());
}

// Field offsets of one tensor directory entry.
struct TensorEntryFields {
  size_t name_length, n_dims, ne0, type, offset;
};
inline TensorEntryFields tensor_entry_fields(const std::vector<uint8_t>& bytes, const std::string& name) {
  TensorEntryFields f{};
  f.name_length = find_tensor_entry(bytes, name);
  f.n_dims = f.name_length + 8 + name.size();
  const uint32_t n_dims = peek<uint32_t>(bytes, f.n_dims);
  f.ne0 = f.n_dims + 4;
  f.type = f.ne0 + 8 * n_dims;
  f.offset = f.type + 4;
  return f;
}

// The offset of metadata key `key`'s u64 length; the value type follows the key bytes.
inline size_t find_key(const std::vector<uint8_t>& bytes, const std::string& key) {
  return find_tensor_entry(bytes, key);
}

// Runs `load` and expects a llamascope::Error whose message is one line and names `path`; any other
// outcome (success, another exception type) fails the test. Returns the message for further checks.
inline std::string expect_load_error(const std::string& path, const std::function<void()>& load,
                                     const std::string& context = "") {
  try {
    load();
  } catch (const llamascope::Error& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.find('\n'), std::string::npos) << context << ": multi-line message: " << message;
    EXPECT_EQ(message.rfind(path + ": ", 0), 0u)
        << context << ": message does not start with the path: " << message;
    return message;
  } catch (const std::exception& e) {
    ADD_FAILURE() << context << ": " << path
                  << ": expected llamascope::Error, got another exception: " << e.what();
    return "";
  } catch (...) {
    ADD_FAILURE() << context << ": " << path << ": expected llamascope::Error, got a non-std exception";
    return "";
  }
  ADD_FAILURE() << context << ": " << path << ": loaded without an error";
  return "";
}

}  // namespace llamascope::formats_test
