# execkit_add_protocol_mutant(<name> CATCHES <gtest filter> SERVER <source>)
#
# A mutant of the protocol layer (docs/protocol.md): execkit-backend-server
# with mutants/patches/<name>.patch applied to external/server/<SERVER>,
# built as bin/mutants/execkit-backend-server-<name>. The ctest test
# mutant.<name> (labels mutants, protocol) runs execkit-conformance against it
# and passes only if a conformance test named by CATCHES fails on an assertion
# of the suite (a test's or the harness's protocol check).
include_guard(GLOBAL)

function(execkit_add_protocol_mutant name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "CATCHES;SERVER" "")
  if(NOT arg_CATCHES OR NOT arg_SERVER)
    message(FATAL_ERROR "execkit_add_protocol_mutant(${name}): CATCHES and SERVER are required")
  endif()
  _execkit_patch_copies(${name} external/server/${arg_SERVER})
  get_target_property(server_sources execkit-backend-server SOURCES)
  list(FILTER server_sources EXCLUDE REGEX "(^|/)${arg_SERVER}$")
  list(TRANSFORM server_sources PREPEND ${PROJECT_SOURCE_DIR}/external/)
  set(server execkit-backend-server-${name})
  add_executable(${server} ${EXECKIT_MUTANT_PATCHED}/${name}/external/server/${arg_SERVER} ${server_sources})
  set_target_properties(${server} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${EXECKIT_MUTANT_DIR})
  target_include_directories(${server} PRIVATE ${PROJECT_SOURCE_DIR}/external/server)
  target_link_libraries(${server} PRIVATE execkit_wire_protocol execkit_reference execkit_warnings)
  add_dependencies(${server} execkit-worker execkit-conformance)

  add_test(NAME mutant.${name}
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/run_catching_tests.py
      --mutant ${name} --catches "${arg_CATCHES}" --timeout 240
      --assertions "(_tests|_harness|test_support|external_suite)\\.cpp:[0-9]+: Failure"
      -- $<TARGET_FILE:execkit-conformance> --no-report --backend-cmd $<TARGET_FILE:${server}>)
  set_tests_properties(mutant.${name} PROPERTIES LABELS "mutants;protocol" TIMEOUT 300
    ENVIRONMENT "EXECKIT_WORKER_PATH=$<TARGET_FILE:execkit-worker>")
endfunction()
