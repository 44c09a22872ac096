#include "core/log.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdio>

#include "core/clock.h"

namespace mp::log {
namespace {

std::atomic<int> g_level{static_cast<int>(Level::kInfo)};
std::atomic<bool> g_json{true};

spdlog::logger& Logger() {
  static std::shared_ptr<spdlog::logger> logger = [] {
    auto l = std::make_shared<spdlog::logger>("mailplane",
                                              std::make_shared<spdlog::sinks::stderr_sink_mt>());
    l->set_pattern("%v");
    l->set_level(spdlog::level::trace);
    l->flush_on(spdlog::level::trace);
    return l;
  }();
  return *logger;
}

std::string_view LevelName(Level l) {
  switch (l) {
    case Level::kTrace:
      return "trace";
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "info";
}

void AppendValue(std::string& out, const Value& v, bool json) {
  if (auto* s = std::get_if<std::string_view>(&v)) {
    if (json) {
      AppendJsonString(out, *s);
    } else {
      out.append(*s);
    }
  } else if (auto* i = std::get_if<int64_t>(&v)) {
    out.append(std::to_string(*i));
  } else if (auto* d = std::get_if<double>(&v)) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", *d);
    out.append(buf);
  } else {
    out.append(std::get<bool>(v) ? "true" : "false");
  }
}

}  // namespace

void AppendJsonString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      default:
        if (c < 0x20) {
          out.append("\\u00");
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 15]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

void Init(std::string_view level, std::string_view format) {
  Level l = Level::kInfo;
  for (Level cand : {Level::kTrace, Level::kDebug, Level::kInfo, Level::kWarn, Level::kError}) {
    if (LevelName(cand) == level) l = cand;
  }
  g_level.store(static_cast<int>(l));
  g_json.store(format != "text");
  Logger();
}

bool Enabled(Level level) { return static_cast<int>(level) >= g_level.load(); }

void Write(Level level, std::string_view event, std::initializer_list<Field> fields) {
  if (!Enabled(level)) return;
  const bool json = g_json.load();
  std::string line;
  line.reserve(128);
  std::string ts = FormatRfc3339(Clock::System().NowMs());
  if (json) {
    line.append(R"({"ts":")").append(ts).append(R"(","level":")");
    line.append(LevelName(level)).append(R"(","event":)");
    AppendJsonString(line, event);
    for (const Field& f : fields) {
      line.push_back(',');
      AppendJsonString(line, f.key);
      line.push_back(':');
      AppendValue(line, f.value, true);
    }
    line.push_back('}');
  } else {
    line.append(ts).append(" ").append(LevelName(level)).append(" ").append(event);
    for (const Field& f : fields) {
      line.append(" ").append(f.key).append("=");
      AppendValue(line, f.value, false);
    }
  }
  Logger().log(spdlog::level::info, "{}", line);
}

}  // namespace mp::log
