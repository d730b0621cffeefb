#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>

#include "fhir/json/json.h"
#include "fhir/outcome.h"

namespace carebridge::mappings::testing {

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline std::string FixturePath(std::string_view relative) {
  return std::string(CAREBRIDGE_FIXTURES_DIR) + "/mappings/" + std::string(relative);
}

inline std::string DataPath(std::string_view relative) {
  return std::string(CAREBRIDGE_MAPPINGS_DIR) + "/" + std::string(relative);
}

inline fhir::json::Value MustParse(std::string_view text) {
  std::string message;
  Result<fhir::json::Value> v = fhir::json::Parse(text, fhir::json::Limits{}, message);
  EXPECT_TRUE(v.has_value()) << message << "\n" << text;
  return v.has_value() ? std::move(*v) : fhir::json::Value();
}

inline fhir::json::Value LoadFixture(std::string_view relative) {
  return MustParse(ReadFile(FixturePath(relative)));
}

inline std::string Describe(const fhir::Outcome& outcome) {
  return fhir::json::Write(outcome.ToResource());
}

}  // namespace carebridge::mappings::testing
