#include "mime/encoding.h"

#include <gtest/gtest.h>

#include <random>

namespace mp {
namespace {

TEST(Base64, RoundTripsEveryLengthAndByte) {
  std::string data;
  for (int i = 0; i < 300; ++i) {
    data.push_back(static_cast<char>(i * 7));
    auto back = Base64Decode(Base64Encode(data));
    ASSERT_TRUE(back);
    ASSERT_EQ(*back, data);
    auto mime = Base64Decode(Base64EncodeMime(data));
    ASSERT_TRUE(mime);
    ASSERT_EQ(*mime, data);
  }
}

TEST(Base64, KnownVectors) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
}

TEST(Base64, StrictDecoding) {
  EXPECT_EQ(Base64Decode("Zm9v\r\nYmFy"), "foobar");  // line breaks are skipped
  for (const char* bad : {"Zm9", "Zm9v=", "Z===", "Zm=v", "Zm9v!", "Zh==", "Zm9=Zm9v",
                          "====", "Zm9vYmFy====", "\xff\xfe"}) {
    EXPECT_FALSE(Base64Decode(bad)) << bad;
  }
}

TEST(Base64Mime, LinesAre76Characters) {
  std::string out = Base64EncodeMime(std::string(1000, 'x'));
  size_t start = 0;
  while (start < out.size()) {
    size_t end = out.find("\r\n", start);
    ASSERT_NE(end, std::string::npos);
    EXPECT_LE(end - start, 76u);
    start = end + 2;
  }
}

TEST(QuotedPrintable, EncodesAndKeepsLinesShort) {
  EXPECT_EQ(QuotedPrintableEncode("a=b"), "a=3Db");
  EXPECT_EQ(QuotedPrintableEncode("é"), "=C3=A9");
  EXPECT_EQ(QuotedPrintableEncode("line \nnext"), "line=20\r\nnext");  // trailing space encoded
  EXPECT_EQ(QuotedPrintableEncode("a\r\nb"), "a\r\nb");
  EXPECT_EQ(QuotedPrintableEncode(".\nx"), "=2E\r\nx");
  std::string long_line(500, 'y');
  std::string out = QuotedPrintableEncode(long_line + "é");
  size_t start = 0;
  std::string decoded;
  while (start < out.size()) {
    size_t end = out.find("\r\n", start);
    if (end == std::string::npos) end = out.size();
    EXPECT_LE(end - start, 76u);
    start = end + 2;
  }
  for (unsigned char c : out) EXPECT_LT(c, 0x80);
}

TEST(EncodedWords, AsciiStaysAndUtf8IsEncodedInShortWords) {
  EXPECT_EQ(EncodeUnstructured("Hello world"), "Hello world");
  EXPECT_EQ(EncodeUnstructured("Héllo"), "=?UTF-8?B?SMOpbGxv?=");
  // Text that merely looks like an encoded word is encoded, so a reader cannot misread it.
  EXPECT_EQ(EncodeUnstructured("=?x?"), "=?UTF-8?B?PT94Pw==?=");
  std::string long_text;
  for (int i = 0; i < 60; ++i) long_text += "日本";
  std::string enc = EncodeUnstructured(long_text);
  size_t start = 0;
  while (start < enc.size()) {
    size_t end = enc.find("\r\n ", start);
    if (end == std::string::npos) end = enc.size();
    EXPECT_LE(end - start, 75u);
    start = end + 3;
  }
}

TEST(Phrase, QuotesOnlyWhenNeeded) {
  EXPECT_EQ(EncodePhrase("Alice"), "Alice");
  EXPECT_EQ(EncodePhrase("Alice B"), "Alice B");
  EXPECT_EQ(EncodePhrase("Doe, John"), "\"Doe, John\"");
  EXPECT_EQ(EncodePhrase("say \"hi\""), "\"say \\\"hi\\\"\"");
}

TEST(Utf8, Validation) {
  EXPECT_TRUE(IsValidUtf8("plain"));
  EXPECT_TRUE(IsValidUtf8("ünïcødé 日本 😀"));
  EXPECT_FALSE(IsValidUtf8("\xc3"));
  EXPECT_FALSE(IsValidUtf8("\xc0\xaf"));          // overlong
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // above U+10FFFF
}

TEST(AppendHeader, FoldsLongValuesAtSpaces) {
  std::string out;
  std::string value;
  for (int i = 0; i < 30; ++i) value += "word" + std::to_string(i) + " ";
  value += "end";
  AppendHeader(out, "Subject", value);
  size_t start = 0;
  while (start < out.size()) {
    size_t end = out.find("\r\n", start);
    ASSERT_NE(end, std::string::npos);
    EXPECT_LE(end - start, 78u);
    start = end + 2;
  }
  // Unfolding (removing CRLF before whitespace) gives the value back.
  std::string unfolded;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out.compare(i, 3, "\r\n ") == 0) {
      i += 1;
      continue;
    }
    unfolded.push_back(out[i]);
  }
  EXPECT_EQ(unfolded, "Subject: " + value + "\r\n");
}

}  // namespace
}  // namespace mp

namespace {

// RFC 2045 section 6.7 decoding, for the round trip below.
std::string DecodeQp(const std::string& in) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '=' && i + 2 < in.size() && in[i + 1] == '\r' && in[i + 2] == '\n') {
      i += 2;
    } else if (in[i] == '=' && i + 2 < in.size()) {
      out.push_back(static_cast<char>(std::stoi(in.substr(i + 1, 2), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(in[i]);
    }
  }
  return out;
}

}  // namespace

TEST(QuotedPrintable, RandomTextRoundTripsWithShortLinesAndNoTrailingWhitespace) {
  std::mt19937 rng(42);
  const std::string alphabet = "ab .\t=\n\xc3\xa9xyz  ";
  for (int round = 0; round < 2000; ++round) {
    std::string text;
    size_t len = rng() % 400;
    for (size_t i = 0; i < len; ++i) text.push_back(alphabet[rng() % alphabet.size()]);
    std::string enc = mp::QuotedPrintableEncode(text);
    std::string expected;
    for (char c : text) {
      if (c == '\n')
        expected += "\r\n";
      else
        expected.push_back(c);
    }
    ASSERT_EQ(DecodeQp(enc), expected) << "input: " << text;
    size_t start = 0;
    while (start < enc.size()) {
      size_t end = enc.find("\r\n", start);
      if (end == std::string::npos) end = enc.size();
      ASSERT_LE(end - start, 76u);
      if (end > start) {
        char last = enc[end - 1];
        ASSERT_TRUE(last != ' ' && last != '\t') << "trailing whitespace in: " << enc;
      }
      start = end + 2;
    }
  }
}
