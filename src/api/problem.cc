#include "api/problem.h"

#include "core/log.h"

namespace mp {

std::string ProblemJson(const Error& e) {
  std::string out;
  out.reserve(160 + e.detail.size());
  out.append("{\"type\":\"/problems/").append(CodeName(e.code)).append("\",\"title\":");
  log::AppendJsonString(out, CodeTitle(e.code));
  out.append(",\"status\":").append(std::to_string(CodeHttpStatus(e.code)));
  out.append(",\"code\":\"").append(CodeName(e.code)).append("\",\"detail\":");
  log::AppendJsonString(out, e.detail.empty() ? CodeTitle(e.code) : std::string_view(e.detail));
  if (!e.field.empty()) {
    out.append(",\"field\":");
    log::AppendJsonString(out, e.field);
  }
  out.push_back('}');
  return out;
}

HttpResponse ProblemResponse(const Error& e) {
  HttpResponse r;
  r.status = CodeHttpStatus(e.code);
  r.content_type = "application/problem+json";
  r.body = ProblemJson(e);
  if (e.code == Code::kUnauthorized) r.headers.emplace_back("WWW-Authenticate", "Bearer");
  if (e.code == Code::kOverloaded || e.code == Code::kShuttingDown) {
    r.headers.emplace_back("Retry-After", "1");
  }
  return r;
}

}  // namespace mp
