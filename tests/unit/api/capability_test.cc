// The CapabilityStatement declares every operation the API routes: the router's operation names
// (each `== "$name"` test in gateway/api/*.cc) are read from the sources, so a new operation that
// is routed but not declared fails here.

#include "gateway/api/capability.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "fhir/json/json.h"

namespace carebridge::api {
namespace {

namespace json = fhir::json;

std::set<std::string> Declared() {
  std::string message;
  auto cs = json::Parse(BuildCapabilityStatement(), json::Limits{}, message);
  EXPECT_TRUE(cs.has_value()) << message;
  std::set<std::string> names;
  if (!cs) {
    return names;
  }
  const json::Value& rest = cs->Find("rest")->items().front();
  auto collect = [&names](const json::Value* operations) {
    if (operations != nullptr) {
      for (const json::Value& op : operations->items()) {
        names.insert(std::string(op.StringAt("name")));
        EXPECT_FALSE(op.StringAt("definition").empty()) << op.StringAt("name");
      }
    }
  };
  collect(rest.Find("operation"));
  for (const json::Value& resource : rest.Find("resource")->items()) {
    collect(resource.Find("operation"));
  }
  return names;
}

std::set<std::string> Routed() {
  std::set<std::string> names;
  const std::regex route(R"re(== "\$([a-z][a-z-]*)")re");
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(CAREBRIDGE_SOURCE_DIR) + "/gateway/api")) {
    if (entry.path().extension() != ".cc") {
      continue;
    }
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    const std::string source = text.str();
    for (std::sregex_iterator it(source.begin(), source.end(), route), end; it != end; ++it) {
      names.insert((*it)[1].str());
    }
  }
  return names;
}

TEST(CapabilityTest, DeclaresEveryRoutedOperation) {
  const std::set<std::string> routed = Routed();
  ASSERT_TRUE(routed.contains("redrive")) << "the router's operations were not found";
  const std::set<std::string> declared = Declared();
  for (const std::string& name : routed) {
    EXPECT_TRUE(declared.contains(name)) << "$" << name << " is routed but not declared";
  }
  for (const std::string& name : declared) {
    EXPECT_TRUE(routed.contains(name)) << "$" << name << " is declared but not routed";
  }
}

}  // namespace
}  // namespace carebridge::api
