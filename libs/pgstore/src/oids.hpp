// The type OIDs postroom sends and reads (fixed in PostgreSQL's catalog, pg_type.dat).
#pragma once

namespace postroom::pgstore::oid {

inline constexpr unsigned boolean = 16;
inline constexpr unsigned bytea = 17;
inline constexpr unsigned int8 = 20;
inline constexpr unsigned int2 = 21;
inline constexpr unsigned int4 = 23;
inline constexpr unsigned text = 25;
inline constexpr unsigned varchar = 1043;
inline constexpr unsigned text_array = 1009;
inline constexpr unsigned int8_array = 1016;

}  // namespace postroom::pgstore::oid
