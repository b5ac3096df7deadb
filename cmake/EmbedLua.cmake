# Embeds Lua scripts in the engine: each file becomes a std::string_view
# named after it (fetch.lua -> fetch) in a generated header and source, so
# the scripts are edited as .lua files and a change to one rebuilds what
# uses it.
#
#   dramatiq_embed_lua(TARGET target NAME redis NAMESPACE dramatiq::redis::lua
#                      FILES a.lua b.lua)
# generates <binary dir>/generated/embedded_lua/<NAME>.hpp (and .cpp),
# adds them to the target and the generated dir to its include path.
set(DRAMATIQ_EMBED_LUA_SCRIPT "${CMAKE_CURRENT_LIST_DIR}/embed_lua_files.cmake")

function(dramatiq_embed_lua)
  cmake_parse_arguments(EMBED "" "TARGET;NAME;NAMESPACE" "FILES" ${ARGN})
  set(output_dir "${CMAKE_CURRENT_BINARY_DIR}/generated/embedded_lua")
  set(header "${output_dir}/${EMBED_NAME}.hpp")
  set(source "${output_dir}/${EMBED_NAME}.cpp")
  # One command-line argument: the list separator would split it.
  string(REPLACE ";" "|" files_argument "${EMBED_FILES}")
  add_custom_command(
    OUTPUT "${header}" "${source}"
    COMMAND "${CMAKE_COMMAND}" "-DHEADER=${header}" "-DSOURCE=${source}" "-DNAME=${EMBED_NAME}"
            "-DNAMESPACE=${EMBED_NAMESPACE}" "-DFILES=${files_argument}" -P "${DRAMATIQ_EMBED_LUA_SCRIPT}"
    DEPENDS ${EMBED_FILES} "${DRAMATIQ_EMBED_LUA_SCRIPT}"
    COMMENT "Embedding the ${EMBED_NAME} Lua scripts"
    VERBATIM)
  target_sources(${EMBED_TARGET} PRIVATE "${header}" "${source}")
  target_include_directories(${EMBED_TARGET} PRIVATE "${CMAKE_CURRENT_BINARY_DIR}/generated")
endfunction()
