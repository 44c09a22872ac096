#include "smtp/reply.h"

namespace mp::smtp {
namespace {

bool Digit(char c) { return c >= '0' && c <= '9'; }

// Reads 1..3 digits at text[*i]; returns -1 if there are none or more than three.
int Number(std::string_view text, size_t* i) {
  size_t start = *i;
  int v = 0;
  while (*i < text.size() && Digit(text[*i]) && *i - start < 4) v = v * 10 + (text[(*i)++] - '0');
  size_t n = *i - start;
  if (n == 0 || n > 3) return -1;
  return v;
}

}  // namespace

std::string EnhancedCode::ToString() const {
  return std::to_string(klass) + "." + std::to_string(subject) + "." + std::to_string(detail);
}

std::string Reply::Summary() const {
  std::string out = std::to_string(code);
  if (enhanced) out.append(" ").append(enhanced->ToString());
  for (const std::string& l : lines) {
    if (!l.empty()) out.append(" ").append(l);
  }
  return out;
}

std::optional<EnhancedCode> ParseEnhancedCode(std::string_view text, size_t* consumed) {
  size_t i = 0;
  if (text.empty() || (text[0] != '2' && text[0] != '4' && text[0] != '5')) return std::nullopt;
  EnhancedCode c;
  c.klass = text[0] - '0';
  i = 1;
  if (i >= text.size() || text[i++] != '.') return std::nullopt;
  c.subject = Number(text, &i);
  if (c.subject < 0 || i >= text.size() || text[i++] != '.') return std::nullopt;
  c.detail = Number(text, &i);
  if (c.detail < 0) return std::nullopt;
  if (i < text.size() && text[i] != ' ' && text[i] != '\t') return std::nullopt;  // "5.1.1x"
  if (i < text.size()) ++i;
  if (consumed) *consumed = i;
  return c;
}

void ReplyParser::Feed(std::string_view bytes) {
  if (pos_ > 0 && pos_ == buffer_.size()) {
    buffer_.clear();
    pos_ = 0;
  }
  buffer_.append(bytes);
}

Result<std::optional<Reply>> ReplyParser::Next() {
  if (failed_) return *failed_;
  auto fail = [this](std::string detail) -> Error {
    failed_ = MakeError(Code::kBadRequest, "SMTP protocol error: " + std::move(detail));
    return *failed_;
  };
  for (;;) {
    size_t eol = buffer_.find('\n', pos_);
    if (eol == std::string::npos) {
      if (buffer_.size() - pos_ > kMaxLine) return fail("reply line longer than 2048 octets");
      return std::optional<Reply>();
    }
    std::string_view line(buffer_.data() + pos_, eol - pos_);
    pos_ = eol + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);  // bare LF is tolerated
    if (line.size() > kMaxLine) return fail("reply line longer than 2048 octets");
    if (line.size() < 3 || !Digit(line[0]) || !Digit(line[1]) || !Digit(line[2]) || line[0] < '2' ||
        line[0] > '5') {
      return fail("reply line does not start with a code: " + std::string(line.substr(0, 40)));
    }
    int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    bool last;
    if (line.size() == 3 || line[3] == ' ') {
      last = true;
    } else if (line[3] == '-') {
      last = false;
    } else {
      return fail("reply code not followed by space or '-'");
    }
    std::string_view text = line.size() > 4 ? line.substr(4) : std::string_view();
    if (!in_reply_) {
      partial_ = Reply{};
      partial_.code = code;
      in_reply_ = true;
      size_t used = 0;
      if (auto e = ParseEnhancedCode(text, &used)) {
        partial_.enhanced = e;
        text.remove_prefix(used);
      }
    } else {
      if (code != partial_.code) return fail("multi-line reply changes its code");
      // Continuation lines repeat the enhanced code; drop it so lines hold the text only.
      size_t used = 0;
      if (partial_.enhanced) {
        if (auto e = ParseEnhancedCode(text, &used); e && *e == *partial_.enhanced) {
          text.remove_prefix(used);
        }
      }
    }
    if (partial_.lines.size() >= kMaxLines) return fail("reply longer than 100 lines");
    partial_.lines.emplace_back(text);
    if (last) {
      in_reply_ = false;
      if (pos_ == buffer_.size()) {
        buffer_.clear();
        pos_ = 0;
      }
      return std::optional<Reply>(std::move(partial_));
    }
  }
}

}  // namespace mp::smtp
