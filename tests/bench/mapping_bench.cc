// Mapping throughput (issue 5: inbound + outbound of a 5 KB resource >= 50,000/s per core).
//
//   cmake -G Ninja -S . -B build/rel -DCMAKE_BUILD_TYPE=Release -DCAREBRIDGE_BUILD_BENCH=ON
//   ninja -C build/rel mapping_bench && build/rel/tests/unit/mappings/mapping_bench
//
// Each iteration copies the parsed resource (the gateway maps a resource it has just parsed, so
// the copy stands in for the parse it does not measure), maps it inbound for riverside-ehr, then
// outbound for lakeside-cmhc or riverside-ehr. BM_CopyOnly is that copy alone, to subtract.

#include <benchmark/benchmark.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "fhir/json/json.h"
#include "mappings/engine.h"
#include "mappings/fhirpath.h"

namespace carebridge::mappings {
namespace {

namespace fs = std::filesystem;
using fhir::json::Value;

std::string Read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

Value ParseOrDie(const std::string& text) {
  std::string message;
  Result<Value> v = fhir::json::Parse(text, fhir::json::Limits{}, message);
  if (!v) {
    std::fprintf(stderr, "bench fixture: %s\n", message.c_str());
    std::abort();
  }
  return std::move(*v);
}

struct World {
  std::shared_ptr<const PartnerMapping> riverside;
  std::shared_ptr<const PartnerMapping> lakeside;
  Value resource;
  std::size_t bytes = 0;
};

const World& Load() {
  static const World world = [] {
    World w;
    ConceptMapSet::Builder builder;
    fhir::Outcome outcome;
    for (const auto& entry : fs::directory_iterator(CAREBRIDGE_MAPPINGS_DIR "/conceptmaps")) {
      builder.AddJson(Read(entry.path()), outcome);
    }
    auto maps = std::move(builder).Build(outcome);
    w.riverside = PartnerMapping::Load(Read(CAREBRIDGE_MAPPINGS_DIR "/partners/riverside-ehr.json"),
                                       maps, outcome);
    w.lakeside = PartnerMapping::Load(Read(CAREBRIDGE_MAPPINGS_DIR "/partners/lakeside-cmhc.json"),
                                      maps, outcome);
    if (!w.riverside || !w.lakeside || outcome.HasErrors()) {
      std::fprintf(stderr, "bench setup failed: %s\n",
                   fhir::json::Write(outcome.ToResource()).c_str());
      std::abort();
    }
    const std::string text =
        Read(CAREBRIDGE_FIXTURES_DIR "/mappings/bench/riverside-ServiceRequest-5k.json");
    w.resource = ParseOrDie(text);
    w.bytes = fhir::json::Write(w.resource).size();
    return w;
  }();
  return world;
}

void BM_CopyOnly(benchmark::State& state) {
  const World& w = Load();
  for (auto _ : state) {
    Value copy = w.resource;
    benchmark::DoNotOptimize(copy);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["bytes"] = static_cast<double>(w.bytes);
}
BENCHMARK(BM_CopyOnly);

void RoundTrip(benchmark::State& state, const PartnerMapping& in, const PartnerMapping& out) {
  const World& w = Load();
  for (auto _ : state) {
    Value copy = w.resource;
    fhir::Outcome outcome;
    const bool ok = in.Apply(Direction::kInbound, copy, outcome) &&
                    out.Apply(Direction::kOutbound, copy, outcome);
    if (!ok) {
      state.SkipWithError("mapping failed");
      break;
    }
    benchmark::DoNotOptimize(copy);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["bytes"] = static_cast<double>(w.bytes);
}

// Partner A writes, partner B reads: the cross-partner path of the issue.
void BM_RiversideInLakesideOut(benchmark::State& state) {
  RoundTrip(state, *Load().riverside, *Load().lakeside);
}
BENCHMARK(BM_RiversideInLakesideOut);

void BM_RiversideInRiversideOut(benchmark::State& state) {
  RoundTrip(state, *Load().riverside, *Load().riverside);
}
BENCHMARK(BM_RiversideInRiversideOut);

void BM_InboundOnly(benchmark::State& state) {
  const World& w = Load();
  for (auto _ : state) {
    Value copy = w.resource;
    fhir::Outcome outcome;
    w.riverside->Apply(Direction::kInbound, copy, outcome);
    benchmark::DoNotOptimize(copy);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_InboundOnly);

void BM_FhirPathWhere(benchmark::State& state) {
  const World& w = Load();
  std::string message;
  const fhirpath::Expression e = *fhirpath::Expression::Compile(
      "ServiceRequest.note.where(text.contains('bus')).exists()", message);
  for (auto _ : state) {
    benchmark::DoNotOptimize(e.Evaluate(w.resource).AsBoolean());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FhirPathWhere);

}  // namespace
}  // namespace carebridge::mappings

BENCHMARK_MAIN();
