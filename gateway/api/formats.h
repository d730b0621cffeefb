#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace carebridge::api {

// "201 Created" — the form Bundle.entry.response.status takes.
std::string StatusLine(int status);

// FHIR instant "2026-11-22T10:00:00.123Z" to an HTTP-date "Sun, 22 Nov 2026 10:00:00 GMT".
// Empty when the text is not an instant in UTC.
std::string HttpDateFromInstant(std::string_view instant);

// The current time as a FHIR instant in UTC with milliseconds.
std::string NowInstant();

// A time-ordered (version 7) UUID in lower-case hex: server-assigned ids and Bundle ids.
std::string NewUuid();

// W/"3" or "3" -> 3. nullopt when malformed.
std::optional<std::int64_t> ParseETagVersion(std::string_view etag);

// Appends `text` as a JSON string literal (quoted, escaped).
void AppendJsonString(std::string& out, std::string_view text);

// Percent-encodes a query-string component (RFC 3986 unreserved characters stay).
std::string PercentEncode(std::string_view text);

}  // namespace carebridge::api
