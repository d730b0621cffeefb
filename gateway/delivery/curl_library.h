#pragma once

// libcurl's entry points from a libcurl loaded on first use instead of linked. With the ~25
// libraries it needs (GnuTLS, p11-kit, Kerberos, LDAP, SSH...), a linked libcurl added ~3.5 MB to
// the memory of every gateway, idle or not, while only a gateway that pushes referrals to
// agencies ever calls it.

#include <curl/curl.h>

#include <string>

namespace carebridge::delivery {

struct CurlLibrary {
  decltype(&curl_easy_init) easy_init = nullptr;
  decltype(&curl_easy_setopt) easy_setopt = nullptr;
  decltype(&curl_easy_getinfo) easy_getinfo = nullptr;
  decltype(&curl_easy_cleanup) easy_cleanup = nullptr;
  decltype(&curl_easy_strerror) easy_strerror = nullptr;
  decltype(&curl_slist_append) slist_append = nullptr;
  decltype(&curl_slist_free_all) slist_free_all = nullptr;
  decltype(&curl_multi_init) multi_init = nullptr;
  decltype(&curl_multi_setopt) multi_setopt = nullptr;
  decltype(&curl_multi_add_handle) multi_add_handle = nullptr;
  decltype(&curl_multi_remove_handle) multi_remove_handle = nullptr;
  decltype(&curl_multi_socket_action) multi_socket_action = nullptr;
  decltype(&curl_multi_info_read) multi_info_read = nullptr;
  decltype(&curl_multi_cleanup) multi_cleanup = nullptr;
};

// Loads libcurl (libcurl.so.4) and runs curl_global_init, once per process; any thread may
// call it. nullptr, with the reason in `error`, when libcurl cannot be loaded.
const CurlLibrary* LoadCurl(std::string& error);

}  // namespace carebridge::delivery
