# execkit_add_distributed_mutant(<name> CATCHES <gtest filter> [CALLER <source>] [NODE <source>])
#
# A mutant of the Redis Streams backend (docs/distributed.md) for a rule only
# a distributed backend has. mutants/patches/<name>.patch changes
# redis/src/<CALLER> (the caller library, linked into a copy of the fault
# tests) and/or redis/node/<NODE> (built into bin/mutants/execkit-node-<name>,
# which the testbed starts instead of execkit-node). The ctest test
# mutant.<name> (labels mutants, distributed) passes only if the fault tests
# named by CATCHES fail against the mutant.
include_guard(GLOBAL)

function(execkit_add_distributed_mutant name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "CATCHES;CALLER;NODE" "")
  if(NOT arg_CATCHES OR (NOT arg_CALLER AND NOT arg_NODE))
    message(FATAL_ERROR "execkit_add_distributed_mutant(${name}): CATCHES and CALLER and/or NODE are required")
  endif()
  set(patched)
  if(arg_CALLER)
    list(APPEND patched redis/src/${arg_CALLER})
  endif()
  if(arg_NODE)
    list(APPEND patched redis/node/${arg_NODE})
  endif()
  _execkit_patch_copies(${name} ${patched})
  set(dir ${EXECKIT_MUTANT_PATCHED}/${name})
  set(redis_includes ${PROJECT_SOURCE_DIR}/redis/src ${PROJECT_SOURCE_DIR}/redis/include
                     ${PROJECT_SOURCE_DIR}/redis/node ${PROJECT_SOURCE_DIR}/reference/src ${PROJECT_SOURCE_DIR}/src/core)

  set(binary redis_fault_test_${name})
  add_executable(${binary} $<TARGET_OBJECTS:redis_fault_test_objects>)
  set_target_properties(${binary} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${EXECKIT_MUTANT_DIR})
  target_include_directories(${binary} PRIVATE ${redis_includes})
  if(arg_CALLER)
    _execkit_objects_without(others execkit_redis ${arg_CALLER})
    target_sources(${binary} PRIVATE ${dir}/redis/src/${arg_CALLER} ${others})
    target_link_libraries(${binary} PRIVATE execkit_redis_wire execkit_reference)
    add_dependencies(${binary} execkit_redis)
  else()
    target_link_libraries(${binary} PRIVATE execkit_redis)
  endif()
  target_link_libraries(${binary} PRIVATE execkit_redis_testbed_client GTest::gtest_main PkgConfig::HIREDIS
                        Threads::Threads execkit_warnings)
  add_dependencies(${binary} execkit_probe execkit-redis-testbed execkit-node)

  set(node $<TARGET_FILE:execkit-node>)
  if(arg_NODE)
    _execkit_objects_without(others execkit_node_parts ${arg_NODE})
    set(node_binary execkit-node-${name})
    add_executable(${node_binary} ${PROJECT_SOURCE_DIR}/redis/node/main.cpp ${dir}/redis/node/${arg_NODE} ${others})
    set_target_properties(${node_binary} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${EXECKIT_MUTANT_DIR})
    target_include_directories(${node_binary} PRIVATE ${redis_includes})
    target_link_libraries(${node_binary} PRIVATE execkit_redis_wire execkit_reference execkit_warnings)
    add_dependencies(${node_binary} execkit_node_parts)
    add_dependencies(${binary} ${node_binary})
    set(node $<TARGET_FILE:${node_binary}>)
  endif()

  add_test(NAME mutant.${name}
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/run_catching_tests.py
      --mutant ${name} --catches "${arg_CATCHES}" --assertions "fault_test\\.cpp:[0-9]+: Failure" --timeout 240
      -- $<TARGET_FILE:${binary}>)
  set_tests_properties(mutant.${name} PROPERTIES
    LABELS "mutants;distributed"
    TIMEOUT 300
    ENVIRONMENT "EXECKIT_PROBE_MODULE=$<TARGET_FILE:execkit_probe>;EXECKIT_WORKER_PATH=$<TARGET_FILE:execkit-worker>;EXECKIT_REDIS_TESTBED=$<TARGET_FILE:execkit-redis-testbed>;EXECKIT_REDIS_NODE=${node}")
endfunction()
