#include "gateway/api/formats.h"

#include <chrono>
#include <cstdio>
#include <random>

#include "fhir/json/json.h"
#include "fhir/search/search.h"

namespace carebridge::api {

std::string StatusLine(int status) {
  std::string_view reason;
  switch (status) {
    case 200:
      reason = "OK";
      break;
    case 201:
      reason = "Created";
      break;
    case 204:
      reason = "No Content";
      break;
    case 304:
      reason = "Not Modified";
      break;
    case 400:
      reason = "Bad Request";
      break;
    case 401:
      reason = "Unauthorized";
      break;
    case 403:
      reason = "Forbidden";
      break;
    case 404:
      reason = "Not Found";
      break;
    case 405:
      reason = "Method Not Allowed";
      break;
    case 406:
      reason = "Not Acceptable";
      break;
    case 409:
      reason = "Conflict";
      break;
    case 410:
      reason = "Gone";
      break;
    case 412:
      reason = "Precondition Failed";
      break;
    case 413:
      reason = "Payload Too Large";
      break;
    case 415:
      reason = "Unsupported Media Type";
      break;
    case 422:
      reason = "Unprocessable Entity";
      break;
    case 429:
      reason = "Too Many Requests";
      break;
    case 500:
      reason = "Internal Server Error";
      break;
    case 503:
      reason = "Service Unavailable";
      break;
    default:
      reason = "";
      break;
  }
  std::string line = std::to_string(status);
  if (!reason.empty()) {
    line.push_back(' ');
    line.append(reason);
  }
  return line;
}

std::string HttpDateFromInstant(std::string_view instant) {
  auto range = fhir::DateRange(instant);
  if (!range || instant.size() < 20 || instant.back() != 'Z') {
    return {};
  }
  using namespace std::chrono;
  sys_seconds seconds{duration_cast<std::chrono::seconds>(milliseconds{range->first})};
  sys_days day = floor<days>(seconds);
  year_month_day ymd{day};
  weekday wd{day};
  hh_mm_ss<std::chrono::seconds> tod{seconds - day};
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, "%s, %02u %s %04d %02d:%02d:%02d GMT",
                kDays[wd.c_encoding()], static_cast<unsigned>(ymd.day()),
                kMonths[static_cast<unsigned>(ymd.month()) - 1], static_cast<int>(ymd.year()),
                static_cast<int>(tod.hours().count()), static_cast<int>(tod.minutes().count()),
                static_cast<int>(tod.seconds().count()));
  return buffer;
}

std::string NowInstant() {
  return fhir::FormatInstant(std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count());
}

std::string NewUuid() {
  thread_local std::mt19937_64 engine{[] {
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device()};
    return std::mt19937_64(seed);
  }()};
  // UUID version 7 (RFC 9562): 48 bits of Unix milliseconds, then 74 random bits. Ids made close
  // in time sort close together, so each create appends to the store's B-trees instead of
  // dirtying a random page of every index: fewer pages per commit, the durable write's cost.
  const std::uint64_t ms =
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  std::uint64_t hi = (ms << 16) | 0x7000ULL | (engine() & 0x0fffULL);
  std::uint64_t lo = (engine() & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // variant
  char buffer[37];
  std::snprintf(buffer, sizeof buffer, "%08x-%04x-%04x-%04x-%012llx",
                static_cast<unsigned>(hi >> 32), static_cast<unsigned>((hi >> 16) & 0xffff),
                static_cast<unsigned>(hi & 0xffff), static_cast<unsigned>(lo >> 48),
                static_cast<unsigned long long>(lo & 0xffffffffffffULL));
  return buffer;
}

std::optional<std::int64_t> ParseETagVersion(std::string_view etag) {
  if (etag.starts_with("W/")) {
    etag.remove_prefix(2);
  }
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
    etag = etag.substr(1, etag.size() - 2);
  }
  if (etag.empty() || etag.size() > 18) {
    return std::nullopt;
  }
  std::int64_t version = 0;
  for (char c : etag) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    version = version * 10 + (c - '0');
  }
  return version;
}

void AppendJsonString(std::string& out, std::string_view text) {
  fhir::json::Write(fhir::json::Value::String(std::string(text)), out);
}

std::string PercentEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_' || c == '~' || c == ':';
    if (unreserved) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

}  // namespace carebridge::api
