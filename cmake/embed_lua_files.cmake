# Run by dramatiq_embed_lua (cmake -P): writes HEADER and SOURCE holding the
# text of each of FILES, byte for byte, as a raw string literal.
set(delimiter "dramatiq_lua")
string(REPLACE "|" ";" FILES "${FILES}")
set(declarations "")
set(definitions "")
foreach(file IN LISTS FILES)
  get_filename_component(stem "${file}" NAME_WE)
  if(NOT stem MATCHES "^[a-z_][a-z0-9_]*$")
    message(FATAL_ERROR "${file}: the name of a Lua script must be a C++ identifier")
  endif()
  file(READ "${file}" text)
  string(FIND "${text}" ")${delimiter}\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "${file} contains )${delimiter}\", which would end its C++ string literal")
  endif()
  get_filename_component(file_name "${file}" NAME)
  string(APPEND declarations "// ${file_name}\nextern const std::string_view ${stem};\n")
  string(APPEND definitions "const std::string_view ${stem} = R\"${delimiter}(${text})${delimiter}\";\n\n")
endforeach()

set(header_text "// Generated from Lua files by cmake/embed_lua_files.cmake: edit those, not this.
#pragma once

#include <string_view>

namespace ${NAMESPACE} {

${declarations}
}  // namespace ${NAMESPACE}
")
set(source_text "// Generated from Lua files by cmake/embed_lua_files.cmake: edit those, not this.
#include \"embedded_lua/${NAME}.hpp\"

namespace ${NAMESPACE} {

${definitions}}  // namespace ${NAMESPACE}
")
# Rewritten only when the text changes, so an unchanged script rebuilds nothing.
function(write_if_changed path text)
  if(EXISTS "${path}")
    file(READ "${path}" old_text)
    if(old_text STREQUAL text)
      return()
    endif()
  endif()
  file(WRITE "${path}" "${text}")
endfunction()
write_if_changed("${HEADER}" "${header_text}")
write_if_changed("${SOURCE}" "${source_text}")
