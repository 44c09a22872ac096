#include "smtp/dot_stuff.h"

#include <gtest/gtest.h>

namespace mp::smtp {
namespace {

TEST(DotStuff, StuffsLeadingDotsAndTerminates) {
  EXPECT_EQ(DotStuffer::Stuff("a\r\n.b\r\n..c\r\n"), "a\r\n..b\r\n...c\r\n.\r\n");
  EXPECT_EQ(DotStuffer::Stuff(".\r\n"), "..\r\n.\r\n");  // a lone dot would end the data early
  EXPECT_EQ(DotStuffer::Stuff(""), ".\r\n");
}

TEST(DotStuff, NormalisesBareLfAndBareCrAndAddsAFinalLineEnd) {
  EXPECT_EQ(DotStuffer::Stuff("a\nb"), "a\r\nb\r\n.\r\n");
  EXPECT_EQ(DotStuffer::Stuff("a\rb\r"), "a\r\nb\r\n.\r\n");
  // The smuggling pattern: "\n.\n" must not become an end of data.
  EXPECT_EQ(DotStuffer::Stuff("x\n.\nMAIL FROM:<e@x>\n"), "x\r\n..\r\nMAIL FROM:<e@x>\r\n.\r\n");
  EXPECT_EQ(DotStuffer::Stuff("x\r\n.\rmore"), "x\r\n..\r\nmore\r\n.\r\n");
}

TEST(DotStuff, PiecesOfAnySizeGiveTheSameBytes) {
  const std::string msg = "Subject: x\r\n\r\n.line\r\nplain\n.\r\r\n..two\rend";
  const std::string whole = DotStuffer::Stuff(msg);
  for (size_t step = 1; step <= msg.size(); ++step) {
    DotStuffer s;
    std::string out;
    for (size_t i = 0; i < msg.size(); i += step)
      s.Feed(std::string_view(msg).substr(i, step), out);
    s.Finish(out);
    EXPECT_EQ(out, whole) << "step " << step;
  }
}

}  // namespace
}  // namespace mp::smtp
