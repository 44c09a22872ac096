#include "smtp/data_reader.h"

#include <gtest/gtest.h>

#include "smtp/dot_stuff.h"

namespace mp::smtp {
namespace {

TEST(DataReader, EndsAtCrLfDotCrLfAndUnstuffs) {
  DataReader r(1000);
  std::string in = "Subject: x\r\n\r\n..leading dot\r\nplain\r\n.\r\nMAIL FROM:<next@x.org>\r\n";
  size_t used = r.Feed(in);
  ASSERT_TRUE(r.Done());
  EXPECT_EQ(in.substr(used), "MAIL FROM:<next@x.org>\r\n");  // pipelined next command untouched
  EXPECT_EQ(r.Message(), "Subject: x\r\n\r\n.leading dot\r\nplain\r\n");
  EXPECT_FALSE(r.BareLineFeed());
  DataReader empty(10);
  EXPECT_EQ(empty.Feed(".\r\n"), 3u);
  EXPECT_TRUE(empty.Done());
  EXPECT_EQ(empty.Message(), "");
}

TEST(DataReader, BareLineFeedsNeverEndTheDataAndAreFlagged) {
  DataReader r(1000);
  r.Feed("a\n.\nMAIL FROM:<evil@x.org>\n");  // the smuggling pattern
  EXPECT_FALSE(r.Done());
  EXPECT_TRUE(r.BareLineFeed());
  r.Feed("b\n.\r\n");  // LF "." CRLF is not an end either
  EXPECT_FALSE(r.Done());
  r.Feed("\r\n.\r\n");
  EXPECT_TRUE(r.Done());
  DataReader cr(1000);
  cr.Feed("x\r\n.\rnot the end\r\n.\r\n");
  EXPECT_TRUE(cr.Done());
  EXPECT_EQ(cr.Message(), "x\r\n\rnot the end\r\n");
}

TEST(DataReader, TooLargeKeepsReadingToTheEndButStoresNoMore) {
  DataReader r(10);
  r.Feed(std::string(100, 'x') + "\r\n");
  EXPECT_TRUE(r.TooLarge());
  EXPECT_FALSE(r.Done());
  EXPECT_LE(r.Message().size(), 10u);
  r.Feed(".\r\n");
  EXPECT_TRUE(r.Done());
  EXPECT_EQ(r.Size(), 102u);
}

TEST(DataReader, RoundTripsTheDotStufferInPiecesOfAnySize) {
  const std::string msg = "Subject: t\r\n\r\n.\r\n..\r\n. x\r\nend.\r\n";
  const std::string wire = DotStuffer::Stuff(msg);
  for (size_t step = 1; step <= wire.size(); ++step) {
    DataReader r(1000);
    size_t used = 0;
    for (size_t i = 0; i < wire.size() && !r.Done(); i += step) {
      used += r.Feed(std::string_view(wire).substr(i, step));
    }
    ASSERT_TRUE(r.Done()) << "step " << step;
    EXPECT_EQ(used, wire.size());
    EXPECT_EQ(r.Message(), msg) << "step " << step;
  }
}

}  // namespace
}  // namespace mp::smtp
