# execkit_add_mutant(<name> CLAUSES <clause-id>...
#                    [DECORATOR <entry>]
#                    [CALLER <source>]
#                    [WORKER <source>]
#                    [CORE <source>]
#                    [TIMEOUT <seconds>])
#
# Builds the conformance binary bin/mutants/mutant_<name> for one mutant of
# the reference backend and registers the ctest test mutant.<name> (label
# `mutants`), which passes only if the suite kills the mutant on every clause
# in CLAUSES (run_mutant.py). The defect comes from a decorator or from the
# patch mutants/patches/<name>.patch, which changes exactly the sources named:
#
#   DECORATOR  the backend is decorator_factory(<entry>) (decorators.hpp)
#   CALLER     reference/src/<source>, patched, linked with the unmodified
#              objects of every other source
#   WORKER     reference/worker/<source>, patched, built into
#              bin/mutants/execkit-worker-<name>, which the backend starts
#   CORE       src/core/<source>, patched
#
# The patch is applied to copies under <build>/mutants/patched/<name>/
# (apply_patch.py), never to the sources, and only the patched translation
# units are compiled again: the rest comes from $<TARGET_OBJECTS> of the
# unmodified targets, minus the replaced objects.
include_guard(GLOBAL)

set(EXECKIT_MUTANT_DIR ${CMAKE_RUNTIME_OUTPUT_DIRECTORY}/mutants)
set(EXECKIT_MUTANT_RECORDS ${PROJECT_BINARY_DIR}/mutants/records)
set(EXECKIT_MUTANT_PATCHED ${PROJECT_BINARY_DIR}/mutants/patched)
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

find_program(EXECKIT_PATCH_PROGRAM patch REQUIRED DOC "GNU patch, for the mutants' patches (scripts/setup installs it)")

# Copies of the sources in ARGN (paths relative to the repository root), with
# mutants/patches/<name>.patch applied, under ${EXECKIT_MUTANT_PATCHED}/<name>.
function(_execkit_patch_copies name)
  set(patch_file ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/patches/${name}.patch)
  if(NOT EXISTS ${patch_file})
    message(FATAL_ERROR "execkit_add_mutant(${name}): no patch mutants/patches/${name}.patch (docs/mutants.md)")
  endif()
  set(dir ${EXECKIT_MUTANT_PATCHED}/${name})
  set(originals ${ARGN})
  list(TRANSFORM originals PREPEND ${PROJECT_SOURCE_DIR}/)
  set(copies ${ARGN})
  list(TRANSFORM copies PREPEND ${dir}/)
  add_custom_command(OUTPUT ${copies}
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/apply_patch.py --mutant ${name}
      --patch ${patch_file} --source-dir ${PROJECT_SOURCE_DIR} --output-dir ${dir}
      --patch-program ${EXECKIT_PATCH_PROGRAM} ${ARGN}
    DEPENDS ${patch_file} ${originals} ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/apply_patch.py
    COMMENT "Applying mutants/patches/${name}.patch"
    VERBATIM)
endfunction()

# An object library: the patched copy of `source` (relative to the repository
# root), which still finds the headers next to the original.
function(_execkit_mutated_object out name side source)
  set(library mutant_${name}_${side})
  add_library(${library} OBJECT ${EXECKIT_MUTANT_PATCHED}/${name}/${source})
  get_filename_component(home ${PROJECT_SOURCE_DIR}/${source} DIRECTORY)
  target_include_directories(${library} PRIVATE ${home} ${PROJECT_SOURCE_DIR}/reference/src ${PROJECT_SOURCE_DIR}/src/core)
  target_link_libraries(${library} PRIVATE execkit_core Threads::Threads execkit_warnings)
  set(${out} ${library} PARENT_SCOPE)
endfunction()

function(execkit_add_mutant name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "DECORATOR;TIMEOUT" "CLAUSES;CALLER;WORKER;CORE")
  if(NOT arg_CLAUSES)
    message(FATAL_ERROR "execkit_add_mutant(${name}): CLAUSES is required")
  endif()
  set(CALLER_home reference/src)
  set(WORKER_home reference/worker)
  set(CORE_home src/core)
  set(patched)
  foreach(side CALLER WORKER CORE)
    list(LENGTH arg_${side} count)
    if(count GREATER 1)
      message(FATAL_ERROR "execkit_add_mutant(${name}): ${side} takes one <source>")
    endif()
    if(arg_${side})
      list(APPEND patched ${${side}_home}/${arg_${side}})
    endif()
  endforeach()
  if(patched)
    _execkit_patch_copies(${name} ${patched})
  endif()
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
    _execkit_mutated_object(mutated ${name} worker ${WORKER_home}/${arg_WORKER})
    _execkit_objects_without(others execkit-worker ${arg_WORKER})
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
    _execkit_mutated_object(mutated ${name} caller ${CALLER_home}/${arg_CALLER})
    _execkit_objects_without(others execkit_reference ${arg_CALLER})
    target_sources(${binary} PRIVATE ${others} $<TARGET_OBJECTS:execkit_protocol>)
    target_link_libraries(${binary} PRIVATE ${mutated} execkit_core)
    add_dependencies(${binary} execkit_reference)
  else()
    target_link_libraries(${binary} PRIVATE execkit_reference)
  endif()

  # execkit_core: a static library, so objects linked first win and its
  # archive members for them are never pulled in.
  if(arg_CORE)
    _execkit_mutated_object(mutated ${name} core ${CORE_home}/${arg_CORE})
    _execkit_objects_without(others execkit_core ${arg_CORE})
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
