# execkit_add_mutant(<name> CLAUSES <clause-id>...
#                    [DECORATOR <entry>]
#                    [CALLER <source> <definition>]
#                    [WORKER <source> <definition>]
#                    [CORE <source> <definition>]
#                    [TIMEOUT <seconds>])
#
# Builds the conformance binary bin/mutants/mutant_<name> for one mutant of
# the reference backend and registers the ctest test mutant.<name> (label
# `mutants`), which passes only if the suite kills the mutant on every clause
# in CLAUSES (run_mutant.py). The defect comes from at most one of each:
#
#   DECORATOR  the backend is decorator_factory(<entry>) (decorators.hpp)
#   CALLER     reference/src/<source> recompiled with -D<definition>, linked
#              with the unmodified objects of every other source
#   WORKER     reference/worker/<source> recompiled with -D<definition> into
#              bin/mutants/execkit-worker-<name>, which the backend starts
#   CORE       src/core/<source> recompiled with -D<definition>
#
# Only the mutated translation unit is compiled again: the rest comes from
# $<TARGET_OBJECTS> of the unmodified targets, minus the replaced object.
include_guard(GLOBAL)

set(EXECKIT_MUTANT_DIR ${CMAKE_RUNTIME_OUTPUT_DIRECTORY}/mutants)
set(EXECKIT_MUTANT_RECORDS ${PROJECT_BINARY_DIR}/mutants/records)
# Must pass against every mutant (unless it belongs to the mutant's own clauses).
set(EXECKIT_MUTANT_SMOKE
  "Mutant_SelfCheck.*"
  "*/Spill.SPILL_1_ResultsOfEverySizeRoundTripByteExactly/*"
  "*/Run.RUN_3_TaskErrorCarriesMessageTypeAndStderrTail/*")

# All objects of `target` except the one built from `source`.
function(_execkit_objects_without out target source)
  get_filename_component(file ${source} NAME)
  string(REPLACE "." "\\." pattern "${file}")
  set(${out} "$<FILTER:$<TARGET_OBJECTS:${target}>,EXCLUDE,/${pattern}\\.o$>" PARENT_SCOPE)
endfunction()

# An object library: `source` compiled with -D`definition`.
function(_execkit_mutated_object out name side source definition)
  set(library mutant_${name}_${side})
  add_library(${library} OBJECT ${PROJECT_SOURCE_DIR}/${source})
  target_compile_definitions(${library} PRIVATE ${definition})
  target_include_directories(${library} PRIVATE ${PROJECT_SOURCE_DIR}/reference/src ${PROJECT_SOURCE_DIR}/src/core)
  target_link_libraries(${library} PRIVATE execkit_core Threads::Threads execkit_warnings)
  set(${out} ${library} PARENT_SCOPE)
endfunction()

function(execkit_add_mutant name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "DECORATOR;TIMEOUT" "CLAUSES;CALLER;WORKER;CORE")
  if(NOT arg_CLAUSES)
    message(FATAL_ERROR "execkit_add_mutant(${name}): CLAUSES is required")
  endif()
  foreach(side CALLER WORKER CORE)
    list(LENGTH arg_${side} count)
    if(NOT count EQUAL 0 AND NOT count EQUAL 2)
      message(FATAL_ERROR "execkit_add_mutant(${name}): ${side} takes <source> <definition>")
    endif()
  endforeach()
  if(NOT arg_TIMEOUT)
    set(arg_TIMEOUT 300)
  endif()

  set(binary mutant_${name})
  add_executable(${binary} ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/selected_mutant.cpp)
  set_target_properties(${binary} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${EXECKIT_MUTANT_DIR})
  target_link_libraries(${binary} PRIVATE execkit_mutant_suite execkit_mutant_kit GTest::gtest_main
                        Threads::Threads ${CMAKE_DL_LIBS} execkit_warnings)
  add_dependencies(${binary} execkit_probe)

  # The worker: the unmodified one, or this mutant's.
  set(worker $<TARGET_FILE:execkit-worker>)
  if(arg_WORKER)
    list(GET arg_WORKER 0 source)
    list(GET arg_WORKER 1 definition)
    _execkit_mutated_object(mutated ${name} worker reference/worker/${source} ${definition})
    _execkit_objects_without(others execkit-worker ${source})
    set(worker_binary execkit-worker-${name})
    add_executable(${worker_binary} ${others} $<TARGET_OBJECTS:execkit_protocol>)
    target_link_libraries(${worker_binary} PRIVATE ${mutated} execkit_core ${CMAKE_DL_LIBS})
    set_target_properties(${worker_binary} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${EXECKIT_MUTANT_DIR})
    add_dependencies(${worker_binary} execkit-worker)
    add_dependencies(${binary} ${worker_binary})
    set(worker $<TARGET_FILE:${worker_binary}>)
  else()
    add_dependencies(${binary} execkit-worker)
  endif()
  target_compile_definitions(${binary} PRIVATE EXECKIT_MUTANT_NAME="${name}"
                             EXECKIT_MUTANT_DECORATOR="${arg_DECORATOR}" EXECKIT_MUTANT_WORKER="${worker}")

  # The caller side: the reference library, or its objects with one replaced.
  if(arg_CALLER)
    list(GET arg_CALLER 0 source)
    list(GET arg_CALLER 1 definition)
    _execkit_mutated_object(mutated ${name} caller reference/src/${source} ${definition})
    _execkit_objects_without(others execkit_reference ${source})
    target_sources(${binary} PRIVATE ${others} $<TARGET_OBJECTS:execkit_protocol>)
    target_link_libraries(${binary} PRIVATE ${mutated} execkit_core)
    add_dependencies(${binary} execkit_reference)
  else()
    target_link_libraries(${binary} PRIVATE execkit_reference)
  endif()

  # execkit_core: a static library, so objects linked first win and its
  # archive members for them are never pulled in.
  if(arg_CORE)
    list(GET arg_CORE 0 source)
    list(GET arg_CORE 1 definition)
    _execkit_mutated_object(mutated ${name} core src/core/${source} ${definition})
    _execkit_objects_without(others execkit_core ${source})
    target_sources(${binary} PRIVATE ${others})
    target_link_libraries(${binary} PRIVATE ${mutated})
    add_dependencies(${binary} execkit_core)
  endif()

  list(JOIN arg_CLAUSES "," clauses)
  list(JOIN EXECKIT_MUTANT_SMOKE ":" smoke)
  add_test(NAME mutant.${name}
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/run_mutant.py
      --binary $<TARGET_FILE:${binary}> --mutant ${name} --clauses ${clauses} --smoke "${smoke}"
      --record ${EXECKIT_MUTANT_RECORDS}/${name}.json --timeout ${arg_TIMEOUT})
  set_tests_properties(mutant.${name} PROPERTIES
    LABELS mutants
    TIMEOUT ${arg_TIMEOUT}
    SKIP_RETURN_CODE 77
    ENVIRONMENT "EXECKIT_PROBE_MODULE=$<TARGET_FILE:execkit_probe>")
  if(EXECKIT_MUTATION_FULL)
    add_test(NAME mutant_full.${name}
      COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/run_mutant.py --full
        --binary $<TARGET_FILE:${binary}> --mutant ${name} --clauses ${clauses}
        --record ${EXECKIT_MUTANT_RECORDS}-full/${name}.json --timeout 1800)
    set_tests_properties(mutant_full.${name} PROPERTIES
      LABELS mutation_full
      TIMEOUT 1800
      SKIP_RETURN_CODE 77
      ENVIRONMENT "EXECKIT_PROBE_MODULE=$<TARGET_FILE:execkit_probe>")
  endif()
  set_property(GLOBAL APPEND PROPERTY EXECKIT_MUTANTS ${name})
endfunction()

# The kill matrix over every mutant declared so far: ctest test
# mutants.kill_matrix, run after all mutant.* tests, writes
# <build>/mutants.json for scripts/clause_report.py --mutants.
function(execkit_add_kill_matrix)
  get_property(names GLOBAL PROPERTY EXECKIT_MUTANTS)
  set(tests ${names})
  list(TRANSFORM tests PREPEND mutant.)
  add_test(NAME mutants.kill_matrix
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/kill_matrix.py
      --records-dir ${EXECKIT_MUTANT_RECORDS} --contract ${PROJECT_SOURCE_DIR}/docs/contract.md
      --out ${PROJECT_BINARY_DIR}/mutants.json ${names})
  set_tests_properties(mutants.kill_matrix PROPERTIES LABELS mutants DEPENDS "${tests}")
  if(EXECKIT_MUTATION_FULL)
    set(full_tests ${names})
    list(TRANSFORM full_tests PREPEND mutant_full.)
    add_test(NAME mutation_full.kill_matrix
      COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/kill_matrix.py --full
        --records-dir ${EXECKIT_MUTANT_RECORDS}-full --contract ${PROJECT_SOURCE_DIR}/docs/contract.md
        --out ${PROJECT_BINARY_DIR}/mutants-full.json ${names})
    set_tests_properties(mutation_full.kill_matrix PROPERTIES LABELS mutation_full DEPENDS "${full_tests}")
  endif()
endfunction()
