// Suppression list API (placeholder until the handlers land): every route answers 404.
#include "api/handlers.h"
#include "api/problem.h"

namespace mp {

boost::asio::awaitable<HttpResponse> HandleSuppressions(ApiContext& ctx, HttpRequest& req,
                                                        const std::string& tenant_id) {
  co_return ProblemResponse(MakeError(Code::kNotFound, "no such route"));
}

boost::asio::awaitable<HttpResponse> HandleAdminSuppressions(ApiContext& ctx, HttpRequest& req) {
  co_return ProblemResponse(MakeError(Code::kNotFound, "no such route"));
}

}  // namespace mp
