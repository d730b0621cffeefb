#include "gateway/delivery/curl_library.h"

#include <dlfcn.h>

namespace carebridge::delivery {
namespace {

struct Loaded {
  CurlLibrary library;
  std::string error;  // empty: loaded
};

// Sets `function` to libcurl's `name`; the first one missing becomes `error`.
template <typename Function>
void Resolve(void* handle, const char* name, Function& function, std::string& error) {
  function = reinterpret_cast<Function>(dlsym(handle, name));
  if (function == nullptr && error.empty()) {
    error = std::string("libcurl has no ") + name;
  }
}

Loaded Load() {
  Loaded loaded;
  // Never unloaded: libcurl keeps global state for the life of the process.
  void* handle = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    loaded.error = std::string("cannot load libcurl: ") + (why != nullptr ? why : "unknown");
    return loaded;
  }
  CurlLibrary& c = loaded.library;
  std::string& e = loaded.error;
  decltype(&curl_global_init) global_init = nullptr;
  Resolve(handle, "curl_global_init", global_init, e);
  Resolve(handle, "curl_easy_init", c.easy_init, e);
  Resolve(handle, "curl_easy_setopt", c.easy_setopt, e);
  Resolve(handle, "curl_easy_getinfo", c.easy_getinfo, e);
  Resolve(handle, "curl_easy_cleanup", c.easy_cleanup, e);
  Resolve(handle, "curl_easy_strerror", c.easy_strerror, e);
  Resolve(handle, "curl_slist_append", c.slist_append, e);
  Resolve(handle, "curl_slist_free_all", c.slist_free_all, e);
  Resolve(handle, "curl_multi_init", c.multi_init, e);
  Resolve(handle, "curl_multi_setopt", c.multi_setopt, e);
  Resolve(handle, "curl_multi_add_handle", c.multi_add_handle, e);
  Resolve(handle, "curl_multi_remove_handle", c.multi_remove_handle, e);
  Resolve(handle, "curl_multi_socket_action", c.multi_socket_action, e);
  Resolve(handle, "curl_multi_info_read", c.multi_info_read, e);
  Resolve(handle, "curl_multi_cleanup", c.multi_cleanup, e);
  // Thread-safe since libcurl 7.84 (Debian 12 has 7.88); the static below runs it once anyway.
  if (e.empty() && global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    e = "curl_global_init failed";
  }
  return loaded;
}

}  // namespace

const CurlLibrary* LoadCurl(std::string& error) {
  static const Loaded loaded = Load();
  if (!loaded.error.empty()) {
    error = loaded.error;
    return nullptr;
  }
  return &loaded.library;
}

}  // namespace carebridge::delivery
