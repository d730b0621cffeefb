#pragma once

// A minimal structured logger: one JSON object per line on stderr. Thread-safe.

#include <initializer_list>
#include <string_view>
#include <utility>

namespace carebridge::log {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

// Lines below `level` are dropped. Accepts "debug", "info", "warn", "error"; false otherwise.
bool SetLogLevel(std::string_view level);
bool LogEnabled(LogLevel level);

using LogField = std::pair<std::string_view, std::string_view>;

// {"ts":"...","level":"info","msg":"...",<fields>} — values are written as JSON strings.
void Log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields = {});

}  // namespace carebridge::log
