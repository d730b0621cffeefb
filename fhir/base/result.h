#pragma once

#include <boost/system/result.hpp>

namespace carebridge {

// One result type for the whole code base: a value or an error_code. Each module defines its own
// `enum class errc` with an error category; gateway/api maps categories to HTTP status codes.
template <typename T>
using Result = boost::system::result<T>;

}  // namespace carebridge
