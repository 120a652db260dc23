# cmake -DEXECKIT_SHADOW_VARIANT=a|b -DINPUT=shadow.py.in -DOUTPUT=.../shadow.py -P configure_shadow.cmake
# One Python shadow module per variant, as the C++ shadow is built twice.
if(NOT EXECKIT_SHADOW_VARIANT MATCHES "^[ab]$" OR NOT INPUT OR NOT OUTPUT)
  message(FATAL_ERROR "configure_shadow.cmake: set EXECKIT_SHADOW_VARIANT (a or b), INPUT and OUTPUT")
endif()
configure_file(${INPUT} ${OUTPUT} @ONLY)
