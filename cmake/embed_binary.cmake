# Script mode: cmake -DINPUT= -DOUTPUT= -DSYMBOL= -P embed_binary.cmake
file(READ ${INPUT} _hex HEX)
string(LENGTH "${_hex}" _n)
math(EXPR _len "${_n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," _bytes "${_hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" _bytes "${_bytes}")
file(WRITE ${OUTPUT} "/* Generated from ${INPUT}; do not edit. */\n#include <stddef.h>\n"
  "/* A NUL follows the bytes (not counted in _len), so text files can be used as C strings. */\n"
  "const unsigned char ${SYMBOL}[] = {\n${_bytes}0x00\n};\nconst size_t ${SYMBOL}_len = ${_len};\n")
