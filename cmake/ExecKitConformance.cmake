# execkit_add_conformance(<target> [NO_MAIN] [TIMEOUT <seconds>])
#
# Turns <target>, an executable whose sources use EXECKIT_CONFORMANCE_TESTS(),
# into the conformance suite for that backend: links the suite library
# whole-archive (the linker would otherwise drop its test registrations),
# links gtest_main unless NO_MAIN, and registers every test with ctest under
# the labels `conformance` and `conformance.<area>` (conformance.env, ...).
include_guard(GLOBAL)
include(GoogleTest)

function(execkit_add_conformance target)
  cmake_parse_arguments(PARSE_ARGV 1 arg "NO_MAIN" "TIMEOUT" "")
  if(NOT arg_TIMEOUT)
    set(arg_TIMEOUT 120)
  endif()
  if(TARGET execkit_conformance)
    set(suite execkit_conformance)
    set(probe execkit_probe)
  else()
    set(suite execkit::conformance)
    set(probe execkit::probe)
  endif()
  target_link_libraries(${target} PRIVATE "$<LINK_LIBRARY:WHOLE_ARCHIVE,${suite}>")
  if(NOT arg_NO_MAIN)
    target_link_libraries(${target} PRIVATE GTest::gtest_main)
  endif()
  add_dependencies(${target} ${probe})

  # One discovery per area, each into its own list; a ctest include file run
  # after the discovered tests then labels them. (Passing a two-label list
  # through gtest_discover_tests' PROPERTIES loses the list.)
  set(areas Env EnvSecret Iso Run Spill Cancel Life Hook Loop Metric Config)
  set(label_script "")
  foreach(area IN LISTS areas)
    string(TOLOWER "${area}" label)
    if(area STREQUAL "EnvSecret")
      set(label env)
    endif()
    set(list_name "${target}_conformance_${area}_tests")
    gtest_discover_tests(${target}
      TEST_FILTER "*/${area}.*"
      TEST_LIST ${list_name}
      NO_PRETTY_VALUES
      DISCOVERY_MODE PRE_TEST
      PROPERTIES
        TIMEOUT ${arg_TIMEOUT}
        ENVIRONMENT "EXECKIT_PROBE_MODULE=$<TARGET_FILE:${probe}>")
    string(APPEND label_script
      "foreach(test IN LISTS ${list_name})\n"
      "  set_tests_properties(\"\${test}\" PROPERTIES LABELS \"conformance;conformance.${label}\")\n"
      "endforeach()\n")
  endforeach()
  gtest_discover_tests(${target}
    TEST_FILTER "*_SelfCheck.*"
    DISCOVERY_MODE PRE_TEST
    PROPERTIES LABELS "conformance" TIMEOUT 60)

  set(label_file "${CMAKE_CURRENT_BINARY_DIR}/${target}_conformance_labels.cmake")
  file(WRITE "${label_file}" "${label_script}")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${label_file}")
endfunction()
