// A handler callback that throws aborts only its own connection, with
// kHandlerError and the exception's message; the loop and every other
// connection go on.
#include <catch2/catch.hpp>

#include <stdexcept>

#include "test_support.h"

using namespace spool;
using namespace spool::test;

namespace {

/// Echoes, except that a line "throw in <callback>" makes that callback throw.
class ThrowingHandler final : public RecordingHandler {
 public:
  using RecordingHandler::RecordingHandler;
  void onData(Connection& conn, InputBuffer& input) override {
    if (input.find("throw in onData", input.size())) {
      throw std::runtime_error("the handler gave up");
    }
    RecordingHandler::onData(conn, input);
  }
};

}  // namespace

TEST_CASE("a handler that throws aborts only its own connection", "[handler-errors][tls]") {
  RunningTransport transport(1);  // one loop: both connections share it
  auto records = std::make_shared<Watched<std::vector<RecordingPtr>>>();
  auto listener = transport->listen(serverOptions(), [records] {
    auto record = std::make_shared<Watched<Recording>>();
    records->update([&](auto& all) { all.push_back(record); });
    return std::make_unique<ThrowingHandler>(record, /*echo=*/true);
  });
  auto bad_record = std::make_shared<Watched<Recording>>();
  auto good_record = std::make_shared<Watched<Recording>>();
  auto bad = connectAndWait(*transport, listener->port(), bad_record);
  REQUIRE(records->waitUntil([](const auto& all) { return all.size() == 1; }));
  auto good = connectAndWait(*transport, listener->port(), good_record);
  REQUIRE(records->waitUntil([](const auto& all) { return all.size() == 2; }));

  REQUIRE(bad->send("throw in onData") == SendResult::kOk);
  const RecordingPtr server_side = records->get().front();
  REQUIRE(server_side->waitUntil([](const Recording& r) { return r.closed; }));
  CHECK(server_side->get().reason.code == CloseCode::kHandlerError);
  CHECK_THAT(server_side->get().reason.detail,
             Catch::Contains("onData threw") && Catch::Contains("the handler gave up"));
  CHECK(server_side->get().close_calls == 1);
  // The client sees the connection go; the other connection still echoes.
  REQUIRE(bad_record->waitUntil([](const Recording& r) { return r.closed; }));
  REQUIRE(good->send("still here") == SendResult::kOk);
  CHECK(good_record->waitUntil([](const Recording& r) { return r.data == "still here"; }));
}
