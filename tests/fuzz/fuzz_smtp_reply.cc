// Fuzzes the SMTP reply parser with arbitrary server output fed in arbitrary pieces, and the
// dot-stuffer: the output must never contain an early end of data.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "smtp/command.h"
#include "smtp/data_reader.h"
#include "smtp/dot_stuff.h"
#include "smtp/extensions.h"
#include "smtp/reply.h"
#include "smtp/transaction.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  size_t step = data[0] % 17 + 1;
  // Whatever the server says, a transaction ends with an outcome for every recipient.
  mp::smtp::Extensions ext;
  ext.pipelining = data[0] & 1;
  mp::smtp::Transaction t({"from@x.org", {"a@x.org", "b@x.org", "c@x.org"}, 10}, ext);
  std::string cmds;
  t.Next(&cmds);
  mp::smtp::ReplyParser p;
  for (size_t i = 0; i < in.size(); i += step) {
    p.Feed(in.substr(i, step));
    for (;;) {
      auto r = p.Next();
      if (!r.ok() || !r.value()) break;
      if (r.value()->code < 200 || r.value()->code > 599) std::abort();
      (void)mp::smtp::ParseEhloReply(*r.value());
      t.OnReply(*r.value());
      t.Next(&cmds);
    }
  }
  if (!t.Done()) t.OnConnectionLost("end of input");
  for (size_t i = 0; i < 3; ++i) {
    if (t.Outcome(i) == mp::smtp::RecipientOutcome::kPending) std::abort();
  }
  // Every line is also a command a client could send: parsed or refused with 500/501.
  for (size_t start = 0; start < in.size();) {
    size_t eol = in.find('\n', start);
    if (eol == std::string_view::npos) eol = in.size();
    mp::smtp::ParsedCommand c = mp::smtp::ParseCommand(in.substr(start, eol - start));
    if (!c.command && c.reply_code != 500 && c.reply_code != 501) std::abort();
    start = eol + 1;
  }
  std::string stuffed = mp::smtp::DotStuffer::Stuff(in);
  // What the stuffer sends, the reader takes back whole: the end of data is found exactly at the
  // end, with no bare LF, and the message stuffs to the same bytes again.
  mp::smtp::DataReader reader(1 << 20);
  size_t used = 0;
  for (size_t i = 0; i < stuffed.size() && !reader.Done(); i += step) {
    used += reader.Feed(std::string_view(stuffed).substr(i, step));
  }
  if (!reader.Done() || used != stuffed.size() || reader.BareLineFeed()) std::abort();
  if (mp::smtp::DotStuffer::Stuff(reader.Message()) != stuffed) std::abort();
  mp::smtp::DataReader raw_reader(64);
  raw_reader.Feed(in);
  if (raw_reader.Message().size() > 64) std::abort();
  size_t end = stuffed.find("\r\n.\r\n");
  if (end != stuffed.size() - 5 && !(stuffed.rfind(".\r\n", 0) == 0 && stuffed.size() == 3)) {
    std::abort();  // the terminator appears before the end
  }
  return 0;
}
