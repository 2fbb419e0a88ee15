// CRC16/XMODEM, a byte at a time through a 256-entry table built at compile time: the table for
// a byte b is the register after shifting b through the polynomial eight times, MSB first.
#include "larder/cache/remote/key_slot.hpp"

#include <array>

namespace larder {
namespace {

constexpr std::uint16_t polynomial = 0x1021;

constexpr std::array<std::uint16_t, 256> make_table() {
  std::array<std::uint16_t, 256> table{};
  for (unsigned byte = 0; byte < 256; ++byte) {
    auto r = static_cast<std::uint16_t>(byte << 8);
    for (int bit = 0; bit < 8; ++bit)
      r = static_cast<std::uint16_t>((r & 0x8000) != 0 ? (r << 1) ^ polynomial : r << 1);
    table[byte] = r;
  }
  return table;
}

constexpr std::array<std::uint16_t, 256> table = make_table();

}  // namespace

std::uint16_t crc16_xmodem(std::string_view bytes) {
  std::uint16_t crc = 0;
  for (const char c : bytes) {
    const auto index = static_cast<std::uint8_t>((crc >> 8) ^ static_cast<std::uint8_t>(c));
    crc = static_cast<std::uint16_t>((crc << 8) ^ table[index]);
  }
  return crc;
}

std::uint16_t key_slot(std::string_view key) {
  const std::size_t open = key.find('{');
  if (open != std::string_view::npos) {
    const std::size_t close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1)
      key = key.substr(open + 1, close - open - 1);
  }
  // 16384 is a power of two: the mod is a mask.
  return static_cast<std::uint16_t>(crc16_xmodem(key) & (redis_slot_count - 1));
}

}  // namespace larder
