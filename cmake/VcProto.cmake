# Proto code generation. Every .proto is compiled with protoc-c into ${VC_GEN_DIR}; descriptor
# sets (for server reflection) are produced with protoc --include_imports.
set(VC_GEN_DIR ${CMAKE_BINARY_DIR}/gen)
file(MAKE_DIRECTORY ${VC_GEN_DIR})
set(VC_PROTO_PATH
  -I${PROJECT_SOURCE_DIR}/protos
  -I${PROJECT_SOURCE_DIR}/tests/protos
  -I${VC_GRPC_PROTO_DIR}
  -I${VC_PROTOBUF_INCLUDE_DIR})

# vc_proto_c(<out_sources_var> <root_dir> <relative .proto files>...)
# Appends the generated .pb-c.c files to <out_sources_var>.
function(vc_proto_c out_var root)
  set(_srcs ${${out_var}})
  foreach(_rel ${ARGN})
    string(REGEX REPLACE "\\.proto$" "" _stem ${_rel})
    set(_c ${VC_GEN_DIR}/${_stem}.pb-c.c)
    set(_h ${VC_GEN_DIR}/${_stem}.pb-c.h)
    add_custom_command(
      OUTPUT ${_c} ${_h}
      COMMAND ${PROTOC_C} ${VC_PROTO_PATH} --c_out=${VC_GEN_DIR} ${root}/${_rel}
      DEPENDS ${root}/${_rel}
      COMMENT "protoc-c ${_rel}"
      VERBATIM)
    list(APPEND _srcs ${_c})
  endforeach()
  set(${out_var} ${_srcs} PARENT_SCOPE)
endfunction()

# vc_descriptor_set(<out .desc file> <absolute .proto files>...)
function(vc_descriptor_set out)
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${PROTOC} ${VC_PROTO_PATH} --include_imports --include_source_info
            --descriptor_set_out=${out} ${ARGN}
    DEPENDS ${ARGN}
    COMMENT "descriptor set ${out}"
    VERBATIM)
endfunction()
