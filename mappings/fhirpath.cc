#include "mappings/fhirpath.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <span>
#include <utility>

namespace carebridge::mappings::fhirpath {

using fhir::json::Kind;
using fhir::json::Member;
using fhir::json::Value;

namespace {

enum class NodeKind : std::uint8_t {
  kLiteral,
  kEmpty,
  kThis,
  kVariable,
  kMember,
  kIndex,
  kFunction,
  kBinary,
  kNegate,
};

enum class Var : std::uint8_t { kResource, kSct, kLoinc, kUcum };

enum class Fn : std::uint8_t {
  kWhere,
  kSelect,
  kExists,
  kAll,
  kEmpty,
  kFirst,
  kLast,
  kTail,
  kSkip,
  kTake,
  kCount,
  kNot,
  kOfType,
  kIs,
  kAs,
  kExtension,
  kHasValue,
  kStartsWith,
  kEndsWith,
  kContains,
  kLength,
  kDistinct,
  kIif,
};

enum class BinOp : std::uint8_t {
  kEq,
  kNe,
  kLt,
  kGt,
  kLe,
  kGe,
  kUnion,
  kIn,
  kContains,
  kAnd,
  kOr,
  kXor,
  kImplies,
};

struct FnSpec {
  std::string_view name;
  Fn fn;
  int min_args;
  int max_args;
  bool type_arg;  // the argument is a type specifier, not an expression
};

constexpr std::array kFunctions = {
    FnSpec{"where", Fn::kWhere, 1, 1, false},
    FnSpec{"select", Fn::kSelect, 1, 1, false},
    FnSpec{"exists", Fn::kExists, 0, 1, false},
    FnSpec{"all", Fn::kAll, 1, 1, false},
    FnSpec{"empty", Fn::kEmpty, 0, 0, false},
    FnSpec{"first", Fn::kFirst, 0, 0, false},
    FnSpec{"last", Fn::kLast, 0, 0, false},
    FnSpec{"tail", Fn::kTail, 0, 0, false},
    FnSpec{"skip", Fn::kSkip, 1, 1, false},
    FnSpec{"take", Fn::kTake, 1, 1, false},
    FnSpec{"count", Fn::kCount, 0, 0, false},
    FnSpec{"not", Fn::kNot, 0, 0, false},
    FnSpec{"ofType", Fn::kOfType, 1, 1, true},
    FnSpec{"is", Fn::kIs, 1, 1, true},
    FnSpec{"as", Fn::kAs, 1, 1, true},
    FnSpec{"extension", Fn::kExtension, 1, 1, false},
    FnSpec{"hasValue", Fn::kHasValue, 0, 0, false},
    FnSpec{"startsWith", Fn::kStartsWith, 1, 1, false},
    FnSpec{"endsWith", Fn::kEndsWith, 1, 1, false},
    FnSpec{"contains", Fn::kContains, 1, 1, false},
    FnSpec{"length", Fn::kLength, 0, 0, false},
    FnSpec{"distinct", Fn::kDistinct, 0, 0, false},
    FnSpec{"iif", Fn::kIif, 2, 3, false},
};

// The FHIR R4 data types a choice element's JSON name can end in (valueQuantity, effectivePeriod).
// Matching on this list rather than on "any capital letter" keeps `status` from finding
// `statusReason`.
constexpr std::array<std::string_view, 52> kChoiceSuffixes = {
    "Address",
    "Age",
    "Annotation",
    "Attachment",
    "Base64Binary",
    "Boolean",
    "Canonical",
    "Code",
    "CodeableConcept",
    "Coding",
    "ContactDetail",
    "ContactPoint",
    "Contributor",
    "Count",
    "DataRequirement",
    "Date",
    "DateTime",
    "Decimal",
    "Distance",
    "Dosage",
    "Duration",
    "Expression",
    "HumanName",
    "Id",
    "Identifier",
    "Instant",
    "Integer",
    "Markdown",
    "Meta",
    "Money",
    "Oid",
    "ParameterDefinition",
    "Period",
    "PositiveInt",
    "Quantity",
    "Range",
    "Ratio",
    "Reference",
    "RelatedArtifact",
    "SampledData",
    "Signature",
    "String",
    "Time",
    "Timing",
    "TriggerDefinition",
    "UnsignedInt",
    "Uri",
    "Url",
    "UsageContext",
    "Uuid",
    "Integer64",
    "CodeableReference",
};

bool IsChoiceSuffix(std::string_view s) {
  return std::find(kChoiceSuffixes.begin(), kChoiceSuffixes.end(), s) != kChoiceSuffixes.end();
}

constexpr int kMaxDepth = 64;

}  // namespace

struct Expression::Program {
  struct Node {
    NodeKind kind = NodeKind::kEmpty;
    BinOp op = BinOp::kEq;
    Fn fn = Fn::kWhere;
    Var var = Var::kResource;
    bool type_head = false;   // a member in term position, which may name the context's type
    std::int32_t input = -1;  // member/index/function/negate: the node giving the input; -1: focus
    std::int32_t lhs = -1;    // binary
    std::int32_t rhs = -1;    // binary; index: the index expression
    std::uint32_t begin = 0;  // source span, for the text of sub-expressions
    std::uint32_t end = 0;
    std::string name;            // member name, or the type name of ofType/is/as
    std::string type_namespace;  // "FHIR", "System" or ""
    Value literal;
    std::vector<std::int32_t> args;
  };
  std::string text;
  std::vector<Node> nodes;
  std::int32_t root = -1;
};

namespace {

using Program = Expression::Program;
using Node = Expression::Program::Node;

// ---------------------------------------------------------------------------------------------
// Parsing

enum class Tok : std::uint8_t { kIdent, kString, kNumber, kThis, kVar, kOp, kEnd };

struct Token {
  Tok type = Tok::kEnd;
  std::string text;  // identifier (unquoted), string content, number text, variable, operator
  std::uint32_t pos = 0;
  bool quoted = false;  // a `backtick` identifier: never a keyword
};

bool IsIdentStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool IsIdentChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

void AppendUtf8(std::uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

class Parser {
 public:
  Parser(std::string_view text, Program& program, std::string& message)
      : text_(text), program_(program), message_(message) {}

  bool Run() {
    if (!Tokenize()) {
      return false;
    }
    if (tokens_.size() == 1) {
      return Fail(0, "empty expression");
    }
    const std::int32_t root = ParseLevel(0);
    if (root < 0) {
      return false;
    }
    if (Peek().type != Tok::kEnd) {
      return Fail(Peek().pos, "unexpected '" + Peek().text + "'");
    }
    program_.root = root;
    return true;
  }

 private:
  bool Fail(std::uint32_t pos, std::string what) {
    if (message_.empty()) {
      message_ = "FHIRPath '" + std::string(text_) + "': " + what + " at character " +
                 std::to_string(pos + 1);
    }
    return false;
  }

  bool Tokenize() {
    std::size_t i = 0;
    const std::size_t n = text_.size();
    while (i < n) {
      const char c = text_[i];
      const auto pos = static_cast<std::uint32_t>(i);
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        ++i;
        continue;
      }
      Token t;
      t.pos = pos;
      if (IsIdentStart(c)) {
        std::size_t j = i;
        while (j < n && IsIdentChar(text_[j])) {
          ++j;
        }
        t.type = Tok::kIdent;
        t.text = std::string(text_.substr(i, j - i));
        i = j;
      } else if (c == '`') {
        const std::size_t close = text_.find('`', i + 1);
        if (close == std::string_view::npos || close == i + 1) {
          return Fail(pos, "unterminated `identifier`");
        }
        t.type = Tok::kIdent;
        t.quoted = true;
        t.text = std::string(text_.substr(i + 1, close - i - 1));
        i = close + 1;
      } else if (c == '\'') {
        if (!ReadString(i, t.text)) {
          return false;
        }
        t.type = Tok::kString;
      } else if (std::isdigit(static_cast<unsigned char>(c))) {
        std::size_t j = i;
        while (j < n && std::isdigit(static_cast<unsigned char>(text_[j]))) {
          ++j;
        }
        // A '.' followed by a digit continues the number; otherwise it is an invocation
        // (`1.convertsToInteger()`).
        if (j + 1 < n && text_[j] == '.' &&
            std::isdigit(static_cast<unsigned char>(text_[j + 1]))) {
          ++j;
          while (j < n && std::isdigit(static_cast<unsigned char>(text_[j]))) {
            ++j;
          }
        }
        t.type = Tok::kNumber;
        t.text = std::string(text_.substr(i, j - i));
        i = j;
      } else if (c == '$') {
        std::size_t j = i + 1;
        while (j < n && IsIdentChar(text_[j])) {
          ++j;
        }
        if (text_.substr(i + 1, j - i - 1) != "this") {
          return Fail(pos, "unsupported variable '" + std::string(text_.substr(i, j - i)) + "'");
        }
        t.type = Tok::kThis;
        t.text = "$this";
        i = j;
      } else if (c == '%') {
        std::size_t j = i + 1;
        while (j < n && IsIdentChar(text_[j])) {
          ++j;
        }
        t.type = Tok::kVar;
        t.text = std::string(text_.substr(i + 1, j - i - 1));
        i = j;
      } else {
        static constexpr std::array<std::string_view, 20> kOps = {
            "!=", "<=", ">=", "!~", ".", "[", "]", "(", ")", ",",
            "=",  "<",  ">",  "|",  "{", "}", "-", "+", "~", "&"};
        std::string_view rest = text_.substr(i);
        std::string_view found;
        for (std::string_view op : kOps) {
          if (rest.starts_with(op)) {
            found = op;
            break;
          }
        }
        if (found.empty() || found == "~" || found == "!~" || found == "&") {
          return Fail(pos, "unsupported character '" + std::string(1, c) + "'");
        }
        t.type = Tok::kOp;
        t.text = std::string(found);
        i += found.size();
      }
      tokens_.push_back(std::move(t));
    }
    Token end;
    end.pos = static_cast<std::uint32_t>(n);
    end.text = "end of expression";
    tokens_.push_back(std::move(end));
    return true;
  }

  bool ReadString(std::size_t& i, std::string& out) {
    const auto start = static_cast<std::uint32_t>(i);
    ++i;
    while (i < text_.size()) {
      const char c = text_[i];
      if (c == '\'') {
        ++i;
        return true;
      }
      if (c != '\\') {
        out.push_back(c);
        ++i;
        continue;
      }
      if (i + 1 >= text_.size()) {
        break;
      }
      const char e = text_[i + 1];
      i += 2;
      switch (e) {
        case '\'':
        case '"':
        case '`':
        case '\\':
        case '/':
          out.push_back(e);
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'u': {
          if (i + 4 > text_.size()) {
            return Fail(static_cast<std::uint32_t>(i), "bad \\u escape");
          }
          std::uint32_t cp = 0;
          for (int k = 0; k < 4; ++k) {
            const char h = text_[i + k];
            cp <<= 4;
            if (h >= '0' && h <= '9') {
              cp |= static_cast<std::uint32_t>(h - '0');
            } else if (h >= 'a' && h <= 'f') {
              cp |= static_cast<std::uint32_t>(h - 'a' + 10);
            } else if (h >= 'A' && h <= 'F') {
              cp |= static_cast<std::uint32_t>(h - 'A' + 10);
            } else {
              return Fail(static_cast<std::uint32_t>(i), "bad \\u escape");
            }
          }
          if (cp >= 0xD800 && cp <= 0xDFFF) {
            return Fail(static_cast<std::uint32_t>(i), "surrogate in \\u escape");
          }
          AppendUtf8(cp, out);
          i += 4;
          break;
        }
        default:
          return Fail(static_cast<std::uint32_t>(i - 2), "bad escape in string");
      }
    }
    return Fail(start, "unterminated string");
  }

  const Token& Peek() const { return tokens_[pos_]; }
  const Token& PeekAt(std::size_t k) const {
    return tokens_[std::min(pos_ + k, tokens_.size() - 1)];
  }
  bool IsOp(std::string_view op) const { return Peek().type == Tok::kOp && Peek().text == op; }
  bool IsKeyword(std::string_view word) const {
    return Peek().type == Tok::kIdent && !Peek().quoted && Peek().text == word;
  }
  bool Expect(std::string_view op) {
    if (!IsOp(op)) {
      return Fail(Peek().pos, "expected '" + std::string(op) + "' but found '" + Peek().text + "'");
    }
    ++pos_;
    return true;
  }

  std::int32_t Add(Node node) {
    program_.nodes.push_back(std::move(node));
    return static_cast<std::int32_t>(program_.nodes.size() - 1);
  }
  std::uint32_t EndOfPrevious() const {
    const Token& t = tokens_[pos_ - 1];
    // Spans are only used to print sub-expressions; strings and quoted names are re-scanned.
    std::size_t end = t.pos;
    if (t.type == Tok::kString || t.quoted) {
      const char q = t.type == Tok::kString ? '\'' : '`';
      end = t.pos + 1;
      while (end < text_.size() && text_[end] != q) {
        end += text_[end] == '\\' ? 2 : 1;
      }
      return static_cast<std::uint32_t>(std::min(end + 1, text_.size()));
    }
    if (t.type == Tok::kThis) {
      return t.pos + 5;
    }
    if (t.type == Tok::kVar) {
      return static_cast<std::uint32_t>(t.pos + 1 + t.text.size());
    }
    return static_cast<std::uint32_t>(t.pos + t.text.size());
  }

  // Binary operators by precedence level, loosest first (FHIRPath §6, without arithmetic).
  std::optional<BinOp> BinaryAt(int level) const {
    const Token& t = Peek();
    if (t.type == Tok::kIdent && !t.quoted) {
      if (level == 0 && t.text == "implies") return BinOp::kImplies;
      if (level == 1 && t.text == "or") return BinOp::kOr;
      if (level == 1 && t.text == "xor") return BinOp::kXor;
      if (level == 2 && t.text == "and") return BinOp::kAnd;
      if (level == 3 && t.text == "in") return BinOp::kIn;
      if (level == 3 && t.text == "contains") return BinOp::kContains;
      return std::nullopt;
    }
    if (t.type != Tok::kOp) {
      return std::nullopt;
    }
    if (level == 4 && t.text == "=") return BinOp::kEq;
    if (level == 4 && t.text == "!=") return BinOp::kNe;
    if (level == 5 && t.text == "<") return BinOp::kLt;
    if (level == 5 && t.text == ">") return BinOp::kGt;
    if (level == 5 && t.text == "<=") return BinOp::kLe;
    if (level == 5 && t.text == ">=") return BinOp::kGe;
    if (level == 6 && t.text == "|") return BinOp::kUnion;
    return std::nullopt;
  }

  std::int32_t ParseLevel(int level) {
    if (++depth_ > kMaxDepth) {
      Fail(Peek().pos, "expression nested too deeply");
      return -1;
    }
    std::int32_t result;
    if (level > 6) {
      result = ParseUnary();
    } else {
      const std::uint32_t begin = Peek().pos;
      result = ParseLevel(level + 1);
      while (result >= 0) {
        const std::optional<BinOp> op = BinaryAt(level);
        if (!op) {
          break;
        }
        ++pos_;
        const std::int32_t rhs = ParseLevel(level + 1);
        if (rhs < 0) {
          result = -1;
          break;
        }
        Node node;
        node.kind = NodeKind::kBinary;
        node.op = *op;
        node.lhs = result;
        node.rhs = rhs;
        node.begin = begin;
        node.end = EndOfPrevious();
        result = Add(std::move(node));
      }
    }
    --depth_;
    return result;
  }

  std::int32_t ParseUnary() {
    if (IsOp("+") || IsOp("-")) {
      const bool negate = IsOp("-");
      const std::uint32_t begin = Peek().pos;
      ++pos_;
      if (++depth_ > kMaxDepth) {
        Fail(begin, "expression nested too deeply");
        return -1;
      }
      const std::int32_t operand = ParseUnary();
      --depth_;
      if (operand < 0 || !negate) {
        return operand;
      }
      Node node;
      node.kind = NodeKind::kNegate;
      node.input = operand;
      node.begin = begin;
      node.end = EndOfPrevious();
      return Add(std::move(node));
    }
    return ParsePostfix();
  }

  std::int32_t ParsePostfix() {
    const std::uint32_t begin = Peek().pos;
    std::int32_t current = ParseTerm();
    while (current >= 0) {
      if (IsOp(".")) {
        ++pos_;
        if (Peek().type != Tok::kIdent) {
          Fail(Peek().pos, "expected a name after '.'");
          return -1;
        }
        if (PeekAt(1).type == Tok::kOp && PeekAt(1).text == "(" && !Peek().quoted) {
          current = ParseFunction(current, begin);
        } else {
          Node node;
          node.kind = NodeKind::kMember;
          node.name = Peek().text;
          node.input = current;
          ++pos_;
          node.begin = begin;
          node.end = EndOfPrevious();
          current = Add(std::move(node));
        }
      } else if (IsOp("[")) {
        ++pos_;
        const std::int32_t index = ParseLevel(0);
        if (index < 0 || !Expect("]")) {
          return -1;
        }
        Node node;
        node.kind = NodeKind::kIndex;
        node.input = current;
        node.rhs = index;
        node.begin = begin;
        node.end = EndOfPrevious();
        current = Add(std::move(node));
      } else {
        break;
      }
    }
    return current;
  }

  std::int32_t ParseTerm() {
    const Token& t = Peek();
    const std::uint32_t begin = t.pos;
    Node node;
    node.begin = begin;
    switch (t.type) {
      case Tok::kEnd:
        Fail(t.pos, "unexpected end of expression");
        return -1;
      case Tok::kString:
        node.kind = NodeKind::kLiteral;
        node.literal = Value::String(t.text);
        ++pos_;
        break;
      case Tok::kNumber:
        node.kind = NodeKind::kLiteral;
        node.literal = Value::Number(t.text);
        ++pos_;
        break;
      case Tok::kThis:
        node.kind = NodeKind::kThis;
        ++pos_;
        break;
      case Tok::kVar: {
        node.kind = NodeKind::kVariable;
        if (t.text == "resource" || t.text == "context" || t.text == "rootResource") {
          node.var = Var::kResource;
        } else if (t.text == "sct") {
          node.var = Var::kSct;
        } else if (t.text == "loinc") {
          node.var = Var::kLoinc;
        } else if (t.text == "ucum") {
          node.var = Var::kUcum;
        } else {
          Fail(t.pos, "unknown variable '%" + t.text + "'");
          return -1;
        }
        ++pos_;
        break;
      }
      case Tok::kIdent:
        if (!t.quoted && (t.text == "true" || t.text == "false")) {
          node.kind = NodeKind::kLiteral;
          node.literal = Value::Bool(t.text == "true");
          ++pos_;
          break;
        }
        if (!t.quoted && PeekAt(1).type == Tok::kOp && PeekAt(1).text == "(") {
          return ParseFunction(-1, begin);
        }
        node.kind = NodeKind::kMember;
        node.type_head = true;
        node.name = t.text;
        ++pos_;
        break;
      case Tok::kOp:
        if (t.text == "(") {
          ++pos_;
          const std::int32_t inner = ParseLevel(0);
          if (inner < 0 || !Expect(")")) {
            return -1;
          }
          return inner;
        }
        if (t.text == "{") {
          ++pos_;
          if (!Expect("}")) {
            return -1;
          }
          node.kind = NodeKind::kEmpty;
          break;
        }
        Fail(t.pos, "unexpected '" + t.text + "'");
        return -1;
    }
    node.end = EndOfPrevious();
    return Add(std::move(node));
  }

  std::int32_t ParseFunction(std::int32_t input, std::uint32_t begin) {
    const Token name = Peek();
    const FnSpec* spec = nullptr;
    for (const FnSpec& f : kFunctions) {
      if (f.name == name.text) {
        spec = &f;
        break;
      }
    }
    if (spec == nullptr) {
      Fail(name.pos, "unsupported function '" + name.text + "()'");
      return -1;
    }
    pos_ += 2;  // name and '('
    Node node;
    node.kind = NodeKind::kFunction;
    node.fn = spec->fn;
    node.input = input;
    node.begin = begin;
    if (spec->type_arg) {
      if (Peek().type != Tok::kIdent) {
        Fail(Peek().pos, "expected a type name");
        return -1;
      }
      node.name = Peek().text;
      ++pos_;
      if (IsOp(".")) {
        ++pos_;
        if (Peek().type != Tok::kIdent) {
          Fail(Peek().pos, "expected a type name");
          return -1;
        }
        node.type_namespace = std::move(node.name);
        node.name = Peek().text;
        ++pos_;
      }
      if (!Expect(")")) {
        return -1;
      }
    } else {
      if (!IsOp(")")) {
        while (true) {
          const std::int32_t arg = ParseLevel(0);
          if (arg < 0) {
            return -1;
          }
          node.args.push_back(arg);
          if (IsOp(",")) {
            ++pos_;
            continue;
          }
          break;
        }
      }
      if (!Expect(")")) {
        return -1;
      }
      const int count = static_cast<int>(node.args.size());
      if (count < spec->min_args || count > spec->max_args) {
        Fail(name.pos,
             name.text + "() takes " + std::to_string(spec->min_args) +
                 (spec->max_args != spec->min_args ? " to " + std::to_string(spec->max_args)
                                                   : std::string()) +
                 " argument(s)");
        return -1;
      }
    }
    node.end = EndOfPrevious();
    return Add(std::move(node));
  }

  std::string_view text_;
  Program& program_;
  std::string& message_;
  std::vector<Token> tokens_;
  std::size_t pos_ = 0;
  int depth_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Evaluation

using Items = std::vector<Item>;

const Value& TrueValue() {
  static const Value v = Value::Bool(true);
  return v;
}
const Value& FalseValue() {
  static const Value v = Value::Bool(false);
  return v;
}
const Value& StringConstant(Var var) {
  static const Value sct = Value::String("http://snomed.info/sct");
  static const Value loinc = Value::String("http://loinc.org");
  static const Value ucum = Value::String("http://unitsofmeasure.org");
  switch (var) {
    case Var::kSct:
      return sct;
    case Var::kLoinc:
      return loinc;
    default:
      return ucum;
  }
}

Item Computed(const Value& v) {
  Item item;
  item.value = &v;
  return item;
}
Item BoolItem(bool b) { return Computed(b ? TrueValue() : FalseValue()); }

std::optional<bool> SingletonBoolean(std::span<const Item> items) {
  if (items.empty()) {
    return std::nullopt;
  }
  if (items.size() > 1) {
    return true;  // an error in the spec; its test list reads (1|2).not() as false
  }
  const Value& v = *items[0].value;
  return v.is_bool() ? v.as_bool() : true;
}

double NumberOf(const Value& v) { return std::strtod(v.text().c_str(), nullptr); }

bool ItemsEqual(const Item& a, const Item& b) {
  const Value& x = *a.value;
  const Value& y = *b.value;
  if (x.kind() != y.kind()) {
    return false;
  }
  switch (x.kind()) {
    case Kind::kNumber:
      return NumberOf(x) == NumberOf(y);
    case Kind::kString:
      return x.text() == y.text();
    case Kind::kBool:
      return x.as_bool() == y.as_bool();
    default:
      return x == y;
  }
}

bool Contains(std::span<const Item> items, const Item& item) {
  return std::any_of(items.begin(), items.end(),
                     [&](const Item& other) { return ItemsEqual(other, item); });
}

bool EqualsIgnoringFirstCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && !a.empty() &&
         std::tolower(static_cast<unsigned char>(a[0])) ==
             std::tolower(static_cast<unsigned char>(b[0])) &&
         a.substr(1) == b.substr(1);
}

bool IsIntegerText(const std::string& t) { return t.find_first_of(".eE") == std::string::npos; }

// Type test for ofType/is/as. FHIR types are known from choice suffixes and resourceType; for
// other values the JSON kind stands in (a string is a string, a number an integer or decimal).
bool MatchesType(const Item& item, std::string_view ns, std::string_view name) {
  const Value& v = *item.value;
  const bool system = ns == "System";
  if (!system && !item.type.empty()) {
    return EqualsIgnoringFirstCase(item.type, name);
  }
  switch (v.kind()) {
    case Kind::kObject:
      return !system && v.StringAt("resourceType") == name && !name.empty();
    case Kind::kString:
      return system ? name == "String" : EqualsIgnoringFirstCase(name, "string");
    case Kind::kBool:
      return system ? name == "Boolean" : EqualsIgnoringFirstCase(name, "boolean");
    case Kind::kNumber: {
      const bool integer = IsIntegerText(v.text());
      if (system) {
        return name == (integer ? "Integer" : "Decimal");
      }
      return EqualsIgnoringFirstCase(name, integer ? "integer" : "decimal");
    }
    default:
      return false;
  }
}

void AddMember(const Value& parent, const Member& m, std::string_view type, Items& out) {
  const Value& v = m.value;
  if (v.is_array()) {
    const auto& items = v.items();
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (items[i].is_null()) {
        continue;  // a primitive array's placeholder for an `_element` extension
      }
      out.push_back(Item{&items[i], &parent, m.key, static_cast<std::int32_t>(i), type});
    }
  } else if (!v.is_null()) {
    out.push_back(Item{&v, &parent, m.key, -1, type});
  }
}

void Navigate(const Item& item, const Node& node, Items& out) {
  const Value& v = *item.value;
  const std::string& name = node.name;
  if (node.type_head && std::isupper(static_cast<unsigned char>(name[0]))) {
    // `Patient.name`: a leading type name filters the context rather than naming a member.
    if (v.is_object() && v.StringAt("resourceType") == name) {
      out.push_back(item);
    }
    return;
  }
  if (!v.is_object()) {
    return;
  }
  for (const Member& m : v.members()) {
    if (m.key == name) {
      AddMember(v, m, {}, out);
      return;
    }
  }
  for (const Member& m : v.members()) {
    if (m.key.size() > name.size() && m.key.starts_with(name)) {
      const std::string_view suffix = std::string_view(m.key).substr(name.size());
      if (IsChoiceSuffix(suffix)) {
        AddMember(v, m, suffix, out);
        return;
      }
    }
  }
}

class Evaluator {
 public:
  Evaluator(const Program& program, const Value& resource, std::forward_list<Value>& owned)
      : program_(program), resource_(resource), owned_(owned) {}

  Items Eval(std::int32_t index, std::span<const Item> focus) {
    Items out;
    if (index < 0) {
      out.assign(focus.begin(), focus.end());
      return out;
    }
    const Node& node = program_.nodes[static_cast<std::size_t>(index)];
    switch (node.kind) {
      case NodeKind::kLiteral:
        out.push_back(Computed(node.literal));
        break;
      case NodeKind::kEmpty:
        break;
      case NodeKind::kThis:
        out.assign(focus.begin(), focus.end());
        break;
      case NodeKind::kVariable:
        if (node.var == Var::kResource) {
          out.push_back(Computed(resource_));
        } else {
          out.push_back(Computed(StringConstant(node.var)));
        }
        break;
      case NodeKind::kMember: {
        if (node.input < 0) {
          for (const Item& item : focus) {
            Navigate(item, node, out);
          }
        } else {
          const Items input = Eval(node.input, focus);
          for (const Item& item : input) {
            Navigate(item, node, out);
          }
        }
        break;
      }
      case NodeKind::kIndex: {
        Items input = Eval(node.input, focus);
        const Items index_items = Eval(node.rhs, focus);
        if (index_items.size() == 1 && index_items[0].value->is_number()) {
          const double i = NumberOf(*index_items[0].value);
          if (i >= 0 && i < static_cast<double>(input.size())) {
            out.push_back(input[static_cast<std::size_t>(i)]);
          }
        }
        break;
      }
      case NodeKind::kNegate: {
        const Items input = Eval(node.input, focus);
        if (input.size() == 1 && input[0].value->is_number()) {
          const std::string& t = input[0].value->text();
          out.push_back(Own(Value::Number(t.starts_with('-') ? t.substr(1) : "-" + t)));
        }
        break;
      }
      case NodeKind::kBinary:
        EvalBinary(node, focus, out);
        break;
      case NodeKind::kFunction:
        EvalFunction(node, focus, out);
        break;
    }
    return out;
  }

 private:
  Item Own(Value v) {
    owned_.push_front(std::move(v));
    return Computed(owned_.front());
  }

  void EvalBinary(const Node& node, std::span<const Item> focus, Items& out) {
    // and/or/implies may decide on the left side alone; the right side still has no effects, so
    // evaluating it anyway only costs time.
    Items lhs = Eval(node.lhs, focus);
    if (node.op == BinOp::kAnd || node.op == BinOp::kOr || node.op == BinOp::kImplies) {
      const std::optional<bool> a = SingletonBoolean(lhs);
      if (node.op == BinOp::kAnd && a == false) {
        out.push_back(BoolItem(false));
        return;
      }
      if (node.op == BinOp::kOr && a == true) {
        out.push_back(BoolItem(true));
        return;
      }
      if (node.op == BinOp::kImplies && a == false) {
        out.push_back(BoolItem(true));
        return;
      }
    }
    Items rhs = Eval(node.rhs, focus);
    switch (node.op) {
      case BinOp::kEq:
      case BinOp::kNe: {
        if (lhs.empty() || rhs.empty()) {
          return;
        }
        bool equal = lhs.size() == rhs.size();
        for (std::size_t i = 0; equal && i < lhs.size(); ++i) {
          equal = ItemsEqual(lhs[i], rhs[i]);
        }
        out.push_back(BoolItem(node.op == BinOp::kEq ? equal : !equal));
        return;
      }
      case BinOp::kLt:
      case BinOp::kGt:
      case BinOp::kLe:
      case BinOp::kGe: {
        if (lhs.size() != 1 || rhs.size() != 1) {
          return;
        }
        const Value& a = *lhs[0].value;
        const Value& b = *rhs[0].value;
        int cmp;
        if (a.is_number() && b.is_number()) {
          const double x = NumberOf(a);
          const double y = NumberOf(b);
          cmp = x < y ? -1 : (x > y ? 1 : 0);
        } else if (a.is_string() && b.is_string()) {
          cmp = a.text().compare(b.text());
          cmp = cmp < 0 ? -1 : (cmp > 0 ? 1 : 0);
        } else {
          return;
        }
        bool r = false;
        switch (node.op) {
          case BinOp::kLt:
            r = cmp < 0;
            break;
          case BinOp::kGt:
            r = cmp > 0;
            break;
          case BinOp::kLe:
            r = cmp <= 0;
            break;
          default:
            r = cmp >= 0;
            break;
        }
        out.push_back(BoolItem(r));
        return;
      }
      case BinOp::kUnion:
        for (Items* side : {&lhs, &rhs}) {
          for (const Item& item : *side) {
            if (!Contains(out, item)) {
              out.push_back(item);
            }
          }
        }
        return;
      case BinOp::kIn:
      case BinOp::kContains: {
        const Items& needle = node.op == BinOp::kIn ? lhs : rhs;
        const Items& haystack = node.op == BinOp::kIn ? rhs : lhs;
        if (needle.size() != 1) {
          return;
        }
        out.push_back(BoolItem(Contains(haystack, needle[0])));
        return;
      }
      case BinOp::kAnd:
      case BinOp::kOr:
      case BinOp::kXor:
      case BinOp::kImplies: {
        const std::optional<bool> a = SingletonBoolean(lhs);
        const std::optional<bool> b = SingletonBoolean(rhs);
        std::optional<bool> r;
        if (node.op == BinOp::kAnd) {
          if (a == false || b == false) {
            r = false;
          } else if (a && b) {
            r = true;
          }
        } else if (node.op == BinOp::kOr) {
          if (a == true || b == true) {
            r = true;
          } else if (a && b) {
            r = false;
          }
        } else if (node.op == BinOp::kXor) {
          if (a && b) {
            r = *a != *b;
          }
        } else {
          if (a == false || b == true) {
            r = true;
          } else if (a && b) {
            r = false;
          }
        }
        if (r) {
          out.push_back(BoolItem(*r));
        }
        return;
      }
    }
  }

  std::optional<std::string_view> StringArg(const Node& node, std::span<const Item> focus) {
    const Items arg = Eval(node.args[0], focus);
    if (arg.size() != 1 || !arg[0].value->is_string()) {
      return std::nullopt;
    }
    // The argument may be a literal in the program or a document string; both outlive this call.
    return std::string_view(arg[0].value->text());
  }

  std::optional<long> IntegerArg(const Node& node, std::span<const Item> focus) {
    const Items arg = Eval(node.args[0], focus);
    if (arg.size() != 1 || !arg[0].value->is_number()) {
      return std::nullopt;
    }
    return static_cast<long>(NumberOf(*arg[0].value));
  }

  void EvalFunction(const Node& node, std::span<const Item> focus, Items& out) {
    const Items input = Eval(node.input, focus);
    switch (node.fn) {
      case Fn::kWhere:
        for (const Item& item : input) {
          if (SingletonBoolean(Eval(node.args[0], {&item, 1})) == true) {
            out.push_back(item);
          }
        }
        return;
      case Fn::kSelect:
        for (const Item& item : input) {
          Items selected = Eval(node.args[0], {&item, 1});
          out.insert(out.end(), selected.begin(), selected.end());
        }
        return;
      case Fn::kExists:
        if (node.args.empty()) {
          out.push_back(BoolItem(!input.empty()));
          return;
        }
        out.push_back(BoolItem(std::any_of(input.begin(), input.end(), [&](const Item& item) {
          return SingletonBoolean(Eval(node.args[0], {&item, 1})) == true;
        })));
        return;
      case Fn::kAll:
        out.push_back(BoolItem(std::all_of(input.begin(), input.end(), [&](const Item& item) {
          return SingletonBoolean(Eval(node.args[0], {&item, 1})) == true;
        })));
        return;
      case Fn::kEmpty:
        out.push_back(BoolItem(input.empty()));
        return;
      case Fn::kFirst:
        if (!input.empty()) {
          out.push_back(input.front());
        }
        return;
      case Fn::kLast:
        if (!input.empty()) {
          out.push_back(input.back());
        }
        return;
      case Fn::kTail:
        if (input.size() > 1) {
          out.assign(input.begin() + 1, input.end());
        }
        return;
      case Fn::kSkip:
      case Fn::kTake: {
        const std::optional<long> n = IntegerArg(node, focus);
        if (!n) {
          return;
        }
        const auto k =
            static_cast<std::size_t>(std::clamp<long>(*n, 0, static_cast<long>(input.size())));
        if (node.fn == Fn::kSkip) {
          out.assign(input.begin() + static_cast<std::ptrdiff_t>(k), input.end());
        } else {
          out.assign(input.begin(), input.begin() + static_cast<std::ptrdiff_t>(k));
        }
        return;
      }
      case Fn::kCount:
        out.push_back(Own(Value::Number(std::to_string(input.size()))));
        return;
      case Fn::kNot: {
        const std::optional<bool> b = SingletonBoolean(input);
        if (b) {
          out.push_back(BoolItem(!*b));
        }
        return;
      }
      case Fn::kOfType:
        for (const Item& item : input) {
          if (MatchesType(item, node.type_namespace, node.name)) {
            out.push_back(item);
          }
        }
        return;
      case Fn::kIs:
        if (input.size() == 1) {
          out.push_back(BoolItem(MatchesType(input[0], node.type_namespace, node.name)));
        }
        return;
      case Fn::kAs:
        if (input.size() == 1 && MatchesType(input[0], node.type_namespace, node.name)) {
          out.push_back(input[0]);
        }
        return;
      case Fn::kExtension: {
        const std::optional<std::string_view> url = StringArg(node, focus);
        if (!url) {
          return;
        }
        for (const Item& item : input) {
          const Value* holder = item.value;
          std::string sibling;
          if (!holder->is_object() && item.parent != nullptr && item.index < 0) {
            // A primitive's extensions live in its `_name` sibling.
            sibling = "_" + std::string(item.key);
            holder = item.parent->Find(sibling);
            if (holder == nullptr) {
              continue;
            }
          }
          const Value* extensions = holder->is_object() ? holder->Find("extension") : nullptr;
          if (extensions == nullptr || !extensions->is_array()) {
            continue;
          }
          const auto& list = extensions->items();
          for (std::size_t i = 0; i < list.size(); ++i) {
            if (list[i].StringAt("url") == *url) {
              // The `_name` member's key is owned by the document, so look it up again.
              const Value* owner = holder;
              const Member* m = nullptr;
              for (const Member& mm : owner->members()) {
                if (mm.key == "extension") {
                  m = &mm;
                  break;
                }
              }
              out.push_back(Item{&list[i], owner, m->key, static_cast<std::int32_t>(i), {}});
            }
          }
        }
        return;
      }
      case Fn::kHasValue:
        out.push_back(BoolItem(input.size() == 1 &&
                               (input[0].value->is_string() || input[0].value->is_number() ||
                                input[0].value->is_bool())));
        return;
      case Fn::kStartsWith:
      case Fn::kEndsWith:
      case Fn::kContains: {
        if (input.size() != 1 || !input[0].value->is_string()) {
          return;
        }
        const std::optional<std::string_view> arg = StringArg(node, focus);
        if (!arg) {
          return;
        }
        const std::string& s = input[0].value->text();
        bool r;
        if (node.fn == Fn::kStartsWith) {
          r = s.starts_with(*arg);
        } else if (node.fn == Fn::kEndsWith) {
          r = s.ends_with(*arg);
        } else {
          r = s.find(*arg) != std::string::npos;
        }
        out.push_back(BoolItem(r));
        return;
      }
      case Fn::kLength:
        if (input.size() == 1 && input[0].value->is_string()) {
          out.push_back(Own(Value::Number(std::to_string(input[0].value->text().size()))));
        }
        return;
      case Fn::kDistinct:
        for (const Item& item : input) {
          if (!Contains(out, item)) {
            out.push_back(item);
          }
        }
        return;
      case Fn::kIif: {
        const std::optional<bool> c = SingletonBoolean(Eval(node.args[0], input));
        if (c == true) {
          out = Eval(node.args[1], input);
        } else if (node.args.size() > 2) {
          out = Eval(node.args[2], input);
        }
        return;
      }
    }
  }

  const Program& program_;
  const Value& resource_;
  std::forward_list<Value>& owned_;
};

bool FindPath(const Value& v, const Value* target, std::string& path) {
  if (&v == target) {
    return true;
  }
  if (!v.is_object()) {
    return false;
  }
  for (const Member& m : v.members()) {
    const std::size_t mark = path.size();
    path += '.';
    path += m.key;
    if (m.value.is_array()) {
      const auto& items = m.value.items();
      for (std::size_t i = 0; i < items.size(); ++i) {
        const std::size_t item_mark = path.size();
        path += '[' + std::to_string(i) + ']';
        if (FindPath(items[i], target, path)) {
          return true;
        }
        path.resize(item_mark);
      }
    } else if (FindPath(m.value, target, path)) {
      return true;
    }
    path.resize(mark);
  }
  return false;
}

}  // namespace

std::optional<bool> Collection::AsBoolean() const { return SingletonBoolean(items_); }

Result<Expression> Expression::Compile(std::string_view text, std::string& message) {
  auto program = std::make_shared<Program>();
  program->text = std::string(text);
  Parser parser(program->text, *program, message);
  if (!parser.Run()) {
    return errc::kBadExpression;
  }
  return Expression(std::move(program));
}

const std::string& Expression::text() const {
  static const std::string kEmpty;
  return program_ ? program_->text : kEmpty;
}

Collection Expression::Evaluate(const Value& resource) const {
  Item root;
  root.value = &resource;
  return Evaluate(resource, root);
}

Collection Expression::Evaluate(const Value& resource, const Item& focus) const {
  Collection result;
  if (!program_) {
    result.items_.push_back(focus);
    return result;
  }
  Evaluator evaluator(*program_, resource, result.owned_);
  result.items_ = evaluator.Eval(program_->root, {&focus, 1});
  return result;
}

std::vector<Location> Expression::Locate(Value& resource) const {
  const Collection found = Evaluate(resource);
  std::vector<Location> locations;
  locations.reserve(found.size());
  for (const Item& item : found.items()) {
    if (item.parent == nullptr && item.value != &resource) {
      continue;  // a literal or computed value: nothing in the document to change
    }
    // The caller handed us `resource` as mutable; every Item points into it.
    locations.push_back(Location{const_cast<Value*>(item.parent), std::string(item.key), item.index,
                                 const_cast<Value*>(item.value)});
  }
  return locations;
}

std::optional<Expression::Target> Expression::SplitLast() const {
  if (!program_ || program_->root < 0) {
    return std::nullopt;
  }
  const Node& last = program_->nodes[static_cast<std::size_t>(program_->root)];
  if (last.kind != NodeKind::kMember ||
      (last.type_head && std::isupper(static_cast<unsigned char>(last.name[0])))) {
    return std::nullopt;
  }
  Target target;
  target.name = last.name;
  if (last.input >= 0) {
    auto parent = std::make_shared<Program>(*program_);
    parent->root = last.input;
    const Node& p = parent->nodes[static_cast<std::size_t>(last.input)];
    parent->text = program_->text.substr(p.begin, p.end - p.begin);
    target.parent = Expression(std::move(parent));
  }
  return target;
}

std::optional<std::vector<std::string>> Expression::MemberChain() const {
  std::vector<std::string> names;
  if (!program_) {
    return names;
  }
  std::int32_t index = program_->root;
  while (index >= 0) {
    const Node& node = program_->nodes[static_cast<std::size_t>(index)];
    if (node.kind != NodeKind::kMember) {
      return std::nullopt;
    }
    if (!(node.type_head && std::isupper(static_cast<unsigned char>(node.name[0])))) {
      names.push_back(node.name);
    }
    index = node.input;
  }
  std::reverse(names.begin(), names.end());
  return names;
}

std::string PathOf(const Value& resource, const Value* node) {
  std::string path(resource.StringAt("resourceType"));
  if (path.empty()) {
    path = "$this";
  }
  if (!FindPath(resource, node, path)) {
    return {};
  }
  return path;
}

}  // namespace carebridge::mappings::fhirpath
