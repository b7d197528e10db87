# Turns migrations/*.sql into a C++ source with one entry per file, in file-name order.
# Called as: cmake -DOUT=<file.cpp> -DDIR=<migrations dir> -P embed_migrations.cmake
file(GLOB files "${DIR}/*.sql")
list(SORT files)
set(body "")
foreach(path IN LISTS files)
  get_filename_component(name "${path}" NAME_WE)
  string(REGEX MATCH "^[0-9]+" version "${name}")
  if(NOT version)
    message(FATAL_ERROR "migration ${name} must start with its version number")
  endif()
  math(EXPR version "${version}")
  file(READ "${path}" sql)
  string(APPEND body "  {${version}, \"${name}\", R\"om_sql(${sql})om_sql\"},\n")
endforeach()
file(WRITE "${OUT}.tmp"
"// Generated from persistence/migrations/*.sql by embed_migrations.cmake. Do not edit.\n"
"#include \"persistence/migrations.hpp\"\n\n"
"namespace ordermesh::persistence {\n\n"
"const std::vector<migration>& migrations() {\n"
"  static const std::vector<migration> all{\n${body}  };\n"
"  return all;\n"
"}\n\n"
"} // namespace ordermesh::persistence\n")
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different "${OUT}.tmp" "${OUT}")
file(REMOVE "${OUT}.tmp")
