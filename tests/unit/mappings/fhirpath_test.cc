#include "mappings/fhirpath.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "fhir/json/json.h"
#include "tests/unit/mappings/test_util.h"

namespace carebridge::mappings::fhirpath {
namespace {

using fhir::json::Value;
using testing::LoadFixture;
using testing::MustParse;

Expression MustCompile(std::string_view text) {
  std::string message;
  Result<Expression> e = Expression::Compile(text, message);
  EXPECT_TRUE(e.has_value()) << text << ": " << message;
  return e.has_value() ? std::move(*e) : Expression();
}

// The result as a JSON array, for comparison with the expected outputs.
Value ToArray(const Collection& c) {
  Value out = Value::Array();
  for (const Item& item : c.items()) {
    out.PushBack(*item.value);
  }
  return out;
}

// Numbers compare by value so that the fixture's 3 matches a computed "3".
bool SameOutputs(const Value& got, const Value& want) {
  if (got.items().size() != want.items().size()) {
    return false;
  }
  for (std::size_t i = 0; i < got.items().size(); ++i) {
    const Value& a = got.items()[i];
    const Value& b = want.items()[i];
    if (a.is_number() && b.is_number()) {
      if (std::stod(a.text()) != std::stod(b.text())) {
        return false;
      }
    } else if (!(a == b)) {
      return false;
    }
  }
  return true;
}

TEST(FhirPathSpec, CasesFromTheSpecificationTestList) {
  const Value suite = LoadFixture("fhirpath/spec-cases.json");
  std::map<std::string, Value> inputs;
  int checked = 0;
  for (const Value& c : suite.Find("cases")->items()) {
    const std::string expression(c.StringAt("expression"));
    const std::string group(c.StringAt("group"));
    SCOPED_TRACE(group + ": " + expression);
    std::string message;
    Result<Expression> compiled = Expression::Compile(expression, message);
    if (const Value* invalid = c.Find("invalid"); invalid != nullptr && invalid->as_bool()) {
      EXPECT_FALSE(compiled.has_value());
      EXPECT_FALSE(message.empty());
      ++checked;
      continue;
    }
    ASSERT_TRUE(compiled.has_value()) << message;
    const std::string input(c.StringAt("input"));
    if (!inputs.contains(input)) {
      inputs.emplace(input, LoadFixture("fhirpath/" + input));
    }
    const Value got = ToArray(compiled->Evaluate(inputs.at(input)));
    EXPECT_TRUE(SameOutputs(got, *c.Find("expected")))
        << "got " << fhir::json::Write(got) << " want " << fhir::json::Write(*c.Find("expected"));
    ++checked;
  }
  EXPECT_GT(checked, 200);
}

TEST(FhirPath, ChoiceElementsCarryTheirType) {
  const Value obs = LoadFixture("fhirpath/observation-example.json");
  Collection c = MustCompile("Observation.value").Evaluate(obs);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].type, "Quantity");
  EXPECT_EQ(c[0].key, "valueQuantity");
  // A direct JSON name works too: rules address what partners send.
  EXPECT_EQ(MustCompile("valueQuantity.code").Evaluate(obs)[0].value->text(), "[lb_av]");
  // `status` must not find a member that merely starts with it.
  const Value task = MustParse(R"({"resourceType":"Task","statusReason":{"text":"x"}})");
  EXPECT_TRUE(MustCompile("Task.status").Evaluate(task).empty());
}

TEST(FhirPath, WhereOnCodingsAndExists) {
  const Value obs = LoadFixture("fhirpath/observation-example.json");
  Collection c =
      MustCompile("code.coding.where(system = %loinc and code = '3141-9')").Evaluate(obs);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].index, 1);
  EXPECT_EQ(c[0].value->StringAt("display"), "Body weight Measured");
  EXPECT_EQ(MustCompile("code.coding.exists(system = %sct)").Evaluate(obs).AsBoolean(), true);
  EXPECT_EQ(MustCompile("code.coding.exists(system = 'x' or code = '27113001')")
                .Evaluate(obs)
                .AsBoolean(),
            true);
  EXPECT_EQ(MustCompile("category.coding.code.first() = 'vital-signs'").Evaluate(obs).AsBoolean(),
            true);
}

TEST(FhirPath, LocateGivesParentKeyAndIndex) {
  Value patient = LoadFixture("fhirpath/patient-example.json");
  std::vector<Location> found = MustCompile("Patient.telecom.where(use = 'old')").Locate(patient);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].key, "telecom");
  EXPECT_EQ(found[0].index, 3);
  EXPECT_EQ(found[0].parent, &patient);
  found = MustCompile("Patient.gender").Locate(patient);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].index, -1);
  found[0].value->mutable_text() = "female";
  EXPECT_EQ(patient.StringAt("gender"), "female");
  // Literals and computed values have no location.
  EXPECT_TRUE(MustCompile("'x' | Patient.name.count()").Locate(patient).empty());
  // The context itself.
  found = MustCompile("Patient").Locate(patient);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].parent, nullptr);
  EXPECT_EQ(found[0].value, &patient);
  // Extensions of a primitive are located in its `_name` sibling.
  found = MustCompile(
              "Patient.birthDate.extension('http://hl7.org/fhir/StructureDefinition/"
              "patient-birthTime')")
              .Locate(patient);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].parent, patient.Find("_birthDate"));
  EXPECT_EQ(found[0].key, "extension");
}

TEST(FhirPath, SplitLastAndMemberChain) {
  const Expression e = MustCompile("ServiceRequest.code.coding.where(system = 'x').display");
  std::optional<Expression::Target> t = e.SplitLast();
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->name, "display");
  EXPECT_EQ(t->parent.text(), "ServiceRequest.code.coding.where(system = 'x')");
  EXPECT_FALSE(e.MemberChain().has_value());

  const Expression plain = MustCompile("ServiceRequest.meta.source");
  std::optional<std::vector<std::string>> chain = plain.MemberChain();
  ASSERT_TRUE(chain.has_value());
  EXPECT_EQ(*chain, (std::vector<std::string>{"meta", "source"}));
  EXPECT_EQ(plain.SplitLast()->parent.text(), "ServiceRequest.meta");

  EXPECT_FALSE(MustCompile("ServiceRequest").SplitLast().has_value());
  EXPECT_FALSE(MustCompile("code.coding.first()").SplitLast().has_value());
  std::optional<Expression::Target> bare = MustCompile("priority").SplitLast();
  ASSERT_TRUE(bare.has_value());
  EXPECT_EQ(bare->parent.text(), "");  // the identity: the context itself
}

TEST(FhirPath, CompileErrorsSayWhereAndWhat) {
  struct Case {
    const char* text;
    const char* fragment;
  };
  for (const Case& c :
       {Case{"Patient.name.", "expected a name"}, Case{"name.where(", "unexpected end"},
        Case{"'unterminated", "unterminated string"},
        Case{"name.foo()", "unsupported function 'foo()'"}, Case{"%unknown", "unknown variable"},
        Case{"name[0", "expected ']'"}, Case{"name.where()", "where() takes 1 argument"},
        Case{"$index", "unsupported variable"}, Case{"", "empty expression"},
        Case{"name.ofType('x')", "expected a type name"}, Case{"a b", "unexpected 'b'"}}) {
    std::string message;
    Result<Expression> e = Expression::Compile(c.text, message);
    EXPECT_FALSE(e.has_value()) << c.text;
    EXPECT_EQ(e.error(), make_error_code(errc::kBadExpression));
    EXPECT_NE(message.find(c.fragment), std::string::npos) << c.text << " -> " << message;
    EXPECT_NE(message.find("at character"), std::string::npos) << message;
  }
}

TEST(FhirPath, DeepNestingIsRefusedNotRecursedInto) {
  std::string deep(10000, '(');
  deep += "1";
  deep += std::string(10000, ')');
  std::string message;
  EXPECT_FALSE(Expression::Compile(deep, message).has_value());
  EXPECT_NE(message.find("nested too deeply"), std::string::npos);
  std::string negations(10000, '-');
  negations += "1";
  message.clear();
  EXPECT_FALSE(Expression::Compile(negations, message).has_value());
}

TEST(FhirPath, CopiesShareTheCompiledProgram) {
  Expression a = MustCompile("name.given.first()");
  Expression b = a;
  const Value patient = LoadFixture("fhirpath/patient-example.json");
  EXPECT_EQ(b.Evaluate(patient)[0].value->text(), "Peter");
  EXPECT_EQ(a.text(), b.text());
  // The identity expression evaluates to its context.
  EXPECT_EQ(Expression().Evaluate(patient)[0].value, &patient);
}

TEST(FhirPath, PathOfNamesTheElement) {
  const Value obs = LoadFixture("fhirpath/observation-example.json");
  const Collection c = MustCompile("code.coding[2].code").Evaluate(obs);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(PathOf(obs, c[0].value), "Observation.code.coding[2].code");
  const Value other = Value::String("x");
  EXPECT_EQ(PathOf(obs, &other), "");
}

TEST(FhirPath, EvaluateWithAFocus) {
  const Value patient = LoadFixture("fhirpath/patient-example.json");
  const Collection names = MustCompile("name").Evaluate(patient);
  const Expression family = MustCompile("family = 'Windsor' and %resource.gender = 'male'");
  EXPECT_EQ(family.Evaluate(patient, names[2]).AsBoolean(), true);
  EXPECT_EQ(family.Evaluate(patient, names[0]).AsBoolean(), false);
}

}  // namespace
}  // namespace carebridge::mappings::fhirpath
