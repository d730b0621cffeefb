// The one translation unit that compiles Boost.Asio, Asio SSL and Boost.Beast for the whole
// program (BOOST_ASIO_SEPARATE_COMPILATION and BOOST_BEAST_SEPARATE_COMPILATION are defined for
// every carebridge target by carebridge_options). Everything else includes only declarations.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
