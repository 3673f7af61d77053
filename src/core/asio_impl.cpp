// The one translation unit that compiles Asio and its SSL support
// (BOOST_ASIO_SEPARATE_COMPILATION): every module links it through vox_core.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
