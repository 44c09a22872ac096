#include "mime/encoding.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>

namespace mp {
namespace {

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

bool IsPrintableAscii(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

// Length of the UTF-8 sequence starting with lead byte c (1 for invalid leads, already validated).
size_t Utf8Len(unsigned char c) {
  if (c < 0x80) return 1;
  if ((c >> 5) == 6) return 2;
  if ((c >> 4) == 14) return 3;
  if ((c >> 3) == 30) return 4;
  return 1;
}

std::string EncodedWords(std::string_view value) {
  // "=?UTF-8?B?" + payload + "?=" <= 75: payload <= 63 chars = 45 input bytes (multiple of 3).
  constexpr size_t kMaxBytes = 45;
  std::string out;
  size_t i = 0;
  while (i < value.size()) {
    size_t end = i;
    while (end < value.size()) {
      size_t n = Utf8Len(static_cast<unsigned char>(value[end]));
      if (end + n - i > kMaxBytes) break;
      end += n;
    }
    if (end == i) end = i + 1;  // cannot happen with valid UTF-8; guards against a stall
    if (!out.empty()) out.append("\r\n ");
    out.append("=?UTF-8?B?").append(Base64Encode(value.substr(i, end - i))).append("?=");
    i = end;
  }
  return out;
}

}  // namespace

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    // ASCII fast path: eight bytes at a time while none has its high bit set.
    while (i + 8 <= s.size()) {
      uint64_t word;
      std::memcpy(&word, s.data() + i, 8);
      if (word & 0x8080808080808080ull) break;
      i += 8;
    }
    if (i >= s.size()) break;
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t n;
    uint32_t cp;
    if ((c >> 5) == 6) {
      n = 2;
      cp = c & 0x1f;
    } else if ((c >> 4) == 14) {
      n = 3;
      cp = c & 0x0f;
    } else if ((c >> 3) == 30) {
      n = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc >> 6) != 2) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;
    }
    i += n;
  }
  return true;
}

std::string Base64Encode(std::string_view data) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  size_t i = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  for (; i + 3 <= data.size(); i += 3) {
    uint32_t v = (p[i] << 16) | (p[i + 1] << 8) | p[i + 2];
    out.push_back(kB64[v >> 18]);
    out.push_back(kB64[(v >> 12) & 63]);
    out.push_back(kB64[(v >> 6) & 63]);
    out.push_back(kB64[v & 63]);
  }
  if (size_t rest = data.size() - i) {
    uint32_t v = p[i] << 16;
    if (rest == 2) v |= p[i + 1] << 8;
    out.push_back(kB64[v >> 18]);
    out.push_back(kB64[(v >> 12) & 63]);
    out.push_back(rest == 2 ? kB64[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

std::string Base64EncodeMime(std::string_view data) {
  std::string flat = Base64Encode(data);
  std::string out;
  out.reserve(flat.size() + flat.size() / 76 * 2 + 2);
  for (size_t i = 0; i < flat.size(); i += 76) {
    out.append(flat, i, 76).append("\r\n");
  }
  return out;
}

std::optional<std::string> Base64Decode(std::string_view text) {
  static const auto kTable = [] {
    std::array<int8_t, 256> t{};
    t.fill(-1);
    for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(kB64[i])] = static_cast<int8_t>(i);
    return t;
  }();
  std::string out;
  out.reserve(text.size() / 4 * 3);
  uint32_t acc = 0;
  int bits = 0;
  size_t chars = 0;
  size_t pad = 0;
  for (unsigned char c : text) {
    if (c == '\r' || c == '\n' || c == ' ' || c == '\t') continue;
    if (c == '=') {
      ++pad;
      ++chars;
      continue;
    }
    if (pad) return std::nullopt;  // data after padding
    int8_t v = kTable[c];
    if (v < 0) return std::nullopt;
    ++chars;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  if (chars % 4 != 0 || pad > 2) return std::nullopt;
  // The bits left over must be zero, or the text is not canonical base64 of anything.
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  if ((pad == 1 && bits != 2) || (pad == 2 && bits != 4) || (pad == 0 && bits != 0)) {
    return std::nullopt;
  }
  return out;
}

std::string QuotedPrintableEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  // Worst case: every byte becomes "=XX" plus a soft break ("=\r\n") every 25 input bytes.
  std::string out(text.size() * 4 + 16, '\0');
  char* o = out.data();
  size_t line_len = 0;
  const size_t n = text.size();
  for (size_t i = 0; i < n; ++i) {
    // Fast path: copy a run of plain printable characters that fits on the current line.
    if (line_len != 0 || text[i] != '.') {
      size_t j = i;
      const size_t end = std::min(n, i + (75 - line_len));
      while (j < end) {
        auto p = static_cast<unsigned char>(text[j]);
        if (p >= 33 && p <= 126 && p != '=') {
          ++j;
          continue;
        }
        // A space or tab stays literal unless it ends a line (or the text).
        if ((p == ' ' || p == '\t') && j + 1 < n && text[j + 1] != '\n' && text[j + 1] != '\r') {
          ++j;
          continue;
        }
        break;
      }
      if (j > i) {
        std::memcpy(o, text.data() + i, j - i);
        o += j - i;
        line_len += j - i;
        i = j - 1;
        continue;
      }
    }
    auto c = static_cast<unsigned char>(text[i]);
    if (c == '\r' && i + 1 < n && text[i + 1] == '\n') continue;  // CRLF: handled at the LF
    if (c == '\n') {
      *o++ = '\r';
      *o++ = '\n';
      line_len = 0;
      continue;
    }
    bool literal = c >= 33 && c <= 126 && c != '=';
    if (c == ' ' || c == '\t') {
      // Whitespace at the end of a line would be lost in transport: encode it there.
      bool at_eol = i + 1 == n || text[i + 1] == '\n' ||
                    (text[i + 1] == '\r' && i + 2 < n && text[i + 2] == '\n');
      literal = !at_eol;
    }
    // A '.' alone at the start of a line survives SMTP, but some gateways mangle it; encode it.
    if (c == '.' && line_len == 0) literal = false;
    const size_t width = literal ? 1 : 3;
    if (line_len + width > 75) {  // leave room for the soft break's '='
      *o++ = '=';
      *o++ = '\r';
      *o++ = '\n';
      line_len = 0;
    }
    if (literal) {
      *o++ = static_cast<char>(c);
    } else {
      *o++ = '=';
      *o++ = kHex[c >> 4];
      *o++ = kHex[c & 15];
    }
    line_len += width;
  }
  out.resize(static_cast<size_t>(o - out.data()));
  return out;
}

std::string EncodeUnstructured(std::string_view value) {
  if (IsPrintableAscii(value) && value.find("=?") == std::string_view::npos) {
    return std::string(value);
  }
  return EncodedWords(value);
}

std::string EncodePhrase(std::string_view name) {
  if (!IsPrintableAscii(name) || name.find("=?") != std::string_view::npos) {
    return EncodedWords(name);
  }
  bool atoms = !name.empty();
  for (char c : name) {
    bool atext = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 std::string_view("!#$%&'*+-/=?^_`{|}~ ").find(c) != std::string_view::npos;
    if (!atext) atoms = false;
  }
  if (atoms && name.front() != ' ' && name.back() != ' ') return std::string(name);
  std::string out = "\"";
  for (char c : name) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

void AppendHeader(std::string& out, std::string_view name, std::string_view value) {
  out.append(name).append(":");
  size_t line_len = name.size() + 1;
  // An encoded word that would not fit on the first line (RFC 2047 section 2: 76 characters)
  // starts on the next one.
  size_t first_end = std::min(value.find(' '), value.find("\r\n"));
  if (first_end == std::string_view::npos) first_end = value.size();
  if (value.substr(0, 2) == "=?" && line_len + 1 + first_end > 76) {
    out.append("\r\n");
    line_len = 0;
  }
  out.push_back(' ');
  ++line_len;
  // Split the value at existing fold points (CRLF SP from encoded words) and at spaces.
  size_t i = 0;
  while (i < value.size()) {
    if (value.compare(i, 3, "\r\n ") == 0) {
      out.append("\r\n ");
      line_len = 1;
      i += 3;
      continue;
    }
    size_t next_space = value.find(' ', i + 1);
    size_t next_fold = value.find("\r\n", i + 1);
    size_t end = std::min(next_space, next_fold);
    if (end == std::string_view::npos) end = value.size();
    std::string_view word = value.substr(i, end - i);
    // Fold only before a word with something in it: a line of nothing but whitespace would end
    // the header for some readers (RFC 5322 section 3.2.2).
    if (line_len + word.size() > 78 && line_len > 1 && word.front() == ' ' && word.size() > 1) {
      out.append("\r\n");  // the word's own leading space becomes the fold's whitespace
      line_len = 0;
    }
    // A word too long for any line is hard-split only past 998 (the absolute limit).
    while (line_len + word.size() > 998) {
      size_t take = 998 - line_len;
      out.append(word.substr(0, take)).append("\r\n ");
      word.remove_prefix(take);
      line_len = 1;
    }
    out.append(word);
    line_len += word.size();
    i = end;
  }
  out.append("\r\n");
}

}  // namespace mp
