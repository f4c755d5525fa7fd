// ItemTable: open addressing with 8-byte tagged slots. Against a std::map
// model under random inserts, replaces and erases (the backward shift on
// erase recomputes each moved item's home from its key).
#include <catch2/catch.hpp>

#include <map>
#include <random>
#include <string>

#include "item_table.h"

namespace spoold {
namespace {

ItemPtr itemWith(const std::string& key, char fill) {
  ItemPtr item = makeItem(key, 4);
  std::string(4, fill).copy(item->mutableValue(), 4);
  return item;
}

}  // namespace

TEST_CASE("ItemTable finds, replaces and erases like a map, across growth and erasure",
          "[server][item-table]") {
  ItemTable table;
  std::map<std::string, char> model;
  std::mt19937 rng(12345);
  for (int step = 0; step < 40'000; ++step) {
    // Few distinct keys, so the table sees many collisions, erases and re-inserts.
    const std::string key = "key" + std::to_string(rng() % 3000);
    const char fill = static_cast<char>('a' + step % 26);
    Item* found = table.find(key);
    REQUIRE((found != nullptr) == (model.count(key) == 1));
    if (found != nullptr) {
      REQUIRE(found->value()[0] == model[key]);
    }
    switch (rng() % 3) {
      case 0:
        if (found == nullptr) {
          table.insert(itemWith(key, fill));
          model[key] = fill;
        }
        break;
      case 1:
        if (found != nullptr) {
          const ItemPtr old = table.replace(*found, itemWith(key, fill));
          REQUIRE(old.get() == found);
          model[key] = fill;
        }
        break;
      default:
        if (found != nullptr) {
          const ItemPtr taken = table.erase(*found);
          REQUIRE(taken.get() == found);
          model.erase(key);
        }
    }
    REQUIRE(table.size() == model.size());
  }
  for (const auto& [key, fill] : model) {
    Item* item = table.find(key);
    REQUIRE(item != nullptr);
    CHECK(item->value()[0] == fill);
  }
  CHECK(table.find("absent") == nullptr);
  table.clear();
  CHECK(table.size() == 0);
  CHECK(table.find(model.begin()->first) == nullptr);
}

}  // namespace spoold
