// Composition checked by an independent parser (GMime): what we write is what a reader gets.
#include "mime/compose.h"

#include <gmime/gmime.h>
#include <gtest/gtest.h>

#include <memory>

namespace mp {
namespace {

class GMimeEnv : public ::testing::Environment {
 public:
  void SetUp() override { g_mime_init(); }
};
const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new GMimeEnv);

struct Parsed {
  GMimeMessage* msg = nullptr;
  ~Parsed() {
    if (msg) g_object_unref(msg);
  }
};

void Parse(const std::string& raw, Parsed* out) {
  GMimeStream* stream = g_mime_stream_mem_new_with_buffer(raw.data(), raw.size());
  GMimeParser* parser = g_mime_parser_new_with_stream(stream);
  out->msg = g_mime_parser_construct_message(parser, nullptr);
  g_object_unref(parser);
  g_object_unref(stream);
}

std::string PartText(GMimeObject* obj) {
  GMimePart* part = GMIME_PART(obj);
  GMimeDataWrapper* content = g_mime_part_get_content(part);
  GMimeStream* mem = g_mime_stream_mem_new();
  g_mime_data_wrapper_write_to_stream(content, mem);
  GByteArray* bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
  std::string s(reinterpret_cast<char*>(bytes->data), bytes->len);
  g_object_unref(mem);
  return s;
}

std::string Type(GMimeObject* obj) {
  GMimeContentType* ct = g_mime_object_get_content_type(obj);
  return std::string(g_mime_content_type_get_media_type(ct)) + "/" +
         g_mime_content_type_get_media_subtype(ct);
}

Mailbox Mb(const char* name, const char* local, const char* domain) {
  Mailbox m;
  m.display_name = name;
  m.local = local;
  m.domain = domain;
  return m;
}

ComposeInput Base() {
  ComposeInput in;
  in.from = Mb("Zoë Sender", "zoe", "example.com");
  in.to = {Mb("", "bob", "example.org"), Mb("Doe, John", "john", "example.net")};
  in.subject = "Grüße aus Köln — a subject long enough to need folding across several lines";
  in.message_id = "abc123@example.com";
  in.date = "Tue, 24 Nov 2026 10:00:00 +0000";
  return in;
}

void ExpectSevenBitShortLines(const std::string& raw) {
  size_t line = 0;
  for (unsigned char c : raw) {
    ASSERT_LT(c, 0x80) << "8-bit byte in output";
    if (c == '\n') {
      line = 0;
    } else {
      ASSERT_LE(++line, 999u) << "line over 998 octets";
    }
  }
  // Every LF is part of CRLF.
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '\n') ASSERT_TRUE(i > 0 && raw[i - 1] == '\r');
  }
}

TEST(Compose, TextOnlyIsASinglePartWithHeaders) {
  ComposeInput in = Base();
  in.text = "Hello\nworld";
  std::string raw = ComposeMessage(in);
  ExpectSevenBitShortLines(raw);
  Parsed p;
  Parse(raw, &p);
  ASSERT_TRUE(p.msg);
  EXPECT_STREQ(g_mime_message_get_subject(p.msg), in.subject.c_str());
  EXPECT_STREQ(g_mime_message_get_message_id(p.msg), "abc123@example.com");
  InternetAddressList* from = g_mime_message_get_from(p.msg);
  ASSERT_EQ(internet_address_list_length(from), 1);
  InternetAddress* f = internet_address_list_get_address(from, 0);
  EXPECT_STREQ(internet_address_get_name(f), "Zoë Sender");
  EXPECT_STREQ(internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(f)), "zoe@example.com");
  InternetAddressList* to = g_mime_message_get_to(p.msg);
  ASSERT_EQ(internet_address_list_length(to), 2);
  EXPECT_STREQ(internet_address_get_name(internet_address_list_get_address(to, 1)), "Doe, John");
  GMimeObject* body = g_mime_message_get_mime_part(p.msg);
  EXPECT_EQ(Type(body), "text/plain");
  EXPECT_EQ(PartText(body), "Hello\r\nworld\r\n");
  EXPECT_NE(raw.find("Date: Tue, 24 Nov 2026 10:00:00 +0000\r\n"), std::string::npos);
}

TEST(Compose, NonAsciiAndLongLinesUseQuotedPrintable) {
  ComposeInput in = Base();
  std::string text = "Ünïcödé " + std::string(2000, 'x') + "\nsecond line = end";
  in.text = text;
  std::string raw = ComposeMessage(in);
  ExpectSevenBitShortLines(raw);
  EXPECT_NE(raw.find("Content-Transfer-Encoding: quoted-printable"), std::string::npos);
  Parsed p;
  Parse(raw, &p);
  ASSERT_TRUE(p.msg);
  GMimeObject* body = g_mime_message_get_mime_part(p.msg);
  std::string decoded = PartText(body);
  EXPECT_EQ(decoded, "Ünïcödé " + std::string(2000, 'x') + "\r\nsecond line = end\r\n");
}

TEST(Compose, FullTreeMixedAlternativeRelated) {
  ComposeInput in = Base();
  in.text = "plain body";
  in.html = "<p>html body <img src=\"cid:logo@x\"></p>";
  in.cc = {Mb("", "carol", "example.org")};
  in.reply_to = {Mb("Replies", "reply", "example.com")};
  in.headers = {{"X-Campaign", "winter"}, {"X-Note", "naïve"}};
  Attachment logo{"logo.png", "image/png", std::string("\x89PNG\r\n\x1a\n\0\1\2", 11), "logo@x"};
  std::string pdf_bytes;
  for (int i = 0; i < 5000; ++i) pdf_bytes.push_back(static_cast<char>(i));
  Attachment pdf{"Rechnung Nr. 5 — März.pdf", "application/pdf", pdf_bytes, ""};
  in.attachments = {logo, pdf};
  std::string raw = ComposeMessage(in);
  ExpectSevenBitShortLines(raw);
  Parsed p;
  Parse(raw, &p);
  ASSERT_TRUE(p.msg);
  GMimeObject* root = g_mime_message_get_mime_part(p.msg);
  ASSERT_EQ(Type(root), "multipart/mixed");
  GMimeMultipart* mixed = GMIME_MULTIPART(root);
  ASSERT_EQ(g_mime_multipart_get_count(mixed), 2);
  GMimeObject* alt = g_mime_multipart_get_part(mixed, 0);
  ASSERT_EQ(Type(alt), "multipart/alternative");
  GMimeMultipart* altm = GMIME_MULTIPART(alt);
  ASSERT_EQ(g_mime_multipart_get_count(altm), 2);
  EXPECT_EQ(Type(g_mime_multipart_get_part(altm, 0)), "text/plain");
  EXPECT_EQ(PartText(g_mime_multipart_get_part(altm, 0)), "plain body\r\n");
  GMimeObject* related = g_mime_multipart_get_part(altm, 1);
  ASSERT_EQ(Type(related), "multipart/related");
  GMimeMultipart* relm = GMIME_MULTIPART(related);
  ASSERT_EQ(g_mime_multipart_get_count(relm), 2);
  EXPECT_EQ(Type(g_mime_multipart_get_part(relm, 0)), "text/html");
  EXPECT_EQ(PartText(g_mime_multipart_get_part(relm, 0)), *in.html + "\r\n");
  GMimeObject* img = g_mime_multipart_get_part(relm, 1);
  EXPECT_EQ(Type(img), "image/png");
  EXPECT_STREQ(g_mime_object_get_content_id(img), "logo@x");
  EXPECT_EQ(PartText(img), logo.content);
  GMimeObject* att = g_mime_multipart_get_part(mixed, 1);
  EXPECT_EQ(Type(att), "application/pdf");
  EXPECT_STREQ(g_mime_part_get_filename(GMIME_PART(att)), "Rechnung Nr. 5 — März.pdf");
  EXPECT_EQ(PartText(att), pdf_bytes);
  EXPECT_STREQ(g_mime_object_get_header(GMIME_OBJECT(p.msg), "X-Campaign"), "winter");
  EXPECT_NE(raw.find("X-Note: =?UTF-8?B?"), std::string::npos);
  InternetAddressList* cc = g_mime_message_get_cc(p.msg);
  EXPECT_EQ(internet_address_list_length(cc), 1);
  InternetAddressList* rt = g_mime_message_get_reply_to(p.msg);
  EXPECT_EQ(internet_address_list_length(rt), 1);
}

TEST(Compose, UserMessageIdAndDateAreNotDuplicated) {
  ComposeInput in = Base();
  in.text = "x";
  in.headers = {{"Message-ID", "<mine@example.com>"}, {"Date", "Mon, 23 Nov 2026 10:00:00 +0000"}};
  std::string raw = ComposeMessage(in);
  EXPECT_EQ(raw.find("abc123@example.com"), std::string::npos);
  size_t first = raw.find("Date:");
  EXPECT_EQ(raw.find("Date:", first + 1), std::string::npos);
  EXPECT_NE(raw.find("Message-ID: <mine@example.com>"), std::string::npos);
}

TEST(Compose, InlinePartsWithoutHtmlBecomeAttachments) {
  ComposeInput in = Base();
  in.text = "see attached";
  in.attachments = {{"a.txt", "text/plain", "data", "cid1@x"}};
  std::string raw = ComposeMessage(in);
  Parsed p;
  Parse(raw, &p);
  ASSERT_TRUE(p.msg);
  GMimeObject* root = g_mime_message_get_mime_part(p.msg);
  ASSERT_EQ(Type(root), "multipart/mixed");
  EXPECT_EQ(g_mime_multipart_get_count(GMIME_MULTIPART(root)), 2);
}

}  // namespace
}  // namespace mp

namespace mp {
namespace {

TEST(ComposeRules, NonAsciiFilenamesUseRfc2231AndRelatedHasAType) {
  ComposeInput in = Base();
  in.html = "<img src=\"cid:i@x\">";
  std::string long_name;
  for (int i = 0; i < 40; ++i) long_name += "Größe ";
  long_name += ".pdf";
  in.attachments = {{"März.png", "image/png", "img", "i@x"},
                    {long_name, "application/pdf", "p", ""}};
  std::string raw = ComposeMessage(in);
  ExpectSevenBitShortLines(raw);
  EXPECT_NE(raw.find("filename*0*=utf-8''M%C3%A4rz.png"), std::string::npos);
  EXPECT_EQ(raw.find("filename=\"=?"), std::string::npos);  // no encoded words in parameters
  EXPECT_NE(raw.find("multipart/related; type=\"text/html\""), std::string::npos);
  Parsed p;
  Parse(raw, &p);
  ASSERT_TRUE(p.msg);
  GMimeObject* root = g_mime_message_get_mime_part(p.msg);
  GMimeObject* pdf = g_mime_multipart_get_part(GMIME_MULTIPART(root), 1);
  EXPECT_STREQ(g_mime_part_get_filename(GMIME_PART(pdf)), long_name.c_str());
}

TEST(ComposeRules, NoWhitespaceOnlyLinesAndShortEncodedWordLines) {
  ComposeInput in = Base();
  in.text = "x";
  in.subject = "Ünïcödé subject that needs several encoded words to fit the limits of RFC 2047";
  in.headers = {{"X-Trail", std::string(70, 'a') + std::string(10, ' ')}};
  std::string raw = ComposeMessage(in);
  size_t start = 0;
  while (start < raw.size()) {
    size_t end = raw.find("\r\n", start);
    std::string line = raw.substr(start, end - start);
    if (line.empty()) break;  // end of the header section
    EXPECT_NE(line.find_first_not_of(" \t"), std::string::npos) << "whitespace-only header line";
    if (line.find("=?UTF-8?") != std::string::npos) {
      EXPECT_LE(line.size(), 76u) << line;
    }
    start = end + 2;
  }
  Parsed p;
  Parse(raw, &p);
  ASSERT_TRUE(p.msg);
  EXPECT_STREQ(g_mime_message_get_subject(p.msg), in.subject.c_str());
}

}  // namespace
}  // namespace mp
