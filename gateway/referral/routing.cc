#include "gateway/referral/routing.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <limits>
#include <tuple>
#include <utility>

#include "gateway/referral/error.h"

namespace carebridge::referral {
namespace {

using fhir::json::Value;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

// "es-MX" -> "es": languages match on the primary subtag.
std::string PrimaryTag(std::string_view tag) {
  return Lower(tag.substr(0, std::min(tag.find('-'), tag.find('_'))));
}

bool CodingMatches(const RouteCoding& rule, const RouteCoding& have) {
  return rule.code == have.code && (rule.system.empty() || rule.system == have.system);
}

bool AnyMatch(const std::vector<RouteCoding>& rule, const std::vector<RouteCoding>& have) {
  for (const auto& r : rule) {
    for (const auto& h : have) {
      if (CodingMatches(r, h)) {
        return true;
      }
    }
  }
  return false;
}

void Codings(const Value* concepts, std::vector<RouteCoding>& out) {
  auto one = [&out](const Value& concept_value) {
    const Value* codings = concept_value.Find("coding");
    if (!codings || !codings->is_array()) {
      return;
    }
    for (const Value& c : codings->items()) {
      if (!c.StringAt("code").empty()) {
        out.push_back({std::string(c.StringAt("system")), std::string(c.StringAt("code"))});
      }
    }
  };
  if (!concepts) {
    return;
  }
  if (concepts->is_array()) {
    for (const Value& c : concepts->items()) {
      one(c);
    }
  } else if (concepts->is_object()) {
    one(*concepts);
  }
}

// --- configuration ---------------------------------------------------------------------------

class RuleReader {
 public:
  explicit RuleReader(std::string& message) : message_(message) {}
  bool failed() const { return failed_; }

  void Fail(const std::string& path, const std::string& what) {
    if (!failed_) {
      failed_ = true;
      message_ = path + ": " + what;
    }
  }

  void String(const Value& v, const std::string& path, std::string& out) {
    if (!v.is_string() || v.text().empty()) {
      Fail(path, "expected a non-empty string");
      return;
    }
    out = v.text();
  }

  void Strings(const Value& v, const std::string& path, std::vector<std::string>& out) {
    if (!v.is_array()) {
      Fail(path, "expected an array of strings");
      return;
    }
    for (std::size_t i = 0; i < v.items().size() && !failed_; ++i) {
      std::string s;
      String(v.items()[i], path + "[" + std::to_string(i) + "]", s);
      out.push_back(std::move(s));
    }
  }

  void CodingList(const Value& v, const std::string& path, std::vector<RouteCoding>& out) {
    if (!v.is_array()) {
      Fail(path, "expected an array of codings");
      return;
    }
    for (std::size_t i = 0; i < v.items().size() && !failed_; ++i) {
      const Value& item = v.items()[i];
      const std::string item_path = path + "[" + std::to_string(i) + "]";
      RouteCoding c;
      if (item.is_string()) {
        // "system|code", or a bare code.
        const std::string& text = item.text();
        const auto bar = text.rfind('|');
        c.system = bar == std::string::npos ? "" : text.substr(0, bar);
        c.code = bar == std::string::npos ? text : text.substr(bar + 1);
      } else if (item.is_object()) {
        for (const auto& m : item.members()) {
          if (m.key == "system") {
            String(m.value, item_path + ".system", c.system);
          } else if (m.key == "code") {
            String(m.value, item_path + ".code", c.code);
          } else {
            Fail(item_path + "." + m.key, "unknown key");
          }
        }
      } else {
        Fail(item_path, "expected \"system|code\" or {\"system\", \"code\"}");
      }
      if (!failed_ && c.code.empty()) {
        Fail(item_path, "a coding needs a code");
      }
      out.push_back(std::move(c));
    }
  }

  void Int(const Value& v, const std::string& path, int& out, int min) {
    int parsed = 0;
    const std::string& t = v.text();
    auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), parsed);
    if (!v.is_number() || ec != std::errc() || end != t.data() + t.size() || parsed < min) {
      Fail(path, "expected an integer >= " + std::to_string(min));
      return;
    }
    out = parsed;
  }

 private:
  std::string& message_;
  bool failed_ = false;
};

}  // namespace

Result<RoutingTable> RoutingTable::FromJson(const Value& routes, std::string& message) {
  RuleReader r(message);
  RoutingTable table;
  if (!routes.is_array()) {
    r.Fail("routes", "expected an array of rules");
    return make_error_code(errc::kBadConfig);
  }
  for (std::size_t i = 0; i < routes.items().size() && !r.failed(); ++i) {
    const Value& item = routes.items()[i];
    const std::string path = "routes[" + std::to_string(i) + "]";
    if (!item.is_object()) {
      r.Fail(path, "expected an object");
      break;
    }
    RouteRule rule;
    for (const auto& m : item.members()) {
      const std::string p = path + "." + m.key;
      if (m.key == "agency") {
        r.String(m.value, p, rule.agency);
      } else if (m.key == "organization") {
        r.String(m.value, p, rule.organization);
      } else if (m.key == "service") {
        r.String(m.value, p, rule.service);
      } else if (m.key == "categories") {
        r.CodingList(m.value, p, rule.categories);
      } else if (m.key == "codes") {
        r.CodingList(m.value, p, rule.codes);
      } else if (m.key == "languages") {
        r.Strings(m.value, p, rule.languages);
      } else if (m.key == "service_areas") {
        r.Strings(m.value, p, rule.service_areas);
      } else if (m.key == "capacity") {
        int capacity = 0;
        r.Int(m.value, p, capacity, 0);
        rule.capacity = capacity;
      } else if (m.key == "priority") {
        r.Int(m.value, p, rule.priority, std::numeric_limits<int>::min());
      } else {
        r.Fail(p, "unknown key");
      }
      if (r.failed()) {
        break;
      }
    }
    if (r.failed()) {
      break;
    }
    if (rule.agency.empty()) {
      r.Fail(path + ".agency", "every rule names its agency");
    } else if (rule.categories.empty() && rule.codes.empty()) {
      r.Fail(path, "a rule lists categories or codes (or both)");
    }
    if (rule.organization.empty()) {
      rule.organization = "Organization/" + rule.agency;
    }
    table.rules.push_back(std::move(rule));
  }
  if (r.failed()) {
    return make_error_code(errc::kBadConfig);
  }
  return table;
}

RoutingRequest MakeRoutingRequest(const Value& service_request, const Value* patient) {
  RoutingRequest req;
  Codings(service_request.Find("category"), req.categories);
  Codings(service_request.Find("code"), req.codes);
  if (!patient) {
    return req;
  }
  if (const Value* comms = patient->Find("communication"); comms && comms->is_array()) {
    std::vector<std::string> preferred;
    std::vector<std::string> others;
    for (const Value& c : comms->items()) {
      const Value* language = c.Find("language");
      if (!language) {
        continue;
      }
      std::vector<RouteCoding> codes;
      Codings(language, codes);
      const Value* pref = c.Find("preferred");
      auto& into = pref && pref->is_bool() && pref->as_bool() ? preferred : others;
      for (auto& code : codes) {
        into.push_back(std::move(code.code));
      }
    }
    req.languages = std::move(preferred);
    req.languages.insert(req.languages.end(), others.begin(), others.end());
  }
  if (const Value* addresses = patient->Find("address"); addresses && addresses->is_array()) {
    const Value* chosen = nullptr;
    for (const Value& a : addresses->items()) {
      if (a.StringAt("use") == "home" && !a.StringAt("postalCode").empty()) {
        chosen = &a;
        break;
      }
    }
    for (const Value& a : addresses->items()) {
      if (!chosen && !a.StringAt("postalCode").empty()) {
        chosen = &a;
      }
    }
    if (chosen) {
      req.area = std::string(chosen->StringAt("postalCode"));
    }
  }
  return req;
}

RoutingDecision Route(const RoutingTable& table, const RoutingRequest& request,
                      const std::map<std::string, int, std::less<>>& open_referrals) {
  struct Candidate {
    std::size_t language_rank;  // index of the patient's language the rule offers; npos: none
    int specificity;            // 0: code matched, 1: category only
    int priority;
    long long remaining;  // negated below so more capacity sorts first
    std::string_view agency;
    std::size_t position;
    const RouteRule* rule;
  };
  std::vector<Candidate> candidates;
  int matched = 0;
  int outside_area = 0;
  int full = 0;
  std::vector<std::string> patient_languages;
  for (const auto& l : request.languages) {
    patient_languages.push_back(PrimaryTag(l));
  }
  for (std::size_t i = 0; i < table.rules.size(); ++i) {
    const RouteRule& rule = table.rules[i];
    const bool by_code = AnyMatch(rule.codes, request.codes);
    const bool by_category = AnyMatch(rule.categories, request.categories);
    if (!by_code && !by_category) {
      continue;
    }
    ++matched;
    if (!rule.service_areas.empty() &&
        std::find(rule.service_areas.begin(), rule.service_areas.end(), request.area) ==
            rule.service_areas.end()) {
      ++outside_area;
      continue;
    }
    long long remaining = std::numeric_limits<long long>::max();
    if (rule.capacity) {
      auto it = open_referrals.find(rule.agency);
      const int open = it == open_referrals.end() ? 0 : it->second;
      remaining = static_cast<long long>(*rule.capacity) - open;
      if (remaining <= 0) {
        ++full;
        continue;
      }
    }
    std::size_t language_rank = std::string::npos;
    for (std::size_t l = 0; l < patient_languages.size() && language_rank == std::string::npos;
         ++l) {
      for (const auto& offered : rule.languages) {
        if (PrimaryTag(offered) == patient_languages[l]) {
          language_rank = l;
          break;
        }
      }
    }
    candidates.push_back(
        {language_rank, by_code ? 0 : 1, rule.priority, remaining, rule.agency, i, &rule});
  }
  RoutingDecision d;
  if (candidates.empty()) {
    if (matched == 0) {
      d.reason = "no routing rule offers the referral's category or code";
    } else {
      d.reason = std::to_string(matched) +
                 " rule(s) offer the service: " + std::to_string(outside_area) +
                 " outside the patient's area" +
                 (request.area.empty() ? " (area unknown)" : " (" + request.area + ")") + ", " +
                 std::to_string(full) + " at capacity";
    }
    return d;
  }
  auto key = [](const Candidate& c) {
    return std::tuple(c.language_rank, c.specificity, c.priority, -c.remaining, c.agency,
                      c.position);
  };
  const Candidate& best =
      *std::min_element(candidates.begin(), candidates.end(),
                        [&key](const Candidate& a, const Candidate& b) { return key(a) < key(b); });
  d.rule = best.rule;
  d.reason = "routed to " + best.rule->agency + " (rule " + std::to_string(best.position) +
             ", matched by " + (best.specificity == 0 ? "code" : "category") +
             (best.language_rank == std::string::npos
                  ? std::string(", no language match")
                  : ", language " + request.languages[best.language_rank]) +
             ", " + std::to_string(candidates.size()) + " candidate(s))";
  return d;
}

}  // namespace carebridge::referral
