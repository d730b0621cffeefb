#pragma once

// A SQLite store in a fresh temporary folder, removed again with the object: the set-up that store
// and API unit tests share. Header-only.

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "gateway/store/sqlite/sqlite_store.h"

namespace carebridge::testing {

class TempStore {
 public:
  // `name` goes into the folder's name, to tell a test's leftovers apart.
  explicit TempStore(const std::string& name, store::SqliteOptions options = {}) {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / ("carebridge-" + name + "-XXXXXX")).string();
    if (mkdtemp(tmpl.data()) == nullptr) {
      ADD_FAILURE() << "no temporary folder";
      return;
    }
    dir_ = tmpl;
    options.path = (dir_ / "store.db").string();
    auto opened = store::OpenSqliteStore(options);
    if (!opened) {
      ADD_FAILURE() << "the store did not open: " << opened.error().message();
      return;
    }
    store_ = std::move(*opened);
  }
  ~TempStore() {
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  TempStore(const TempStore&) = delete;
  TempStore& operator=(const TempStore&) = delete;

  store::Store& operator*() const { return *store_; }
  store::Store* operator->() const { return store_.get(); }

 private:
  std::filesystem::path dir_;
  store::StorePtr store_;
};

}  // namespace carebridge::testing
