# vc_embed_binary(OUT_C <file.c> SYMBOL <name> INPUT <file>)
# Generates a C source defining `const unsigned char <name>[]` and `const size_t <name>_len`
# holding the bytes of INPUT (used for descriptor sets). Regenerated when INPUT changes.
function(vc_embed_binary)
  cmake_parse_arguments(E "" "OUT_C;SYMBOL;INPUT" "" ${ARGN})
  add_custom_command(
    OUTPUT ${E_OUT_C}
    COMMAND ${CMAKE_COMMAND} -DINPUT=${E_INPUT} -DOUTPUT=${E_OUT_C} -DSYMBOL=${E_SYMBOL}
            -P ${PROJECT_SOURCE_DIR}/cmake/embed_binary.cmake
    DEPENDS ${E_INPUT} ${PROJECT_SOURCE_DIR}/cmake/embed_binary.cmake
    COMMENT "Embedding ${E_INPUT} as ${E_SYMBOL}"
    VERBATIM)
endfunction()

# vc_embed_migrations(OUT_C <file.c> SYMBOL <name> DIR <dir>)
# Collects DIR/NNN_name.sql into `const vc_migration <name>[]` and `const size_t <name>_count`
# (see common/db/vc_migrate.h), sorted by version. Re-run at configure time when files change.
function(vc_embed_migrations)
  cmake_parse_arguments(E "" "OUT_C;SYMBOL;DIR" "" ${ARGN})
  file(GLOB _sql CONFIGURE_DEPENDS ${E_DIR}/*.sql)
  list(SORT _sql)
  add_custom_command(
    OUTPUT ${E_OUT_C}
    COMMAND ${CMAKE_COMMAND} -DDIR=${E_DIR} -DOUTPUT=${E_OUT_C} -DSYMBOL=${E_SYMBOL}
            -P ${PROJECT_SOURCE_DIR}/cmake/embed_migrations.cmake
    DEPENDS ${_sql} ${PROJECT_SOURCE_DIR}/cmake/embed_migrations.cmake
    COMMENT "Embedding migrations of ${E_DIR}"
    VERBATIM)
endfunction()
