// GGUF v2/v3 reader (every length and count checked against the file before use) and the streaming v3
// writer. Layout facts follow the GGUF specification: little-endian, u64 counts and string lengths from v2
// on, metadata, then the tensor directory, then the data section aligned to `general.alignment` (default 32).
#include "engine/gguf.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <limits>
#include <type_traits>
#include <unordered_set>
#include <utility>

#include "base/error.h"

namespace llamascope {

static_assert(std::endian::native == std::endian::little, "the GGUF reader assumes a little-endian host");

namespace {

constexpr uint64_t kDefaultAlignment = 32;
constexpr uint32_t kMaxDims = 4;
// Arrays of arrays are legal, but nothing real nests more than two levels; the bound keeps a hostile file
// from driving the recursive parser into a stack overflow.
constexpr int kMaxArrayDepth = 16;
// Every metadata array element becomes one GgufValue (about 100 bytes), so an array of a million u8 costs
// ~100 MB although the file holds 1 MB. Real vocabularies hold well under a million elements in all
// (tokens + scores + types + merges of a 262k vocabulary); this cap bounds memory at a few hundred MB.
constexpr uint64_t kMaxMetadataElements = uint64_t(1) << 22;
// The smallest encodings, used to reject counts the remaining bytes cannot possibly hold.
constexpr uint64_t kMinKeyValueBytes = 8 + 4 + 1;            // key length, value type, a 1-byte value
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;  // name length, n_dims, one ne, type, offset

// Names and keys come from the file; they are escaped and shortened so that an error stays one line.
std::string printable(std::string_view s, size_t max_bytes = 96) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < max_bytes; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f || c == '\\') {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > max_bytes) out += "...";
  return out;
}

std::string quoted(std::string_view s) {
  return "'" + printable(s) + "'";
}

bool is_power_of_two(uint64_t v) {
  return v != 0 && (v & (v - 1)) == 0;
}

// Rounds up to a multiple of a power-of-two alignment; nullopt on overflow.
std::optional<uint64_t> align_up(uint64_t v, uint64_t alignment) {
  const uint64_t rem = v & (alignment - 1);
  if (rem == 0) return v;
  uint64_t out;
  if (__builtin_add_overflow(v, alignment - rem, &out)) return std::nullopt;
  return out;
}

bool is_known_value_type(uint32_t t) {
  return t <= static_cast<uint32_t>(GgufType::FLOAT64);
}

// Calls f(T{}) with the C++ type of a numeric GGUF value type and returns true; false for BOOL, STRING and
// ARRAY, which are not one number of their own type.
template <typename F>
bool visit_numeric_type(GgufType type, F&& f) {
  switch (type) {
    case GgufType::UINT8:
      return f(uint8_t{}), true;
    case GgufType::INT8:
      return f(int8_t{}), true;
    case GgufType::UINT16:
      return f(uint16_t{}), true;
    case GgufType::INT16:
      return f(int16_t{}), true;
    case GgufType::UINT32:
      return f(uint32_t{}), true;
    case GgufType::INT32:
      return f(int32_t{}), true;
    case GgufType::UINT64:
      return f(uint64_t{}), true;
    case GgufType::INT64:
      return f(int64_t{}), true;
    case GgufType::FLOAT32:
      return f(float{}), true;
    case GgufType::FLOAT64:
      return f(double{}), true;
    default:
      return false;
  }
}

// The smallest encoding of a value: a number's own size, a bool's byte, a string's u64 length, an array's
// element type and count.
uint64_t min_encoded_bytes(GgufType t) {
  uint64_t bytes = 0;
  if (visit_numeric_type(t, [&](auto tag) { bytes = sizeof(tag); })) return bytes;
  switch (t) {
    case GgufType::STRING:
      return 8;
    case GgufType::ARRAY:
      return 12;
    default:  // BOOL
      return 1;
  }
}

// Bytes of a value as GGUF encodes it (after its type tag).
uint64_t encoded_bytes(const GgufValue& v) {
  if (v.type == GgufType::STRING) return min_encoded_bytes(v.type) + v.str.size();
  if (v.type != GgufType::ARRAY) return min_encoded_bytes(v.type);
  uint64_t n = min_encoded_bytes(v.type);
  for (const GgufValue& e : v.array) n += encoded_bytes(e);
  return n;
}

// Bounds-checked sequential reads over the mapping; every failure names the file.
class Cursor {
 public:
  Cursor(const std::string& path, const uint8_t* data, uint64_t size)
      : path_(path), data_(data), size_(size) {}

  uint64_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }

  [[noreturn]] void fail(const std::string& what) const { throw Error(path_ + ": " + what); }

  template <class T>
  T read(const std::string& what) {
    if (remaining() < sizeof(T))
      fail("truncated: the file ends inside " + what + " (offset " + std::to_string(pos_) + ", file size " +
           std::to_string(size_) + ")");
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  std::string read_string(const std::string& what) {
    const uint64_t length = read<uint64_t>("the length of " + what);
    if (length > remaining())
      fail(what + " has length " + std::to_string(length) + " but only " + std::to_string(remaining()) +
           " bytes remain in the file (offset " + std::to_string(pos_) + ")");
    std::string s(reinterpret_cast<const char*>(data_ + pos_), static_cast<size_t>(length));
    pos_ += length;
    return s;
  }

  // Rejects `count` items of at least `min_bytes` each when the rest of the file cannot hold them, so that
  // no container is sized from an untrusted count.
  void require_room(uint64_t count, uint64_t min_bytes, const std::string& what) const {
    if (count > remaining() / min_bytes)
      fail(what + " declares " + std::to_string(count) + " entries, but only " + std::to_string(remaining()) +
           " bytes remain in the file (each entry takes at least " + std::to_string(min_bytes) + ")");
  }

 private:
  const std::string& path_;
  const uint8_t* data_;
  uint64_t size_;
  uint64_t pos_ = 0;
};

class MetadataParser {
 public:
  explicit MetadataParser(Cursor& cursor) : c_(cursor) {}

  GgufValue read_value(GgufType type, const std::string& where, int depth) {
    GgufValue v;
    v.type = type;
    const bool numeric = visit_numeric_type(type, [&](auto tag) {
      using T = decltype(tag);
      const T x = c_.read<T>(where);
      if constexpr (std::is_floating_point_v<T>)
        v.f = x;
      else if constexpr (std::is_signed_v<T>)
        v.i = x;
      else
        v.u = x;
    });
    if (numeric) return v;
    switch (type) {
      case GgufType::BOOL: {
        const uint8_t b = c_.read<uint8_t>(where);
        if (b > 1) c_.fail(where + " is a bool with byte value " + std::to_string(b) + " (must be 0 or 1)");
        v.i = b;
        break;
      }
      case GgufType::STRING:
        v.str = c_.read_string(where);
        break;
      case GgufType::ARRAY:
        read_array(v, where, depth + 1);
        break;
      default:
        break;
    }
    return v;
  }

 private:
  void read_array(GgufValue& v, const std::string& where, int depth) {
    if (depth > kMaxArrayDepth)
      c_.fail(where + " nests arrays deeper than " + std::to_string(kMaxArrayDepth) + " levels");
    const uint32_t elem = c_.read<uint32_t>("the element type of " + where);
    if (!is_known_value_type(elem))
      c_.fail(where + " is an array of unknown value type " + std::to_string(elem));
    v.elem_type = static_cast<GgufType>(elem);
    const uint64_t count = c_.read<uint64_t>("the element count of " + where);
    c_.require_room(count, min_encoded_bytes(v.elem_type), where);
    total_elements_ += count;
    if (total_elements_ > kMaxMetadataElements)
      c_.fail(where + ": metadata arrays hold more than " + std::to_string(kMaxMetadataElements) +
              " elements in total");
    v.array.reserve(static_cast<size_t>(count));
    for (uint64_t k = 0; k < count; ++k) v.array.push_back(read_value(v.elem_type, where, depth));
  }

  Cursor& c_;
  uint64_t total_elements_ = 0;
};

}  // namespace

const char* gguf_type_name(GgufType type) {
  // Indexed by the GGUF type id.
  static constexpr const char* kNames[] = {"uint8",  "int8",    "uint16", "int16",  "uint32",
                                           "int32",  "float32", "bool",   "string", "array",
                                           "uint64", "int64",   "float64"};
  const auto id = static_cast<uint32_t>(type);
  return id < std::size(kNames) ? kNames[id] : "unknown";
}

bool GgufValue::is_integer() const {
  bool integer = false;
  visit_numeric_type(type, [&](auto tag) { integer = std::is_integral_v<decltype(tag)>; });
  return integer;
}

namespace {

bool is_unsigned(GgufType t) {
  bool is = false;
  visit_numeric_type(t, [&](auto tag) { is = std::is_unsigned_v<decltype(tag)>; });
  return is;
}

// The type of a value as an error message names it: "string", "array of float32".
std::string describe_type(const GgufValue& v) {
  if (v.type != GgufType::ARRAY) return gguf_type_name(v.type);
  return std::string("array of ") + gguf_type_name(v.elem_type);
}

}  // namespace

int64_t GgufTensorInfo::elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::unique_ptr<GgufFile> GgufFile::open(const std::string& path) {
  std::unique_ptr<GgufFile> g(new GgufFile());
  g->file_ = std::make_unique<MappedFile>(path);
  const uint64_t size = g->file_->size();
  Cursor c(g->file_->path(), g->file_->data(), size);

  if (size < 4) c.fail("not a GGUF file (only " + std::to_string(size) + " bytes)");
  const auto magic = c.read<std::array<char, 4>>("the magic");
  if (std::memcmp(magic.data(), "GGUF", 4) != 0)
    c.fail("not a GGUF file (magic is '" + printable(std::string_view(magic.data(), 4)) +
           "', expected 'GGUF')");
  const uint32_t version = c.read<uint32_t>("the version");
  if (version == 1) c.fail("GGUF version 1 is not supported (only versions 2 and 3 are)");
  if (version != 2 && version != 3) {
    if (__builtin_bswap32(version) == 2 || __builtin_bswap32(version) == 3)
      c.fail("big-endian GGUF files are not supported");
    c.fail("unsupported GGUF version " + std::to_string(version) + " (only versions 2 and 3 are)");
  }
  g->version_ = version;

  const uint64_t n_tensors = c.read<uint64_t>("the tensor count");
  const uint64_t n_kv = c.read<uint64_t>("the metadata count");
  c.require_room(n_kv, kMinKeyValueBytes, "the metadata count");
  c.require_room(n_tensors, kMinTensorInfoBytes, "the tensor count");

  // ---- metadata ----
  MetadataParser parser(c);
  std::unordered_set<std::string> keys;
  g->metadata_.reserve(static_cast<size_t>(n_kv));
  for (uint64_t k = 0; k < n_kv; ++k) {
    std::string key = c.read_string("metadata key #" + std::to_string(k));
    const std::string where = "metadata " + quoted(key);
    if (!keys.insert(key).second) c.fail("duplicate metadata key " + quoted(key));
    const uint32_t type = c.read<uint32_t>("the value type of " + where);
    if (!is_known_value_type(type)) c.fail(where + " has unknown value type " + std::to_string(type));
    GgufValue value = parser.read_value(static_cast<GgufType>(type), where, 0);
    g->metadata_.push_back(GgufKeyValue{std::move(key), std::move(value)});
  }

  if (const GgufValue* a = g->find("general.alignment")) {
    if (!a->is_integer())
      c.fail("general.alignment is " + describe_type(*a) + ", expected an unsigned integer");
    const bool negative = !is_unsigned(a->type) && a->i < 0;
    const uint64_t alignment = is_unsigned(a->type) ? a->u : static_cast<uint64_t>(a->i);
    if (negative || !is_power_of_two(alignment))
      c.fail("general.alignment = " + (negative ? std::to_string(a->i) : std::to_string(alignment)) +
             " is not a power of two");
    g->alignment_ = alignment;
  } else {
    g->alignment_ = kDefaultAlignment;
  }

  // ---- tensor directory ----
  c.require_room(n_tensors, kMinTensorInfoBytes, "the tensor count");
  std::unordered_set<std::string> names;
  g->tensors_.reserve(static_cast<size_t>(n_tensors));
  for (uint64_t k = 0; k < n_tensors; ++k) {
    GgufTensorInfo t;
    t.name = c.read_string("the name of tensor #" + std::to_string(k));
    const std::string where = "tensor " + quoted(t.name);
    if (!names.insert(t.name).second) c.fail("duplicate tensor name " + quoted(t.name));
    const uint32_t n_dims = c.read<uint32_t>("the dimension count of " + where);
    if (n_dims == 0 || n_dims > kMaxDims)
      c.fail(where + " has n_dims " + std::to_string(n_dims) + " (must be 1.." + std::to_string(kMaxDims) +
             ")");
    int64_t elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const int64_t ne = static_cast<int64_t>(c.read<uint64_t>("the shape of " + where));
      if (ne <= 0)
        c.fail(where + " has dimension " + std::to_string(d) + " = " + std::to_string(ne) +
               " (must be positive)");
      if (__builtin_mul_overflow(elements, ne, &elements))
        c.fail(where + " has an element count that overflows 64 bits");
      t.shape.push_back(ne);
    }
    const uint32_t type_id = c.read<uint32_t>("the type of " + where);
    const std::optional<TensorType> type = tensor_type_from_id(type_id);
    if (!type) c.fail("unknown tensor type id " + std::to_string(type_id) + " for " + where);
    t.type = *type;
    t.offset = c.read<uint64_t>("the data offset of " + where);

    const TensorTypeInfo& info = type_info(t.type);
    if (t.shape[0] % info.block_elems != 0)
      c.fail(where + " (" + info.name + ") has ne0 = " + std::to_string(t.shape[0]) +
             ", not a multiple of the block size " + std::to_string(info.block_elems));
    const uint64_t rows = static_cast<uint64_t>(elements / t.shape[0]);
    if (__builtin_mul_overflow(static_cast<uint64_t>(row_bytes(t.type, t.shape[0])), rows, &t.bytes))
      c.fail(where + " has a byte size that overflows 64 bits");
    g->tensors_.push_back(std::move(t));
  }

  const std::optional<uint64_t> data_offset = align_up(c.pos(), g->alignment_);
  if (!data_offset) c.fail("the data section offset overflows 64 bits");
  g->data_offset_ = *data_offset;

  // ---- tensor data: aligned, inside the file, not overlapping ----
  for (GgufTensorInfo& t : g->tensors_) {
    const std::string where = "tensor " + quoted(t.name);
    if (t.offset % g->alignment_ != 0)
      c.fail(where + " has data offset " + std::to_string(t.offset) + ", not a multiple of the alignment " +
             std::to_string(g->alignment_));
    uint64_t start, end;
    if (__builtin_add_overflow(g->data_offset_, t.offset, &start) ||
        __builtin_add_overflow(start, t.bytes, &end) || end > size)
      c.fail(where + " (" + std::to_string(t.bytes) + " bytes at data offset " + std::to_string(t.offset) +
             ") extends past the end of the file (data section starts at " + std::to_string(g->data_offset_) +
             ", file size " + std::to_string(size) + ")");
    t.data = g->file_->data() + start;
  }
  std::vector<const GgufTensorInfo*> by_offset;
  for (const GgufTensorInfo& t : g->tensors_) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const GgufTensorInfo* a, const GgufTensorInfo* b) { return a->offset < b->offset; });
  for (size_t k = 1; k < by_offset.size(); ++k)
    if (by_offset[k - 1]->offset + by_offset[k - 1]->bytes > by_offset[k]->offset)
      c.fail("tensors " + quoted(by_offset[k - 1]->name) + " and " + quoted(by_offset[k]->name) +
             " overlap in the data section");
  return g;
}

const GgufValue* GgufFile::find(std::string_view key) const {
  for (const GgufKeyValue& kv : metadata_)
    if (kv.key == key) return &kv.value;
  return nullptr;
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
  for (const GgufTensorInfo& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

namespace {

[[noreturn]] void wrong_type(const std::string& path, std::string_view key, const GgufValue& v,
                             const char* expected) {
  throw Error(path + ": metadata " + quoted(key) + " is " + describe_type(v) + ", expected " + expected);
}

// An integer value as int64; Error when a uint64 does not fit.
int64_t integer_value(const std::string& path, std::string_view key, const GgufValue& v) {
  if (!is_unsigned(v.type)) return v.i;
  if (v.u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
    throw Error(path + ": metadata " + quoted(key) + " = " + std::to_string(v.u) + " is out of range");
  return static_cast<int64_t>(v.u);
}

double number_value(const GgufValue& v) {
  if (v.is_float()) return v.f;
  return is_unsigned(v.type) ? static_cast<double>(v.u) : static_cast<double>(v.i);
}

}  // namespace

std::optional<int64_t> GgufFile::get_int(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (!v->is_integer()) wrong_type(path(), key, *v, "an integer");
  return integer_value(path(), key, *v);
}

std::optional<double> GgufFile::get_float(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (!v->is_float() && !v->is_integer()) wrong_type(path(), key, *v, "a number");
  return number_value(*v);
}

std::optional<bool> GgufFile::get_bool(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != GgufType::BOOL) wrong_type(path(), key, *v, "a bool");
  return v->i != 0;
}

std::optional<std::string> GgufFile::get_string(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != GgufType::STRING) wrong_type(path(), key, *v, "a string");
  return v->str;
}

std::optional<std::vector<std::string>> GgufFile::get_string_array(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != GgufType::ARRAY || v->elem_type != GgufType::STRING)
    wrong_type(path(), key, *v, "an array of string");
  std::vector<std::string> out;
  out.reserve(v->array.size());
  for (const GgufValue& e : v->array) out.push_back(e.str);
  return out;
}

std::optional<std::vector<float>> GgufFile::get_float_array(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  const bool numeric = v->type == GgufType::ARRAY && v->elem_type != GgufType::ARRAY &&
                       v->elem_type != GgufType::STRING && v->elem_type != GgufType::BOOL;
  if (!numeric) wrong_type(path(), key, *v, "an array of numbers");
  std::vector<float> out;
  out.reserve(v->array.size());
  for (const GgufValue& e : v->array) out.push_back(static_cast<float>(number_value(e)));
  return out;
}

std::optional<std::vector<int64_t>> GgufFile::get_int_array(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  GgufValue probe;
  probe.type = v->elem_type;
  if (v->type != GgufType::ARRAY || !probe.is_integer()) wrong_type(path(), key, *v, "an array of integers");
  std::vector<int64_t> out;
  out.reserve(v->array.size());
  for (const GgufValue& e : v->array) out.push_back(integer_value(path(), key, e));
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------------------------------

struct GgufWriter::Impl {
  struct Declared {
    std::string name;
    TensorType type;
    std::vector<int64_t> shape;
    uint64_t bytes;
    uint64_t offset;  // from the start of the data section
  };
  enum class State { declaring, writing_data, finished };

  std::string path;
  std::string tmp_path;
  uint64_t alignment;
  std::vector<GgufKeyValue> metadata;
  std::vector<Declared> tensors;
  uint64_t next_offset = 0;
  State state = State::declaring;
  std::FILE* out = nullptr;
  uint64_t position = 0;  // bytes written to the file so far
  size_t current = 0;     // tensor receiving data
  uint64_t current_written = 0;

  [[noreturn]] void fail(const std::string& what) const { throw Error(path + ": " + what); }

  void write_bytes(const void* data, uint64_t n) {
    if (n == 0) return;
    if (std::fwrite(data, 1, static_cast<size_t>(n), out) != n)
      throw Error(tmp_path + ": write failed: " + std::strerror(errno));
    position += n;
  }
  template <class T>
  void write_pod(T v) {
    write_bytes(&v, sizeof v);
  }
  void write_string(const std::string& s) {
    write_pod<uint64_t>(s.size());
    write_bytes(s.data(), s.size());
  }
  void pad_to_alignment() {
    static const char zeros[256] = {};
    uint64_t pad = (alignment - position % alignment) % alignment;
    while (pad > 0) {
      const uint64_t n = std::min<uint64_t>(pad, sizeof zeros);
      write_bytes(zeros, n);
      pad -= n;
    }
  }

  // A number of value type T, stored in the value as x (v.i or v.u), after checking that it fits T.
  template <class T, class Stored>
  void write_integer(const std::string& key, const GgufValue& v, Stored x) {
    if (!std::in_range<T>(x))
      fail("metadata " + quoted(key) + " = " + std::to_string(x) + " does not fit " + gguf_type_name(v.type));
    write_pod<T>(static_cast<T>(x));
  }
  template <class T>
  void write_number(const std::string& key, const GgufValue& v) {
    if constexpr (std::is_floating_point_v<T>)
      write_pod<T>(static_cast<T>(v.f));
    else if constexpr (std::is_signed_v<T>)
      write_integer<T>(key, v, v.i);
    else
      write_integer<T>(key, v, v.u);
  }

  void write_value(const std::string& key, const GgufValue& v) {
    if (visit_numeric_type(v.type, [&](auto tag) { write_number<decltype(tag)>(key, v); })) return;
    switch (v.type) {
      case GgufType::BOOL:
        write_pod<uint8_t>(v.i != 0 ? 1 : 0);
        break;
      case GgufType::STRING:
        write_string(v.str);
        break;
      case GgufType::ARRAY:
        write_pod<uint32_t>(static_cast<uint32_t>(v.elem_type));
        write_pod<uint64_t>(v.array.size());
        for (const GgufValue& e : v.array) {
          if (e.type != v.elem_type)
            fail("metadata " + quoted(key) + ": element of type " + gguf_type_name(e.type) +
                 " in an array of " + gguf_type_name(v.elem_type));
          write_value(key, e);
        }
        break;
      default:
        fail("metadata " + quoted(key) + " has unknown value type " + std::to_string(uint32_t(v.type)));
    }
  }

  void finish_tensor_if_complete() {
    while (current < tensors.size() && current_written == tensors[current].bytes) {
      pad_to_alignment();
      ++current;
      current_written = 0;
    }
  }
};

GgufWriter::GgufWriter(std::string path, uint64_t alignment) : impl_(std::make_unique<Impl>()) {
  impl_->path = std::move(path);
  impl_->tmp_path = impl_->path + ".tmp";
  if (!is_power_of_two(alignment))
    impl_->fail("alignment " + std::to_string(alignment) + " is not a power of two");
  impl_->alignment = alignment;
}

GgufWriter::~GgufWriter() {
  if (impl_->out) std::fclose(impl_->out);
  if (impl_->out && impl_->state != Impl::State::finished) ::unlink(impl_->tmp_path.c_str());
}

void GgufWriter::set(const std::string& key, GgufValue value) {
  if (impl_->state != Impl::State::declaring)
    impl_->fail("metadata " + quoted(key) + " set after write_header()");
  for (GgufKeyValue& kv : impl_->metadata)
    if (kv.key == key) {
      kv.value = std::move(value);
      return;
    }
  impl_->metadata.push_back(GgufKeyValue{key, std::move(value)});
}

void GgufWriter::set_u32(const std::string& key, uint32_t v) {
  GgufValue value;
  value.type = GgufType::UINT32;
  value.u = v;
  set(key, std::move(value));
}

void GgufWriter::set_i32(const std::string& key, int32_t v) {
  GgufValue value;
  value.type = GgufType::INT32;
  value.i = v;
  set(key, std::move(value));
}

void GgufWriter::set_f32(const std::string& key, float v) {
  GgufValue value;
  value.type = GgufType::FLOAT32;
  value.f = v;
  set(key, std::move(value));
}

void GgufWriter::set_bool(const std::string& key, bool v) {
  GgufValue value;
  value.type = GgufType::BOOL;
  value.i = v ? 1 : 0;
  set(key, std::move(value));
}

void GgufWriter::set_string(const std::string& key, const std::string& v) {
  GgufValue value;
  value.type = GgufType::STRING;
  value.str = v;
  set(key, std::move(value));
}

void GgufWriter::declare_tensor(const std::string& name, TensorType type, const std::vector<int64_t>& shape) {
  Impl& w = *impl_;
  const std::string where = "tensor " + quoted(name);
  if (w.state != Impl::State::declaring) w.fail(where + " declared after write_header()");
  // llama.cpp keeps tensor names in 64-byte buffers; a longer name would make a file it cannot read.
  if (name.empty() || name.size() > 63) w.fail(where + ": names must be 1..63 bytes long");
  for (const Impl::Declared& t : w.tensors)
    if (t.name == name) w.fail("duplicate tensor name " + quoted(name));
  if (shape.empty() || shape.size() > kMaxDims)
    w.fail(where + " has " + std::to_string(shape.size()) + " dimensions (must be 1..4)");
  int64_t elements = 1;
  for (int64_t ne : shape) {
    if (ne <= 0) w.fail(where + " has a non-positive dimension " + std::to_string(ne));
    if (__builtin_mul_overflow(elements, ne, &elements))
      w.fail(where + " has an element count that overflows");
  }
  const TensorTypeInfo& info = type_info(type);
  if (shape[0] % info.block_elems != 0)
    w.fail(where + " (" + info.name + ") has ne0 = " + std::to_string(shape[0]) +
           ", not a multiple of the block size " + std::to_string(info.block_elems));
  uint64_t bytes, end;
  if (__builtin_mul_overflow(static_cast<uint64_t>(row_bytes(type, shape[0])),
                             static_cast<uint64_t>(elements / shape[0]), &bytes) ||
      __builtin_add_overflow(w.next_offset, bytes, &end))
    w.fail(where + " is too large");
  const std::optional<uint64_t> next = align_up(end, w.alignment);
  if (!next) w.fail(where + " is too large");
  w.tensors.push_back(Impl::Declared{name, type, shape, bytes, w.next_offset});
  w.next_offset = *next;
}

uint64_t GgufWriter::file_bytes() const {
  const Impl& w = *impl_;
  uint64_t header = 4 + 4 + 8 + 8;  // magic, version, tensor and key counts
  bool states_alignment = false;
  for (const GgufKeyValue& kv : w.metadata) {
    header += 8 + kv.key.size() + 4 + encoded_bytes(kv.value);
    states_alignment |= kv.key == "general.alignment";
  }
  if (!states_alignment && w.alignment != kDefaultAlignment)  // write_header() adds it
    header += 8 + std::string_view("general.alignment").size() + 4 + 4;
  for (const Impl::Declared& t : w.tensors) header += 8 + t.name.size() + 4 + 8 * t.shape.size() + 4 + 8;
  const std::optional<uint64_t> data_offset = align_up(header, w.alignment);
  if (!data_offset) w.fail("header is too large");
  return *data_offset + w.next_offset;
}

void GgufWriter::write_header() {
  Impl& w = *impl_;
  if (w.state != Impl::State::declaring) w.fail("write_header() called twice");
  // The file must state a non-default alignment; a copied key must not contradict the one used here.
  if (w.alignment > UINT32_MAX) w.fail("alignment does not fit general.alignment's uint32");
  if (w.alignment != kDefaultAlignment ||
      std::any_of(w.metadata.begin(), w.metadata.end(),
                  [](const GgufKeyValue& kv) { return kv.key == "general.alignment"; }))
    set_u32("general.alignment", static_cast<uint32_t>(w.alignment));

  w.out = std::fopen(w.tmp_path.c_str(), "wb");
  if (!w.out) throw Error(w.tmp_path + ": cannot create: " + std::strerror(errno));
  std::setvbuf(w.out, nullptr, _IOFBF, 1 << 20);
  w.state = Impl::State::writing_data;

  w.write_bytes("GGUF", 4);
  w.write_pod<uint32_t>(3);
  w.write_pod<uint64_t>(w.tensors.size());
  w.write_pod<uint64_t>(w.metadata.size());
  for (const GgufKeyValue& kv : w.metadata) {
    w.write_string(kv.key);
    w.write_pod<uint32_t>(static_cast<uint32_t>(kv.value.type));
    w.write_value(kv.key, kv.value);
  }
  for (const Impl::Declared& t : w.tensors) {
    w.write_string(t.name);
    w.write_pod<uint32_t>(static_cast<uint32_t>(t.shape.size()));
    for (int64_t ne : t.shape) w.write_pod<uint64_t>(static_cast<uint64_t>(ne));
    w.write_pod<uint32_t>(static_cast<uint32_t>(t.type));
    w.write_pod<uint64_t>(t.offset);
  }
  w.pad_to_alignment();
  w.finish_tensor_if_complete();  // zero-byte tensors cannot exist, but keep the invariant in one place
}

void GgufWriter::write_tensor_data(const void* data, uint64_t bytes) {
  Impl& w = *impl_;
  if (w.state != Impl::State::writing_data) w.fail("write_tensor_data() outside write_header()..finish()");
  if (bytes == 0) return;
  if (w.current >= w.tensors.size())
    w.fail(std::to_string(bytes) + " bytes of tensor data beyond the last declared tensor");
  const Impl::Declared& t = w.tensors[w.current];
  if (bytes > t.bytes - w.current_written)
    w.fail("tensor " + quoted(t.name) + " is declared as " + std::to_string(t.bytes) + " bytes, but " +
           std::to_string(w.current_written + bytes) + " were written");
  w.write_bytes(data, bytes);
  w.current_written += bytes;
  w.finish_tensor_if_complete();
}

void GgufWriter::finish() {
  Impl& w = *impl_;
  if (w.state == Impl::State::finished) w.fail("finish() called twice");
  if (w.state == Impl::State::declaring) write_header();
  if (w.current < w.tensors.size())
    w.fail("tensor " + quoted(w.tensors[w.current].name) + " is declared as " +
           std::to_string(w.tensors[w.current].bytes) + " bytes, but only " +
           std::to_string(w.current_written) + " were written" +
           (w.tensors.size() - w.current > 1
                ? " (and " + std::to_string(w.tensors.size() - w.current - 1) + " later tensors have no data)"
                : ""));
  std::FILE* out = w.out;
  const bool flushed = std::fflush(out) == 0;
  const int err = errno;
  w.out = nullptr;
  if (std::fclose(out) != 0 || !flushed) {
    ::unlink(w.tmp_path.c_str());
    throw Error(w.tmp_path + ": write failed: " + std::strerror(flushed ? errno : err));
  }
  if (std::rename(w.tmp_path.c_str(), w.path.c_str()) != 0) {
    const int rename_err = errno;
    ::unlink(w.tmp_path.c_str());
    throw Error(w.path + ": cannot rename " + w.tmp_path + " into place: " + std::strerror(rename_err));
  }
  w.state = Impl::State::finished;
}

}  // namespace llamascope
