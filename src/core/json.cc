// Boost.JSON is used header-only: its sources are compiled here, once for the whole program.
#include <boost/json/src.hpp>
