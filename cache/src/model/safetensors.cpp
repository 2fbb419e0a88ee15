// Design of the safetensors header parser.
//
// 1. Bounds before bytes. The length prefix is checked against the 100 MB cap and against the
//    file size before a single JSON byte is looked at, so a hostile N can neither make us read
//    past the span nor allocate more than the file holds.
// 2. Streaming JSON, no document. nlohmann's SAX parser is iterative (no recursion on nesting),
//    and our handler builds tensor_info records directly from its events. It never stores a JSON
//    value it does not need: unknown keys inside a tensor entry are skipped by depth counting.
//    Depth is capped at 128 (serde_json's recursion limit, which the reference inherits).
// 3. The handler is a small state machine over the only shape a valid header can have:
//       root object -> "__metadata__" -> object of strings (or null)
//                   -> tensor name    -> object {dtype: string, shape: [u64...],
//                                                data_offsets: [u64, u64], other keys skipped}
//    Any event that does not fit the current state throws safetensors_error on the spot, with
//    the tensor's name. Duplicate keys are caught here, because nlohmann (like serde for maps)
//    would otherwise keep one of them silently.
// 4. Two places where nlohmann and serde differ are closed by hand: nlohmann's lexer treats a NUL
//    byte as the end of input (serde calls it trailing garbage), so NUL is refused before
//    parsing; nlohmann reads integers beyond 64 bits and negative or fractional numbers as other
//    number kinds, which the handler refuses where an unsigned integer is required, as serde's
//    usize does.
// 5. Layout validation, as the reference's Metadata::validate: tensors in order of data_offsets
//    must start where the previous one ended (from 0), not end before they begin, and hold exactly
//    shape x dtype bytes (with checked multiplication); the last one must end at the end of the
//    file. Then the tensors are sorted by name for find().
#include "larder/cache/model/safetensors.hpp"

#include <algorithm>
#include <array>
#include <numeric>
#include <set>
#include <stdexcept>
#include <tuple>
#include <utility>

#include <nlohmann/json.hpp>

namespace larder::model {
namespace {

struct dtype_entry {
  tensor_dtype dtype;
  std::string_view name;
  std::uint32_t bits;
};

// Indexed by the enumerator's value.
constexpr std::array<dtype_entry, 20> dtype_table{{
    {tensor_dtype::BOOL, "BOOL", 8},       {tensor_dtype::F4, "F4", 4},
    {tensor_dtype::F6_E2M3, "F6_E2M3", 6}, {tensor_dtype::F6_E3M2, "F6_E3M2", 6},
    {tensor_dtype::U8, "U8", 8},           {tensor_dtype::I8, "I8", 8},
    {tensor_dtype::F8_E5M2, "F8_E5M2", 8}, {tensor_dtype::F8_E4M3, "F8_E4M3", 8},
    {tensor_dtype::F8_E8M0, "F8_E8M0", 8}, {tensor_dtype::I16, "I16", 16},
    {tensor_dtype::U16, "U16", 16},        {tensor_dtype::F16, "F16", 16},
    {tensor_dtype::BF16, "BF16", 16},      {tensor_dtype::I32, "I32", 32},
    {tensor_dtype::U32, "U32", 32},        {tensor_dtype::F32, "F32", 32},
    {tensor_dtype::C64, "C64", 64},        {tensor_dtype::F64, "F64", 64},
    {tensor_dtype::I64, "I64", 64},        {tensor_dtype::U64, "U64", 64},
}};

constexpr bool table_in_enum_order() {
  for (std::size_t i = 0; i < dtype_table.size(); ++i) {
    if (static_cast<std::size_t>(dtype_table[i].dtype) != i) return false;
  }
  return true;
}
static_assert(table_in_enum_order());

constexpr std::string_view metadata_key = "__metadata__";
// serde_json's default recursion limit, which the reference inherits: no real header comes close
// (a valid one nests 3 deep).
constexpr int max_json_depth = 128;
// Parser messages quote the token being read, which in a hostile file can be huge.
constexpr std::size_t max_quoted_parser_message = 300;

// Names in messages come from the file; a hostile one should not flood the log.
std::string clipped(std::string_view text) {
  constexpr std::size_t limit = 200;
  if (text.size() <= limit) return std::string(text);
  return std::string(text.substr(0, limit)) + "...";
}

std::string shape_text(const std::vector<std::uint64_t>& shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i != 0) text += ", ";
    text += std::to_string(shape[i]);
  }
  return text + "]";
}

std::string offsets_text(const tensor_info& t) {
  return "data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) + "]";
}

// Reads the events of nlohmann's SAX parser into tensors and metadata (design point 3).
class header_handler {
 public:
  using number_integer_t = nlohmann::json::number_integer_t;
  using number_unsigned_t = nlohmann::json::number_unsigned_t;
  using number_float_t = nlohmann::json::number_float_t;
  using string_t = nlohmann::json::string_t;
  using binary_t = nlohmann::json::binary_t;

  explicit header_handler(std::string_view file_name) : file_(file_name) {}

  std::vector<tensor_info> take_tensors() { return std::move(tensors_); }
  std::map<std::string, std::string> take_metadata() { return std::move(metadata_); }

  bool null() {
    if (state_ == state::metadata_value) {
      // Option<HashMap> in the reference: null means no metadata.
      state_ = state::in_root;
      return true;
    }
    return scalar("null");
  }
  bool boolean(bool) { return scalar("a boolean"); }
  bool number_integer(number_integer_t) { return scalar("a number with a minus sign"); }
  bool number_float(number_float_t, const string_t&) {
    return scalar("a fraction or a number beyond 64 bits");
  }
  bool binary(binary_t&) { return scalar("binary"); }

  bool number_unsigned(number_unsigned_t value) {
    switch (state_) {
      case state::in_shape:
        current_.shape.push_back(value);
        return true;
      case state::in_offsets:
        if (offsets_seen_ == 0) current_.begin = value;
        if (offsets_seen_ == 1) current_.end = value;
        if (++offsets_seen_ > 2) fail_tensor("data_offsets has more than two numbers");
        return true;
      default:
        return scalar("a number");
    }
  }

  bool string(string_t& value) {
    switch (state_) {
      case state::metadata_entry:
        metadata_.emplace(std::move(key_), std::move(value));
        state_ = state::in_metadata;
        return true;
      case state::dtype_value: {
        const auto dtype = parse_tensor_dtype(value);
        if (!dtype) fail_tensor("unknown dtype \"" + clipped(value) + "\"");
        current_.dtype = *dtype;
        state_ = state::in_tensor;
        return true;
      }
      default:
        return scalar("a string");
    }
  }

  bool start_object(std::size_t) {
    enter();
    switch (state_) {
      case state::before_root:
        state_ = state::in_root;
        return true;
      case state::metadata_value:
        state_ = state::in_metadata;
        return true;
      case state::tensor_value:
        state_ = state::in_tensor;
        return true;
      case state::skipping:
        ++skip_depth_;
        return true;
      default:
        return unexpected("an object");
    }
  }

  bool start_array(std::size_t) {
    enter();
    switch (state_) {
      case state::shape_value:
        state_ = state::in_shape;
        return true;
      case state::offsets_value:
        state_ = state::in_offsets;
        offsets_seen_ = 0;
        return true;
      case state::skipping:
        ++skip_depth_;
        return true;
      default:
        return unexpected("a list");
    }
  }

  bool end_array() {
    --depth_;
    switch (state_) {
      case state::in_shape:
        state_ = state::in_tensor;
        return true;
      case state::in_offsets:
        if (offsets_seen_ != 2) fail_tensor("data_offsets must hold exactly two numbers");
        state_ = state::in_tensor;
        return true;
      default:
        return leave_skipped();
    }
  }

  bool end_object() {
    --depth_;
    switch (state_) {
      case state::in_root:
        state_ = state::done;
        return true;
      case state::in_metadata:
        state_ = state::in_root;
        return true;
      case state::in_tensor:
        finish_tensor();
        state_ = state::in_root;
        return true;
      default:
        return leave_skipped();
    }
  }

  bool key(string_t& name) {
    switch (state_) {
      case state::in_root:
        if (!root_keys_.insert(name).second) {
          if (name == metadata_key) fail("__metadata__ appears twice in the header");
          fail("tensor \"" + clipped(name) + "\": name appears twice in the header");
        }
        if (name == metadata_key) {
          state_ = state::metadata_value;
        } else {
          current_ = tensor_info{};
          current_.name = std::move(name);
          fields_seen_ = 0;
          state_ = state::tensor_value;
        }
        return true;
      case state::in_metadata:
        if (metadata_.contains(name)) {
          fail("__metadata__ key \"" + clipped(name) + "\" appears twice");
        }
        key_ = std::move(name);
        state_ = state::metadata_entry;
        return true;
      case state::in_tensor:
        if (name == "dtype") {
          field(dtype_field, "dtype");
          state_ = state::dtype_value;
        } else if (name == "shape") {
          field(shape_field, "shape");
          state_ = state::shape_value;
        } else if (name == "data_offsets") {
          field(offsets_field, "data_offsets");
          state_ = state::offsets_value;
        } else {
          state_ = state::skipping;
          skip_depth_ = 0;
        }
        return true;
      default:
        // Keys of objects nested inside a skipped value.
        return true;
    }
  }

  bool parse_error(std::size_t, const std::string&, const nlohmann::json::exception& error) {
    std::string detail = error.what();
    if (detail.size() > max_quoted_parser_message) {
      detail.resize(max_quoted_parser_message);
      detail += "...";
    }
    fail("header is not valid JSON: " + detail);
  }

 private:
  enum class state {
    before_root,
    in_root,
    metadata_value,  // after the "__metadata__" key
    in_metadata,
    metadata_entry,  // after a key inside __metadata__
    tensor_value,    // after a tensor's name
    in_tensor,
    dtype_value,
    shape_value,
    in_shape,
    offsets_value,
    in_offsets,
    skipping,  // inside the value of a key the reference ignores
    done,
  };
  static constexpr unsigned dtype_field = 1;
  static constexpr unsigned shape_field = 2;
  static constexpr unsigned offsets_field = 4;

  [[noreturn]] void fail(const std::string& what) const {
    throw safetensors_error(file_ + ": " + what);
  }
  [[noreturn]] void fail_tensor(const std::string& what) const {
    fail("tensor \"" + clipped(current_.name) + "\": " + what);
  }

  void enter() {
    if (++depth_ > max_json_depth) {
      fail("header nests deeper than " + std::to_string(max_json_depth) + " levels");
    }
  }

  void field(unsigned bit, std::string_view name) {
    if ((fields_seen_ & bit) != 0) fail_tensor(std::string(name) + " appears twice");
    fields_seen_ |= bit;
  }

  void finish_tensor() {
    if ((fields_seen_ & dtype_field) == 0) fail_tensor("entry has no dtype");
    if ((fields_seen_ & shape_field) == 0) fail_tensor("entry has no shape");
    if ((fields_seen_ & offsets_field) == 0) fail_tensor("entry has no data_offsets");
    tensors_.push_back(std::move(current_));
  }

  // A scalar value: fine inside a skipped value, wrong anywhere else.
  bool scalar(std::string_view kind) {
    if (state_ == state::skipping) {
      if (skip_depth_ == 0) state_ = state::in_tensor;
      return true;
    }
    return unexpected(kind);
  }

  bool leave_skipped() {
    // Only a skipped value can close here: the parser guarantees brackets balance.
    if (--skip_depth_ == 0) state_ = state::in_tensor;
    return true;
  }

  [[noreturn]] bool unexpected(std::string_view kind) const {
    switch (state_) {
      case state::before_root:
        fail("header is not a JSON object");
      case state::metadata_value:
        fail("__metadata__ must be an object of strings, not " + std::string(kind));
      case state::metadata_entry:
        fail("__metadata__ value of \"" + clipped(key_) + "\" must be a string, not " +
             std::string(kind));
      case state::tensor_value:
        fail_tensor("entry must be an object, not " + std::string(kind));
      case state::dtype_value:
        fail_tensor("dtype must be a string, not " + std::string(kind));
      case state::shape_value:
        fail_tensor("shape must be a list, not " + std::string(kind));
      case state::in_shape:
        fail_tensor("shape must hold non-negative integers, not " + std::string(kind));
      case state::offsets_value:
        fail_tensor("data_offsets must be a list, not " + std::string(kind));
      case state::in_offsets:
        fail_tensor("data_offsets must hold non-negative integers, not " + std::string(kind));
      default:
        fail("unexpected " + std::string(kind) + " in the header");
    }
  }

  std::string file_;
  state state_ = state::before_root;
  int depth_ = 0;
  int skip_depth_ = 0;  // open brackets inside the value being skipped
  tensor_info current_;
  unsigned fields_seen_ = 0;
  unsigned offsets_seen_ = 0;
  std::string key_;
  std::set<std::string, std::less<>> root_keys_;
  std::vector<tensor_info> tensors_;
  std::map<std::string, std::string> metadata_;
};

std::uint64_t read_le64(std::span<const std::byte> bytes) {
  std::uint64_t value = 0;
  for (int i = 7; i >= 0; --i)
    value = (value << 8) | std::to_integer<std::uint64_t>(bytes[i]);
  return value;
}

// Design point 5. `data_bytes` is the length of the file after the header.
void validate_layout(std::vector<tensor_info>& tensors, std::uint64_t data_bytes,
                     std::uint64_t file_size, const std::string& file) {
  auto fail = [&](const tensor_info& t, const std::string& what) {
    throw safetensors_error(file + ": tensor \"" + clipped(t.name) + "\": " + what);
  };
  std::vector<std::size_t> by_offset(tensors.size());
  std::iota(by_offset.begin(), by_offset.end(), std::size_t{0});
  std::sort(by_offset.begin(), by_offset.end(), [&](std::size_t a, std::size_t b) {
    const tensor_info& x = tensors[a];
    const tensor_info& y = tensors[b];
    return std::tie(x.begin, x.end, x.name) < std::tie(y.begin, y.end, y.name);
  });

  std::uint64_t covered = 0;
  for (const std::size_t index : by_offset) {
    const tensor_info& t = tensors[index];
    if (t.end < t.begin) fail(t, offsets_text(t) + " end before they begin");
    if (t.begin > covered) {
      fail(t,
           offsets_text(t) + " leave a gap: the data before it ends at " + std::to_string(covered));
    }
    if (t.begin < covered) {
      fail(t, offsets_text(t) + " overlap the tensor before it, which ends at " +
                  std::to_string(covered));
    }
    if (t.end > data_bytes) {
      fail(t, offsets_text(t) + " run past the end of the file: its data buffer holds " +
                  std::to_string(data_bytes) + " bytes");
    }
    const auto expected = tensor_byte_size(t.dtype, t.shape);
    if (!expected) {
      fail(t, "shape " + shape_text(t.shape) + " of " + std::string(to_string(t.dtype)) +
                  " overflows 64 bits or is not a whole number of bytes");
    }
    if (*expected != t.byte_size()) {
      fail(t, "shape " + shape_text(t.shape) + " of " + std::string(to_string(t.dtype)) +
                  " needs " + std::to_string(*expected) + " bytes but " + offsets_text(t) +
                  " hold " + std::to_string(t.byte_size()));
    }
    covered = t.end;
  }
  if (covered != data_bytes) {
    throw safetensors_error(file + ": the tensors' data ends at file offset " +
                            std::to_string(file_size - data_bytes + covered) +
                            " but the file has " + std::to_string(file_size) + " bytes");
  }
}

}  // namespace

std::uint32_t bit_size(tensor_dtype dtype) noexcept {
  return dtype_table[static_cast<std::size_t>(dtype)].bits;
}

std::string_view to_string(tensor_dtype dtype) noexcept {
  return dtype_table[static_cast<std::size_t>(dtype)].name;
}

std::optional<tensor_dtype> parse_tensor_dtype(std::string_view name) noexcept {
  for (const auto& entry : dtype_table) {
    if (entry.name == name) return entry.dtype;
  }
  return std::nullopt;
}

std::optional<std::uint64_t> tensor_byte_size(tensor_dtype dtype,
                                              std::span<const std::uint64_t> shape) noexcept {
  std::uint64_t elements = 1;
  for (const std::uint64_t extent : shape) {
    if (__builtin_mul_overflow(elements, extent, &elements)) return std::nullopt;
  }
  std::uint64_t bits = 0;
  if (__builtin_mul_overflow(elements, std::uint64_t{bit_size(dtype)}, &bits)) return std::nullopt;
  if (bits % 8 != 0) return std::nullopt;
  return bits / 8;
}

const tensor_info* safetensors_header::find(std::string_view name) const noexcept {
  const auto it =
      std::lower_bound(tensors.begin(), tensors.end(), name,
                       [](const tensor_info& t, std::string_view n) { return t.name < n; });
  return it != tensors.end() && it->name == name ? &*it : nullptr;
}

std::uint64_t safetensors_header::data_bytes() const noexcept {
  std::uint64_t end = 0;
  for (const tensor_info& t : tensors)
    end = std::max(end, t.end);
  return end;
}

safetensors_header parse_safetensors_header(std::span<const std::byte> first_bytes,
                                            std::uint64_t file_size, std::string_view file_name) {
  const std::string file(file_name);
  if (file_size < 8) {
    throw safetensors_error(file + ": is " + std::to_string(file_size) +
                            " bytes long, shorter than the 8-byte header length");
  }
  if (first_bytes.size() < 8) {
    throw std::invalid_argument("parse_safetensors_header: fewer than 8 bytes given for " + file);
  }
  const std::uint64_t n = read_le64(first_bytes);
  if (n > safetensors_max_header_bytes) {
    throw safetensors_error(file + ": header length " + std::to_string(n) + " exceeds the " +
                            std::to_string(safetensors_max_header_bytes) + "-byte limit");
  }
  // n is at most 1e8 here, so 8 + n cannot overflow.
  if (8 + n > file_size) {
    throw safetensors_error(file + ": header length " + std::to_string(n) +
                            " runs past the end of the file (" + std::to_string(file_size) +
                            " bytes)");
  }
  if (first_bytes.size() < 8 + n) {
    throw std::invalid_argument("parse_safetensors_header: " + std::to_string(first_bytes.size()) +
                                " bytes given for " + file + ", whose header needs " +
                                std::to_string(8 + n));
  }
  const auto json = first_bytes.subspan(8, n);
  if (json.empty() || json.front() != std::byte{'{'}) {
    throw safetensors_error(file + ": header does not start with '{'");
  }
  // Design point 4: NUL would end nlohmann's input early; no JSON text can contain one.
  if (std::find(json.begin(), json.end(), std::byte{0}) != json.end()) {
    throw safetensors_error(file + ": header is not valid JSON: it contains a NUL byte");
  }

  header_handler handler(file);
  const auto* text = reinterpret_cast<const char*>(json.data());
  nlohmann::json::sax_parse(text, text + json.size(), &handler);

  safetensors_header header;
  header.header_bytes = n;
  header.data_offset = 8 + n;
  header.tensors = handler.take_tensors();
  header.metadata = handler.take_metadata();
  validate_layout(header.tensors, file_size - header.data_offset, file_size, file);
  std::sort(header.tensors.begin(), header.tensors.end(),
            [](const tensor_info& a, const tensor_info& b) { return a.name < b.name; });
  return header;
}

std::string serialize_safetensors_header(std::span<const tensor_info> tensors,
                                         const std::map<std::string, std::string>& metadata) {
  // ordered_json keeps the reference's order: "__metadata__" first, then the tensors as laid out,
  // each as {"dtype", "shape", "data_offsets"}.
  nlohmann::ordered_json root = nlohmann::ordered_json::object();
  if (!metadata.empty()) root[std::string(metadata_key)] = metadata;
  for (const tensor_info& t : tensors) {
    nlohmann::ordered_json entry = nlohmann::ordered_json::object();
    entry["dtype"] = std::string(to_string(t.dtype));
    entry["shape"] = t.shape;
    entry["data_offsets"] = {t.begin, t.end};
    root[t.name] = std::move(entry);
  }
  std::string json;
  try {
    json = root.dump();
  } catch (const nlohmann::json::type_error& error) {
    throw std::invalid_argument(std::string("safetensors header: ") + error.what());
  }
  // The reference pads with spaces so that the data buffer starts 8-byte aligned in the file.
  json.append((8 - json.size() % 8) % 8, ' ');
  if (json.size() > safetensors_max_header_bytes) {
    throw std::invalid_argument("safetensors header of " + std::to_string(json.size()) +
                                " bytes exceeds the " +
                                std::to_string(safetensors_max_header_bytes) + "-byte limit");
  }
  std::string out(8, '\0');
  std::uint64_t n = json.size();
  for (std::size_t i = 0; i < 8; ++i, n >>= 8)
    out[i] = static_cast<char>(n & 0xff);
  return out + json;
}

}  // namespace larder::model
