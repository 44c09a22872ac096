// RFC 9457 problem details: every error answer of the HTTP API.
// {"type": "/problems/<code>", "title", "status", "code", "detail", "field"?}
#pragma once

#include "api/http_types.h"
#include "core/error.h"

namespace mp {

// The problem object as JSON text.
std::string ProblemJson(const Error& error);
HttpResponse ProblemResponse(const Error& error);

}  // namespace mp
