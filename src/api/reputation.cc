// Reputation (feedback/reputation.h): rolling bounce and complaint rates.
//   GET /v1/reputation                        the authenticated tenant's rates and level
//   GET /v1/admin/reputation?dim=tenant|domain|site|pool   every key of one dimension (admin)
#include "feedback/reputation.h"

#include <boost/asio.hpp>
#include <boost/json.hpp>

#include "api/admin_util.h"
#include "api/handlers.h"
#include "api/problem.h"
#include "core/clock.h"

namespace mp {
namespace json = boost::json;
using feedback::ReputationDim;
using feedback::ReputationSnapshot;

namespace {

json::object Window(const feedback::WindowCounts& w) {
  return json::object{{"sent", w.sent},
                      {"bounced", w.bounced},
                      {"complained", w.complained},
                      {"bounce_rate", w.bounce_rate()},
                      {"complaint_rate", w.complaint_rate()}};
}

json::object View(const ReputationSnapshot& s) {
  return json::object{{"dimension", feedback::ReputationDimName(s.dim)},
                      {"key", s.key},
                      {"level", feedback::ReputationLevelName(s.level)},
                      {"reason", s.level_reason},
                      {"last_hour", Window(s.hour)},
                      {"last_24_hours", Window(s.day)}};
}

json::object Thresholds(const feedback::ReputationThresholds& t) {
  return json::object{{"review_bounce_rate", t.review_bounce},
                      {"review_complaint_rate", t.review_complaint},
                      {"pause_bounce_rate", t.pause_bounce},
                      {"pause_complaint_rate", t.pause_complaint},
                      {"min_volume", t.min_volume}};
}

}  // namespace

HttpResponse GetReputation(ApiContext& ctx, const std::string& tenant_id) {
  if (!ctx.reputation) return ProblemResponse(MakeError(Code::kNotFound, "no such route"));
  auto snap = ctx.reputation->Get(ReputationDim::kTenant, tenant_id, ctx.clock.NowMs());
  json::object o;
  if (snap) {
    o = View(*snap);
  } else {
    ReputationSnapshot empty;
    empty.dim = ReputationDim::kTenant;
    empty.key = tenant_id;
    empty.level = feedback::ReputationLevel::kHealthy;
    o = View(empty);
  }
  o["thresholds"] = Thresholds(ctx.reputation->thresholds());
  return JsonResponse(200, json::serialize(o));
}

HttpResponse GetAdminReputation(ApiContext& ctx, const HttpRequest& req) {
  if (!ctx.reputation) return ProblemResponse(MakeError(Code::kNotFound, "no such route"));
  std::string dim_name = QueryParam(req.query, "dim").value_or("tenant");
  std::optional<ReputationDim> dim;
  for (auto d : {ReputationDim::kTenant, ReputationDim::kDomain, ReputationDim::kSite,
                 ReputationDim::kPool}) {
    if (feedback::ReputationDimName(d) == dim_name) dim = d;
  }
  if (!dim) {
    return ProblemResponse(
        MakeError(Code::kInvalidValue, "dim must be one of tenant, domain, site, pool", "dim"));
  }
  json::array items;
  for (const ReputationSnapshot& s : ctx.reputation->List(*dim, ctx.clock.NowMs())) {
    items.push_back(View(s));
  }
  return JsonResponse(
      200, json::serialize(json::object{{"dimension", dim_name},
                                        {"items", std::move(items)},
                                        {"thresholds", Thresholds(ctx.reputation->thresholds())}}));
}

}  // namespace mp
