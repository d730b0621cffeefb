// Nothing acknowledged is lost: writes acknowledged before a crash (SIGKILL) or a graceful stop
// are all there after a restart.

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>

#include "tests/integration/harness.h"

namespace carebridge::testing {
namespace {

namespace json = fhir::json;

TEST(DurabilityTest, RestartAfterCrashKeepsEveryAcknowledgedWrite) {
  TempDir dir;
  GatewayProcess gateway(dir.path() / "data");
  ASSERT_TRUE(gateway.Start());

  std::mutex mutex;
  std::vector<std::string> acknowledged;
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&, t] {
      Client client(gateway.BaseUrl());
      for (int i = 0; !stop.load(); ++i) {
        std::string body = R"({"resourceType":"Patient","identifier":[{"system":"urn:test:dur",
            "value":")" + std::to_string(t) +
                           "-" + std::to_string(i) + "\"}]}";
        Response response = client.Post("/fhir/Patient", body);
        if (response.status != 201) {
          break;  // the crash
        }
        std::lock_guard lock(mutex);
        acknowledged.emplace_back(response.Json().StringAt("id"));
      }
    });
  }
  // Let writes flow, then crash the gateway while they are in flight.
  while (true) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::lock_guard lock(mutex);
    if (acknowledged.size() >= 300) {
      break;
    }
  }
  gateway.Kill();
  stop = true;
  for (auto& writer : writers) {
    writer.join();
  }

  GatewayProcess restarted(dir.path() / "data");
  ASSERT_TRUE(restarted.Start());
  Client client(restarted.BaseUrl());
  for (const auto& id : acknowledged) {
    ASSERT_EQ(client.Get("/fhir/Patient/" + id).status, 200) << "lost " << id;
  }
  Response total = client.Get("/fhir/Patient?identifier=urn:test:dur%7C&_summary=count");
  EXPECT_GE(std::stoll(total.Json().Find("total")->text()),
            static_cast<long long>(acknowledged.size()));
  EXPECT_EQ(restarted.Stop(), 0);
}

TEST(DurabilityTest, GracefulStopAndRestartKeepsVersionsAndHistory) {
  TempDir dir;
  std::string id;
  {
    GatewayProcess gateway(dir.path() / "data");
    ASSERT_TRUE(gateway.Start());
    Client client(gateway.BaseUrl());
    Response created =
        client.Post("/fhir/Patient", R"({"resourceType":"Patient","gender":"male"})");
    ASSERT_EQ(created.status, 201);
    id = std::string(created.Json().StringAt("id"));
    json::Value patient = created.Json();
    patient.Set("gender", json::Value::String("female"));
    ASSERT_EQ(client.Put("/fhir/Patient/" + id, json::Write(patient)).status, 200);
    EXPECT_EQ(gateway.Stop(), 0);
  }
  GatewayProcess gateway(dir.path() / "data");
  ASSERT_TRUE(gateway.Start());
  Client client(gateway.BaseUrl());
  Response read = client.Get("/fhir/Patient/" + id);
  ASSERT_EQ(read.status, 200);
  EXPECT_EQ(read.Header("etag"), "W/\"2\"");
  EXPECT_EQ(client.Get("/fhir/Patient/" + id + "/_history/1").Json().StringAt("gender"), "male");
  EXPECT_EQ(gateway.Stop(), 0);
}

}  // namespace
}  // namespace carebridge::testing
