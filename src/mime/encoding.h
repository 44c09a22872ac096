// Content and header encodings for composing 7-bit-safe MIME (RFC 2045, RFC 2047).
// SECURITY: Base64Decode and IsValidUtf8 see untrusted input; both are total functions with no
// allocation beyond their output.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mp {

bool IsValidUtf8(std::string_view s);

// Base64 with lines of 76 characters ended by CRLF (RFC 2045 section 6.8).
std::string Base64EncodeMime(std::string_view data);
// Base64 without line breaks.
std::string Base64Encode(std::string_view data);
// Strict standard-alphabet base64 with '=' padding. CR, LF, space and tab between characters are
// skipped (clients wrap long base64). Anything else, or bad padding, gives nullopt.
std::optional<std::string> Base64Decode(std::string_view text);

// Quoted-printable body (RFC 2045 section 6.7): line breaks in the input (LF or CRLF) become CRLF,
// every output line is at most 76 characters.
std::string QuotedPrintableEncode(std::string_view text);

// An unstructured header value (Subject, custom headers): kept as is when it is printable ASCII,
// otherwise RFC 2047 encoded words (UTF-8, B encoding) of at most 75 characters, never splitting a
// UTF-8 sequence, separated by folding whitespace.
std::string EncodeUnstructured(std::string_view value);
// A display name: bare if it is atoms and spaces, a quoted-string if it needs quoting and is ASCII,
// otherwise RFC 2047 encoded words.
std::string EncodePhrase(std::string_view name);

// Appends "Name: value\r\n", folding at spaces so that lines stay within 78 characters where the
// value allows and never exceed 998.
void AppendHeader(std::string& out, std::string_view name, std::string_view value);

}  // namespace mp
