// Handlers behind the router. Each returns the full response, errors as problem+json.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <string>

#include "api/api.h"
#include "core/error.h"

namespace mp {

class WriteBatch;

boost::asio::awaitable<HttpResponse> SubmitMessage(ApiContext& ctx, HttpRequest& req,
                                                   const std::string& tenant_id);
boost::asio::awaitable<HttpResponse> SubmitBatch(ApiContext& ctx, HttpRequest& req,
                                                 const std::string& tenant_id);
HttpResponse GetMessage(ApiContext& ctx, const std::string& tenant_id, std::string_view id);
// GET /v1/messages?status=&recipient=&from=&tag=&since=&until=&limit=&cursor=, newest first.
// It, GetMessageEvents and ListEvents only read the store: callers run them on the blocking pool.
HttpResponse ListMessages(ApiContext& ctx, const HttpRequest& req, const std::string& tenant_id);
HttpResponse GetRawMessage(ApiContext& ctx, const std::string& tenant_id, std::string_view id);
boost::asio::awaitable<HttpResponse> CancelMessage(ApiContext& ctx, const std::string& tenant_id,
                                                   std::string_view id);
// DELETE /v1/messages/{id}: a cancel, or with ?redact=true a redaction (store/redaction.h).
boost::asio::awaitable<HttpResponse> DeleteMessage(ApiContext& ctx, const HttpRequest& req,
                                                   const std::string& tenant_id,
                                                   std::string_view id);
// POST /v1/messages/{id}/unsubscribe: the sender reports that a recipient unsubscribed (from its
// own List-Unsubscribe target): an `unsubscribed` event, and the address on the tenant's
// suppression list when its policy says so.
boost::asio::awaitable<HttpResponse> ReportUnsubscribe(ApiContext& ctx, const HttpRequest& req,
                                                       const std::string& tenant_id,
                                                       std::string_view id);
// DELETE /v1/recipients/{address}: erases one address from the tenant's messages and events.
boost::asio::awaitable<HttpResponse> EraseRecipient(ApiContext& ctx, const std::string& tenant_id,
                                                    std::string address);
boost::asio::awaitable<HttpResponse> HandleAdmin(ApiContext& ctx, HttpRequest& req);
// /v1/admin/egress... and /v1/admin/routes... (admin_egress.cc), after the admin token check.
boost::asio::awaitable<HttpResponse> HandleAdminEgress(ApiContext& ctx, HttpRequest& req);
// /v1/admin/queue... (admin_queue.cc), after the admin token check.
boost::asio::awaitable<HttpResponse> HandleAdminQueue(ApiContext& ctx, HttpRequest& req);
// Events (events.cc), for an authenticated tenant.
HttpResponse GetMessageEvents(ApiContext& ctx, const std::string& tenant_id, std::string_view id);
HttpResponse ListEvents(ApiContext& ctx, const HttpRequest& req, const std::string& tenant_id);
// /v1/domains... (domains.cc), for an authenticated tenant.
boost::asio::awaitable<HttpResponse> HandleDomains(ApiContext& ctx, HttpRequest& req,
                                                   const std::string& tenant_id);

// /v1/webhooks... (webhooks.cc), for an authenticated tenant.
boost::asio::awaitable<HttpResponse> HandleWebhooks(ApiContext& ctx, HttpRequest& req,
                                                    const std::string& tenant_id);

// /v1/suppressions... for an authenticated tenant, and /v1/admin/suppressions... (the global
// list, or a tenant's with ?tenant=) after the admin token check (suppressions.cc).
boost::asio::awaitable<HttpResponse> HandleSuppressions(ApiContext& ctx, HttpRequest& req,
                                                        const std::string& tenant_id);
boost::asio::awaitable<HttpResponse> HandleAdminSuppressions(ApiContext& ctx, HttpRequest& req);

// GET /v1/reputation (tenant) and GET /v1/admin/reputation?dim= (reputation.cc).
HttpResponse GetReputation(ApiContext& ctx, const std::string& tenant_id);
HttpResponse GetAdminReputation(ApiContext& ctx, const HttpRequest& req);

// Commits batch through the store's group commit and resumes on the caller's executor.
boost::asio::awaitable<Status> AsyncCommit(KvStore& kv, WriteBatch batch);

// The JSON content type check shared by POST handlers (415 otherwise).
Status RequireJson(const HttpRequest& req);

HttpResponse JsonResponse(int status, std::string body);

// Whether the request carries the configured admin token (never true when none is configured).
bool AdminAuthorized(const ApiContext& ctx, const HttpRequest& req);

// 405 with an Allow header listing allow ("GET, POST").
HttpResponse MethodNotAllowed(std::string allow);

// The token of an "Authorization: Bearer <token>" header, trimmed; empty if there is none.
std::string_view BearerToken(const HttpRequest& req);

}  // namespace mp
