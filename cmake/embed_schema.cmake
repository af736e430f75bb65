# Generates a C++ source holding every NNNN_name.sql of SCHEMA_DIR as a Migration entry.
# Usage: cmake -DSCHEMA_DIR=... -DOUTPUT=... [-DHEADER=... -DNAMESPACE=...] -P embed_schema.cmake
# HEADER declares Migration and known_migrations() in NAMESPACE (default: the SQLite store's).
if(NOT DEFINED HEADER)
  set(HEADER "postroom/store/migrations.hpp")
endif()
if(NOT DEFINED NAMESPACE)
  set(NAMESPACE "postroom::store")
endif()
file(GLOB files RELATIVE ${SCHEMA_DIR} ${SCHEMA_DIR}/[0-9][0-9][0-9][0-9]_*.sql)
list(SORT files)
set(body "")
foreach(f IN LISTS files)
  string(SUBSTRING ${f} 0 4 number)
  math(EXPR version "${number}")
  file(READ ${SCHEMA_DIR}/${f} sql)
  string(APPEND body "      {${version}, \"${f}\", R\"postroom_sql(${sql})postroom_sql\"},\n")
endforeach()
set(content "// Generated from schema/ by cmake/embed_schema.cmake; do not edit.
#include \"${HEADER}\"

namespace ${NAMESPACE} {

const std::vector<Migration>& known_migrations() {
  static const std::vector<Migration> migrations = {
${body}  };
  return migrations;
}

}  // namespace ${NAMESPACE}
")
file(WRITE ${OUTPUT}.tmp "${content}")
file(COPY_FILE ${OUTPUT}.tmp ${OUTPUT} ONLY_IF_DIFFERENT)
