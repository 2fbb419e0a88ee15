// The safetensors format layer: files from our writer and from an independent one (a Python
// script using only struct and json) parse to exactly what was written, and every way a header can
// be malformed or hostile is refused with a message naming the file and, where there is one, the
// tensor.
#include "larder/cache/model/safetensors.hpp"

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "larder/cache/model/safetensors_file.hpp"
#include "scratch_directory.hpp"

namespace larder::model {
namespace {

using ::testing::HasSubstr;

std::string le64(std::uint64_t n) {
  std::string out(8, '\0');
  for (std::size_t i = 0; i < 8; ++i, n >>= 8)
    out[i] = static_cast<char>(n & 0xff);
  return out;
}

// A file whose header is `json` (not padded) followed by `data_bytes` zero bytes.
std::string file_with(std::string_view json, std::size_t data_bytes = 0) {
  return le64(json.size()) + std::string(json) + std::string(data_bytes, '\0');
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::span<const std::byte> bytes_of(std::string_view text) {
  return std::as_bytes(std::span(text));
}

int run(const std::string& command) {
  return std::system(command.c_str());
}

class safetensors_test : public ::testing::Test {
 protected:
  std::filesystem::path write(std::string_view bytes, std::string_view name = "model.safetensors") {
    return dir_.write(name, bytes);
  }

  // The header must be refused both from the file and from the bytes in memory, with a message
  // that names the file and contains every fragment.
  void expect_rejected(std::string_view bytes, std::initializer_list<std::string_view> fragments) {
    const auto path = write(bytes, "bad.safetensors");
    try {
      read_safetensors_header(path);
      ADD_FAILURE() << "accepted a malformed file";
    } catch (const safetensors_error& error) {
      EXPECT_THAT(error.what(), HasSubstr(path.string()));
      for (const auto fragment : fragments)
        EXPECT_THAT(error.what(), HasSubstr(fragment));
    }
    try {
      parse_safetensors_header(bytes_of(bytes), bytes.size(), "in-memory.safetensors");
      ADD_FAILURE() << "accepted malformed bytes";
    } catch (const safetensors_error& error) {
      EXPECT_THAT(error.what(), HasSubstr("in-memory.safetensors"));
      for (const auto fragment : fragments)
        EXPECT_THAT(error.what(), HasSubstr(fragment));
    }
  }

  // A header with one valid tensor "t" of U8[4] plus `extra` inside its entry.
  static std::string one_tensor(std::string_view extra) {
    return file_with(
        R"({"t":{"dtype":"U8","shape":[4],"data_offsets":[0,4])" + std::string(extra) + "}}", 4);
  }

  larder::testing::scratch_directory dir_;
};

// --- Round trips -------------------------------------------------------------------------------

TEST_F(safetensors_test, our_writer_round_trips_through_our_parser) {
  const std::vector<float> weights{0.5f, -1.0f, 2.0f, 3.0f, 4.0f, 5.0f};
  const std::vector<std::uint8_t> mask{1, 0, 1};
  const std::vector<double> scale{2.5};
  const std::vector<std::uint8_t> nibbles{0x12, 0x34};
  const std::vector<tensor_to_write> tensors{
      {"layer.0.weight", tensor_dtype::F32, {2, 3}, std::as_bytes(std::span(weights))},
      {"layer.0.mask", tensor_dtype::BOOL, {3}, std::as_bytes(std::span(mask))},
      {"scale", tensor_dtype::F64, {}, std::as_bytes(std::span(scale))},
      {"empty", tensor_dtype::BF16, {0, 7}, {}},
      {"packed", tensor_dtype::F4, {4}, std::as_bytes(std::span(nibbles))},
  };
  const std::map<std::string, std::string> metadata{{"format", "pt"}, {"source", "unit test"}};
  const auto path = dir_.path() / "weights.safetensors";
  write_safetensors(path, tensors, metadata);

  const safetensors_header header = read_safetensors_header(path);
  EXPECT_EQ(header.data_offset % 8, 0u) << "the reference pads the header to 8 bytes";
  EXPECT_EQ(header.data_offset, 8 + header.header_bytes);
  EXPECT_EQ(header.metadata, metadata);
  ASSERT_EQ(header.tensors.size(), tensors.size());
  const std::string file = read_file(path);
  EXPECT_EQ(header.data_offset + header.data_bytes(), file.size());
  for (const tensor_to_write& written : tensors) {
    const tensor_info* t = header.find(written.name);
    ASSERT_NE(t, nullptr) << written.name;
    EXPECT_EQ(t->dtype, written.dtype);
    EXPECT_EQ(t->shape, written.shape);
    EXPECT_EQ(t->byte_size(), written.bytes.size());
    EXPECT_EQ((header.data_offset + t->begin) % std::max(1u, bit_size(t->dtype) / 8), 0u)
        << written.name << " is not aligned to its element size";
    const std::string_view stored(file.data() + header.data_offset + t->begin, t->byte_size());
    EXPECT_EQ(stored, std::string_view(reinterpret_cast<const char*>(written.bytes.data()),
                                       written.bytes.size()))
        << written.name;
  }
  EXPECT_EQ(header.find("missing"), nullptr);
}

TEST_F(safetensors_test, writer_lays_out_tensors_as_the_reference_does) {
  // Decreasing alignment, then name: F64 "a", F32 "b", F32 "c", U8 "d".
  const std::vector<std::byte> eight(8), four(4), one(1);
  const std::vector<tensor_to_write> tensors{{"d", tensor_dtype::U8, {1}, one},
                                             {"c", tensor_dtype::F32, {1}, four},
                                             {"a", tensor_dtype::F64, {1}, eight},
                                             {"b", tensor_dtype::F32, {1}, four}};
  const auto path = dir_.path() / "order.safetensors";
  write_safetensors(path, tensors);
  const safetensors_header header = read_safetensors_header(path);
  EXPECT_EQ(header.find("a")->begin, 0u);
  EXPECT_EQ(header.find("b")->begin, 8u);
  EXPECT_EQ(header.find("c")->begin, 12u);
  EXPECT_EQ(header.find("d")->begin, 16u);
  // The reference's serialization of this layout, byte for byte.
  const std::string json = R"({"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},)"
                           R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},)"
                           R"("c":{"dtype":"F32","shape":[1],"data_offsets":[12,16]},)"
                           R"("d":{"dtype":"U8","shape":[1],"data_offsets":[16,17]}})";
  const std::string padded = json + std::string((8 - json.size() % 8) % 8, ' ');
  EXPECT_EQ(read_file(path).substr(0, 8 + padded.size()), le64(padded.size()) + padded);
}

TEST_F(safetensors_test, writer_replaces_a_file_whole_and_leaves_no_temporary_behind) {
  const std::vector<std::byte> four(4);
  const auto path = dir_.path() / "model.safetensors";
  write_safetensors(path, std::vector<tensor_to_write>{{"old", tensor_dtype::U8, {4}, four}});
  write_safetensors(path, std::vector<tensor_to_write>{{"new", tensor_dtype::I32, {1}, four}});
  const safetensors_header header = read_safetensors_header(path);
  ASSERT_EQ(header.tensors.size(), 1u);
  EXPECT_EQ(header.tensors[0].name, "new");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_.path()),
                          std::filesystem::directory_iterator()),
            1);
}

TEST_F(safetensors_test, a_reader_never_sees_half_a_file_while_it_is_rewritten) {
  const auto path = dir_.path() / "model.safetensors";
  const std::vector<std::byte> small(4), large(64 * 1024);
  auto write_version = [&](int i) {
    const auto& bytes = i % 2 == 0 ? small : large;
    write_safetensors(path,
                      std::vector<tensor_to_write>{
                          {"t" + std::to_string(i), tensor_dtype::U8, {bytes.size()}, bytes}});
  };
  write_version(0);
  std::atomic<bool> done{false};
  std::atomic<int> reads{0};
  std::thread reader([&] {
    while (!done.load()) {
      try {
        EXPECT_EQ(read_safetensors_header(path).tensors.size(), 1u);
      } catch (const std::exception& error) {
        ADD_FAILURE() << error.what();
      }
      reads.fetch_add(1);
    }
  });
  for (int i = 1; i <= 50; ++i)
    write_version(i);
  while (reads.load() == 0)
    std::this_thread::yield();
  done = true;
  reader.join();
}

TEST_F(safetensors_test, writer_refuses_tensors_it_cannot_write) {
  const std::vector<std::byte> three(3), four(4);
  const auto path = dir_.path() / "refused.safetensors";
  auto refuses = [&](std::vector<tensor_to_write> tensors, std::string_view fragment) {
    try {
      write_safetensors(path, tensors);
      ADD_FAILURE() << "wrote " << fragment;
    } catch (const std::invalid_argument& error) {
      EXPECT_THAT(error.what(), HasSubstr(fragment));
      EXPECT_THAT(error.what(), HasSubstr(path.string()));
    }
  };
  refuses({{"w", tensor_dtype::F32, {1}, three}}, "\"w\": 3 bytes given");
  refuses({{"odd", tensor_dtype::F4, {3}, three}}, "whole number of bytes");
  refuses({{"w", tensor_dtype::U8, {4}, four}, {"w", tensor_dtype::U8, {4}, four}}, "twice");
  refuses({{"__metadata__", tensor_dtype::U8, {4}, four}}, "reserved");
  EXPECT_FALSE(std::filesystem::exists(path));
}

// An independent writer: nothing but struct and json, with tensors listed out of offset order, a
// scalar, an empty tensor, a non-ASCII name (json.dumps escapes it as \u00e9) and the reference's
// space padding.
constexpr std::string_view python_writer = R"(
import json, struct, sys
data = (struct.pack('<2q', -1, 7) + struct.pack('<6f', 0, 1, 2, 3, 4, 5) + bytes(8)
        + bytes([1, 2, 3]) + struct.pack('<d', 2.5))
header = {
    "w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [16, 40]},
    "__metadata__": {"format": "pt", "note": "written by python"},
    "m": {"dtype": "U8", "shape": [3], "data_offsets": [48, 51]},
    "b": {"dtype": "I64", "shape": [2], "data_offsets": [0, 16]},
    "poids_\u00e9": {"dtype": "BF16", "shape": [2, 2], "data_offsets": [40, 48]},
    "s": {"dtype": "F64", "shape": [], "data_offsets": [51, 59]},
    "z": {"dtype": "F16", "shape": [0, 4], "data_offsets": [59, 59]},
}
text = json.dumps(header).encode('utf-8')
text += b' ' * ((8 - len(text) % 8) % 8)
with open(sys.argv[1], 'wb') as f:
    f.write(struct.pack('<Q', len(text)) + text + data)
)";

TEST_F(safetensors_test, parses_a_file_from_an_independent_writer_exactly) {
  const auto script = dir_.write("writer.py", python_writer);
  const auto path = dir_.path() / "python.safetensors";
  ASSERT_EQ(run("python3 " + script.string() + " " + path.string()), 0);

  const safetensors_header header = read_safetensors_header(path);
  const std::map<std::string, std::string> metadata{{"format", "pt"},
                                                    {"note", "written by python"}};
  EXPECT_EQ(header.metadata, metadata);
  EXPECT_EQ(header.data_offset % 8, 0u);
  const std::vector<tensor_info> expected{
      {"b", tensor_dtype::I64, {2}, 0, 16},
      {"m", tensor_dtype::U8, {3}, 48, 51},
      {"poids_\xc3\xa9", tensor_dtype::BF16, {2, 2}, 40, 48},
      {"s", tensor_dtype::F64, {}, 51, 59},
      {"w", tensor_dtype::F32, {2, 3}, 16, 40},
      {"z", tensor_dtype::F16, {0, 4}, 59, 59},
  };
  EXPECT_EQ(header.tensors, expected) << "tensors are sorted by name";
  EXPECT_EQ(header.data_offset + 59, std::filesystem::file_size(path));
}

// And the other way: an independent reader checks that our file is laid out as the format says.
constexpr std::string_view python_reader = R"(
import json, struct, sys
blob = open(sys.argv[1], 'rb').read()
(n,) = struct.unpack('<Q', blob[:8])
assert n % 8 == 0 and blob[8:9] == b'{', 'header not padded or not an object'
header = json.loads(blob[8:8 + n].decode('utf-8'))
assert header.pop('__metadata__') == {'k': 'v'}
end = 0
for name, t in sorted(header.items(), key=lambda item: item[1]['data_offsets']):
    begin, stop = t['data_offsets']
    assert begin == end, name
    end = stop
assert 8 + n + end == len(blob), 'data does not end at the end of the file'
(x,) = struct.unpack('<f', blob[8 + n + header['x']['data_offsets'][0]:][:4])
assert x == 1.5, x
)";

TEST_F(safetensors_test, an_independent_reader_accepts_our_files) {
  const std::vector<float> x{1.5f};
  const std::vector<std::byte> odd(3);
  const auto path = dir_.path() / "ours.safetensors";
  write_safetensors(
      path,
      std::vector<tensor_to_write>{{"x", tensor_dtype::F32, {1}, std::as_bytes(std::span(x))},
                                   {"y", tensor_dtype::U8, {3}, odd}},
      {{"k", "v"}});
  const auto script = dir_.write("reader.py", python_reader);
  EXPECT_EQ(run("python3 " + script.string() + " " + path.string()), 0);
}

TEST_F(safetensors_test, accepts_what_the_reference_accepts_around_the_edges) {
  // No tensors at all; trailing spaces, tabs and newlines (serde_json skips them); null metadata;
  // keys the reference ignores inside an entry, however nested.
  EXPECT_TRUE(parse_safetensors_header(bytes_of(file_with("{}")), 10, "f").tensors.empty());
  EXPECT_NO_THROW(read_safetensors_header(write(file_with("{} \t\r\n  "))));
  EXPECT_TRUE(
      read_safetensors_header(write(file_with(R"({"__metadata__":null})"))).metadata.empty());
  const auto header =
      read_safetensors_header(write(one_tensor(R"(,"extra":{"a":[1,[2,{"b":null}]],"c":"d"})")));
  ASSERT_EQ(header.tensors.size(), 1u);
  EXPECT_EQ(header.tensors[0].shape, std::vector<std::uint64_t>{4});
}

TEST(tensor_dtype_test, names_and_sizes_match_the_reference) {
  const std::vector<std::pair<std::string_view, std::uint32_t>> reference{
      {"BOOL", 8}, {"F4", 4},      {"F6_E2M3", 6}, {"F6_E3M2", 6}, {"U8", 8},
      {"I8", 8},   {"F8_E5M2", 8}, {"F8_E4M3", 8}, {"F8_E8M0", 8}, {"I16", 16},
      {"U16", 16}, {"F16", 16},    {"BF16", 16},   {"I32", 32},    {"U32", 32},
      {"F32", 32}, {"C64", 64},    {"F64", 64},    {"I64", 64},    {"U64", 64}};
  for (const auto& [name, bits] : reference) {
    const auto dtype = parse_tensor_dtype(name);
    ASSERT_TRUE(dtype.has_value()) << name;
    EXPECT_EQ(to_string(*dtype), name);
    EXPECT_EQ(bit_size(*dtype), bits) << name;
  }
  EXPECT_FALSE(parse_tensor_dtype("f32").has_value()) << "dtype names are case-sensitive";
  EXPECT_EQ(tensor_byte_size(tensor_dtype::F6_E2M3, std::vector<std::uint64_t>{4}), 3u);
  EXPECT_EQ(tensor_byte_size(tensor_dtype::F6_E2M3, std::vector<std::uint64_t>{2}), std::nullopt);
  EXPECT_EQ(tensor_byte_size(tensor_dtype::F32, std::vector<std::uint64_t>{}), 4u);
}

// --- The length prefix ------------------------------------------------------------------------

TEST_F(safetensors_test, rejects_a_file_shorter_than_8_bytes) {
  expect_rejected("", {"0 bytes long", "shorter than the 8-byte header length"});
  expect_rejected("1234567", {"7 bytes long"});
}

TEST_F(safetensors_test, rejects_a_header_length_over_100_MB) {
  expect_rejected(le64(100'000'001) + "{}", {"header length 100000001 exceeds"});
  expect_rejected(le64(std::numeric_limits<std::uint64_t>::max()) + "{}",
                  {"header length 18446744073709551615 exceeds"});
}

TEST_F(safetensors_test, rejects_a_header_length_past_the_end_of_the_file) {
  expect_rejected(le64(100'000'000) + "{}", {"runs past the end of the file (10 bytes)"});
  expect_rejected(le64(3) + "{}", {"header length 3 runs past the end"});
}

// --- The JSON ---------------------------------------------------------------------------------

TEST_F(safetensors_test, rejects_invalid_json) {
  expect_rejected(file_with(R"({"t":{"dtype":"U8")"), {"header is not valid JSON"});
  expect_rejected(file_with(R"({"t" 1})"), {"header is not valid JSON"});
  expect_rejected(file_with("{}x"), {"header is not valid JSON"});
  expect_rejected(file_with("{\"\xff\":{}}"), {"header is not valid JSON"});     // not UTF-8
  expect_rejected(file_with(R"({"\ud800":{}})"), {"header is not valid JSON"});  // lone surrogate
}

TEST_F(safetensors_test, rejects_a_header_not_starting_with_a_brace) {
  expect_rejected(file_with(" {}"), {"does not start with '{'"});
  expect_rejected(file_with("[]"), {"does not start with '{'"});
  expect_rejected(file_with(""), {"does not start with '{'"});
}

TEST_F(safetensors_test, rejects_nul_padding_that_would_end_the_json_early) {
  expect_rejected(file_with(std::string("{}\0\0\0\0\0\0", 8)), {"NUL byte"});
  expect_rejected(file_with(std::string("{}\0garbage", 10)), {"NUL byte"});
}

TEST_F(safetensors_test, rejects_an_unknown_dtype_naming_the_tensor) {
  expect_rejected(file_with(R"({"w":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}})", 16),
                  {"tensor \"w\"", "unknown dtype \"F128\""});
  expect_rejected(file_with(R"({"w":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}})", 4),
                  {"tensor \"w\"", "unknown dtype \"f32\""});
  expect_rejected(file_with(R"({"w":{"dtype":4,"shape":[1],"data_offsets":[0,4]}})", 4),
                  {"tensor \"w\"", "dtype must be a string"});
}

TEST_F(safetensors_test, rejects_an_entry_missing_a_key_naming_the_tensor) {
  expect_rejected(file_with(R"({"w":{"shape":[1],"data_offsets":[0,1]}})", 1),
                  {"tensor \"w\"", "no dtype"});
  expect_rejected(file_with(R"({"w":{"dtype":"U8","data_offsets":[0,1]}})", 1),
                  {"tensor \"w\"", "no shape"});
  expect_rejected(file_with(R"({"w":{"dtype":"U8","shape":[1]}})", 1),
                  {"tensor \"w\"", "no data_offsets"});
  expect_rejected(one_tensor(R"(,"dtype":"U8")"), {"tensor \"t\"", "dtype appears twice"});
}

TEST_F(safetensors_test, rejects_an_entry_that_is_not_an_object) {
  expect_rejected(file_with(R"({"w":[ "U8", [1], [0, 1] ]})", 1),
                  {"tensor \"w\"", "entry must be an object"});
  expect_rejected(file_with(R"({"w":"U8"})"), {"tensor \"w\"", "entry must be an object"});
}

TEST_F(safetensors_test, rejects_duplicate_names) {
  expect_rejected(file_with(R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                            R"("w":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})",
                            2),
                  {"tensor \"w\"", "appears twice"});
  expect_rejected(file_with(R"({"__metadata__":{},"__metadata__":{}})"),
                  {"__metadata__ appears twice"});
}

TEST_F(safetensors_test, rejects_metadata_that_is_not_an_object_of_strings) {
  expect_rejected(file_with(R"({"__metadata__":{"epoch":3}})"),
                  {"__metadata__ value of \"epoch\" must be a string"});
  expect_rejected(file_with(R"({"__metadata__":{"a":{"b":"c"}}})"),
                  {"__metadata__ value of \"a\" must be a string"});
  expect_rejected(file_with(R"({"__metadata__":["a"]})"), {"__metadata__ must be an object"});
  expect_rejected(file_with(R"({"__metadata__":"a"})"), {"__metadata__ must be an object"});
  expect_rejected(file_with(R"({"__metadata__":{"a":"1","a":"2"}})"),
                  {"__metadata__ key \"a\" appears twice"});
}

// --- Shapes and offsets -----------------------------------------------------------------------

TEST_F(safetensors_test, rejects_shape_values_that_are_not_unsigned_64_bit_integers) {
  for (const std::string_view shape :
       {"[-1]", "[1.5]", "[1e3]", "[-0]", "[99999999999999999999999]", "[\"4\"]", "[null]", "[[4]]",
        "4"}) {
    SCOPED_TRACE(shape);
    expect_rejected(file_with(R"({"w":{"dtype":"U8","shape":)" + std::string(shape) +
                                  R"(,"data_offsets":[0,4]}})",
                              4),
                    {"tensor \"w\"", "shape must"});
  }
}

TEST_F(safetensors_test, rejects_data_offsets_that_are_not_two_unsigned_integers) {
  for (const std::string_view offsets : {"[0]", "[0,4,8]", "[-4,4]", "[0,4.0]", "{}", "[]"}) {
    SCOPED_TRACE(offsets);
    expect_rejected(
        file_with(R"({"w":{"dtype":"U8","shape":[4],"data_offsets":)" + std::string(offsets) + "}}",
                  4),
        {"tensor \"w\"", "data_offsets"});
  }
}

TEST_F(safetensors_test, rejects_a_shape_whose_size_overflows_64_bits) {
  expect_rejected(
      file_with(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})"),
      {"tensor \"w\"", "overflows 64 bits"});
  // The element count fits, the bytes do not.
  expect_rejected(
      file_with(R"({"w":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,0]}})"),
      {"tensor \"w\"", "overflows 64 bits"});
  expect_rejected(file_with(R"({"w":{"dtype":"F4","shape":[3],"data_offsets":[0,1]}})", 1),
                  {"tensor \"w\"", "not a whole number of bytes"});
}

TEST_F(safetensors_test, rejects_a_shape_that_does_not_match_its_offsets) {
  expect_rejected(file_with(R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}})", 12),
                  {"tensor \"w\"", "needs 16 bytes but data_offsets [0, 12] hold 12"});
}

TEST_F(safetensors_test, rejects_offsets_that_leave_a_gap) {
  expect_rejected(file_with(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},)"
                            R"("b":{"dtype":"U8","shape":[2],"data_offsets":[3,5]}})",
                            5),
                  {"tensor \"b\"", "leave a gap", "ends at 2"});
  expect_rejected(file_with(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}})", 3),
                  {"tensor \"a\"", "leave a gap", "ends at 0"});
}

TEST_F(safetensors_test, rejects_offsets_that_overlap) {
  expect_rejected(file_with(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                            R"("b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}})",
                            4),
                  {"tensor \"b\"", "overlap"});
}

TEST_F(safetensors_test, rejects_offsets_that_end_before_they_begin) {
  expect_rejected(file_with(R"({"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},)"
                            R"("b":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}})",
                            4),
                  {"end before they begin"});
}

TEST_F(safetensors_test, rejects_data_that_runs_past_the_end_of_the_file) {
  expect_rejected(file_with(R"({"w":{"dtype":"U8","shape":[8],"data_offsets":[0,8]}})", 4),
                  {"tensor \"w\"", "run past the end of the file", "holds 4 bytes"});
  expect_rejected(file_with(R"({"w":{"dtype":"U8","shape":[1],)"
                            R"("data_offsets":[18446744073709551615,0]}})",
                            4),
                  {"tensor \"w\""});
}

TEST_F(safetensors_test, rejects_data_that_ends_before_the_end_of_the_file) {
  const std::string json = R"({"w":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})";
  expect_rejected(file_with(json, 5),
                  {"data ends at file offset " + std::to_string(8 + json.size() + 4),
                   "has " + std::to_string(8 + json.size() + 5) + " bytes"});
  expect_rejected(file_with("{}", 1), {"data ends at file offset 10 but the file has 11 bytes"});
}

// --- Hostile input ----------------------------------------------------------------------------

TEST_F(safetensors_test, rejects_deep_nesting_without_recursing) {
  const std::size_t depth = 200'000;
  expect_rejected(one_tensor(",\"x\":" + std::string(depth, '[') + std::string(depth, ']')),
                  {"nests deeper than 128 levels"});
  expect_rejected(file_with(R"({"__metadata__":{"a":)" + std::string(depth, '[')),
                  {"__metadata__ value of \"a\" must be a string"});
}

TEST_F(safetensors_test, truncates_hostile_names_in_messages) {
  const std::string name(10'000, 'n');
  const std::string bytes = file_with("{\"" + name + "\":1}");
  try {
    parse_safetensors_header(bytes_of(bytes), bytes.size(), "f");
    ADD_FAILURE();
  } catch (const safetensors_error& error) {
    EXPECT_LT(std::string_view(error.what()).size(), 400u);
  }
}

TEST_F(safetensors_test, never_looks_past_the_bytes_it_is_given) {
  // The file claims more bytes than the span holds: a caller bug, refused before any read.
  const std::string bytes = file_with("{}");
  EXPECT_THROW(parse_safetensors_header(bytes_of(bytes).first(9), bytes.size(), "f"),
               std::invalid_argument);
  EXPECT_THROW(parse_safetensors_header(bytes_of(bytes).first(4), bytes.size(), "f"),
               std::invalid_argument);
}

TEST_F(safetensors_test, reports_io_errors_naming_the_file) {
  const auto missing = dir_.path() / "missing.safetensors";
  try {
    read_safetensors_header(missing);
    ADD_FAILURE();
  } catch (const std::system_error& error) {
    EXPECT_EQ(error.code(), std::errc::no_such_file_or_directory);
    EXPECT_THAT(error.what(), HasSubstr(missing.string()));
  }
  EXPECT_THROW(read_safetensors_header(dir_.path()), std::system_error);
}

}  // namespace
}  // namespace larder::model
