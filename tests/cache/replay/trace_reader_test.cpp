#include <string>

#include <gtest/gtest.h>
#include <zstd.h>

#include <larder/cache/replay/trace_error.hpp>
#include <larder/cache/replay/trace_reader.hpp>

#include "replay/trace_test_support.hpp"
#include "scratch_directory.hpp"

namespace larder {
namespace {

using testing::oracle_key;
using testing::oracle_record;
using testing::read_all;
using testing::request_list;

std::string zstd_compressed(const std::string& text) {
  std::string out(ZSTD_compressBound(text.size()), '\0');
  const std::size_t n = ZSTD_compress(out.data(), out.size(), text.data(), text.size(), 3);
  EXPECT_FALSE(ZSTD_isError(n));
  out.resize(n);
  return out;
}

class TraceReader : public ::testing::Test {
 protected:
  request_list read(const std::string& name, const std::string& content, trace_format format) {
    const auto source = open_trace(scratch_.write(name, content), format);
    return read_all(*source);
  }
  // The message of the trace_error that reading `content` throws, or "" if none.
  std::string error_reading(const std::string& name, const std::string& content,
                            trace_format format) {
    try {
      read(name, content, format);
    } catch (const trace_error& e) {
      return e.what();
    }
    return "";
  }

  testing::scratch_directory scratch_;
};

TEST_F(TraceReader, CsvWithAHeaderLine) {
  EXPECT_EQ(read("t.csv", "timestamp,key,size\n1,a,100\n2,b,200\n3,a,100\n", trace_format::csv),
            (request_list{{"a", 100}, {"b", 200}, {"a", 100}}));
}

TEST_F(TraceReader, CsvWithoutAHeaderSkipsBlankLinesAndReadsCrLf) {
  EXPECT_EQ(read("t.csv", "1,a,100\r\n\n  \n2.5,b,7\r\n", trace_format::csv),
            (request_list{{"a", 100}, {"b", 7}}));
}

TEST_F(TraceReader, CsvKeyIsEverythingBetweenTheFirstAndLastComma) {
  EXPECT_EQ(read("t.csv", "1,s3://bucket/a,b,c,42\n2, spaced key ,1", trace_format::csv),
            (request_list{{"s3://bucket/a,b,c", 42}, {" spaced key ", 1}}));
}

TEST_F(TraceReader, CsvBadLinesAreReportedWithFileAndLineNumber) {
  const std::string header = "timestamp,key,size\n1,a,10\n";
  std::string e = error_reading("bad.csv", header + "\n2,b,12x\n", trace_format::csv);
  EXPECT_NE(e.find("bad.csv:4: the size \"12x\" is not a whole number of bytes"), std::string::npos)
      << e;
  e = error_reading("bad.csv", header + "2,b\n", trace_format::csv);
  EXPECT_NE(e.find("bad.csv:3: expected 3 fields, timestamp,key,size; found 2"), std::string::npos)
      << e;
  e = error_reading("bad.csv", header + "noon,b,1\n", trace_format::csv);
  EXPECT_NE(e.find("bad.csv:3: the timestamp \"noon\" is not a number"), std::string::npos) << e;
  e = error_reading("bad.csv", header + "2,,1\n", trace_format::csv);
  EXPECT_NE(e.find("bad.csv:3: the key is empty"), std::string::npos) << e;
  e = error_reading("bad.csv", header + "2,b,-1\n", trace_format::csv);
  EXPECT_NE(e.find("bad.csv:3: the size \"-1\""), std::string::npos) << e;
}

// A first line is a header only when neither its timestamp nor its size is a number: a broken
// first request is an error, not silently skipped.
TEST_F(TraceReader, CsvFirstLineWithANumberIsARequest) {
  const std::string e = error_reading("t.csv", "1,a,big\n2,b,3\n", trace_format::csv);
  EXPECT_NE(e.find("t.csv:1: the size \"big\""), std::string::npos) << e;
  const std::string e2 = error_reading("t.csv", "time,key,4\n", trace_format::csv);
  EXPECT_NE(e2.find("t.csv:1: the timestamp \"time\""), std::string::npos) << e2;
  EXPECT_EQ(read("t.csv", "ts,obj,size\n", trace_format::csv), (request_list{}));
}

TEST_F(TraceReader, CsvRefusesABinaryFile) {
  const std::string binary(3 << 20, '\x01');
  const std::string e = error_reading("t.csv", binary, trace_format::csv);
  EXPECT_NE(e.find("t.csv:1: the line is longer than"), std::string::npos) << e;
}

// Lines and records that straddle the reader's 1 MiB chunks.
TEST_F(TraceReader, LongTracesAcrossChunks) {
  std::string csv;
  std::string oracle;
  request_list expected_csv;
  request_list expected_oracle;
  for (std::uint32_t i = 0; i < 150'000; ++i) {
    csv +=
        std::to_string(i) + ",key" + std::to_string(i % 977) + "," + std::to_string(i + 1) + "\n";
    expected_csv.emplace_back("key" + std::to_string(i % 977), i + 1);
    oracle += oracle_record(i, i * 7919ull, i % 5000);
    expected_oracle.emplace_back(oracle_key(i * 7919ull), i % 5000);
  }
  EXPECT_EQ(read("long.csv", csv, trace_format::csv), expected_csv);
  EXPECT_EQ(read("long.oracleGeneral", oracle, trace_format::oracle), expected_oracle);
  EXPECT_EQ(read("long.csv.zst", zstd_compressed(csv), trace_format::csv), expected_csv);
  EXPECT_EQ(read("long.oracleGeneral.zst", zstd_compressed(oracle), trace_format::oracle),
            expected_oracle);
}

TEST_F(TraceReader, OracleRecordsGiveTheIdBytesAsKeyAndTheSize) {
  const std::string trace = oracle_record(1, 42, 4096, 3) + oracle_record(2, 0xFFFF'FFFF'FFFF, 1) +
                            oracle_record(3, 42, 4096, -1);
  EXPECT_EQ(
      read("t.oracleGeneral", trace, trace_format::oracle),
      (request_list{
          {oracle_key(42), 4096}, {oracle_key(0xFFFF'FFFF'FFFF), 1}, {oracle_key(42), 4096}}));
}

TEST_F(TraceReader, OracleTruncatedFileIsRejectedWithTheRecordsOffset) {
  const std::string trace = oracle_record(1, 1, 1) + oracle_record(2, 2, 2) + "0123456789";
  // Before anything is read.
  try {
    open_trace(scratch_.write("t.bin", trace), trace_format::oracle);
    ADD_FAILURE() << "a truncated oracle trace was opened";
  } catch (const trace_error& e) {
    EXPECT_NE(std::string(e.what()).find("t.bin: truncated record at byte offset 48: 10 of 24 "
                                         "bytes (record 3)"),
              std::string::npos)
        << e.what();
  }
  // Compressed, at the end.
  const std::string e = error_reading("t.bin.zst", zstd_compressed(trace), trace_format::oracle);
  EXPECT_NE(e.find("truncated record at byte offset 48: 10 of 24 bytes"), std::string::npos) << e;
}

TEST_F(TraceReader, TruncatedZstdStreamIsAnError) {
  const std::string whole = zstd_compressed(std::string(100'000, 'x') + ",k,1\n");
  const std::string e =
      error_reading("t.csv.zst", whole.substr(0, whole.size() / 2), trace_format::csv);
  EXPECT_NE(e.find("zstd stream is truncated"), std::string::npos) << e;
}

TEST_F(TraceReader, EmptyTracesHaveNoRequests) {
  EXPECT_EQ(read("t.csv", "", trace_format::csv), (request_list{}));
  EXPECT_EQ(read("t.oracleGeneral", "", trace_format::oracle), (request_list{}));
}

TEST_F(TraceReader, MissingFileIsATraceError) {
  try {
    open_trace(scratch_.path() / "absent.csv", trace_format::csv);
    ADD_FAILURE();
  } catch (const trace_error& e) {
    EXPECT_NE(std::string(e.what()).find("absent.csv: cannot open: No such file"),
              std::string::npos)
        << e.what();
  }
}

TEST(TraceFormat, FromTheFileNameOrItsName) {
  EXPECT_EQ(trace_format_of("x/trace.csv"), trace_format::csv);
  EXPECT_EQ(trace_format_of("trace.CSV.zst"), trace_format::csv);
  EXPECT_EQ(trace_format_of("cluster52.oracleGeneral.zst"), trace_format::oracle);
  EXPECT_EQ(trace_format_of("w01.oracleGeneral"), trace_format::oracle);
  EXPECT_EQ(trace_format_of("trace.bin"), trace_format::oracle);
  EXPECT_EQ(trace_format_of("trace.txt"), std::nullopt);
  EXPECT_EQ(trace_format_of("trace.zst"), std::nullopt);
  EXPECT_EQ(parse_trace_format("Oracle"), trace_format::oracle);
  EXPECT_EQ(parse_trace_format("csv"), trace_format::csv);
  EXPECT_EQ(parse_trace_format("tsv"), std::nullopt);
}

}  // namespace
}  // namespace larder
