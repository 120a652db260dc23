# Installs execkit as a relocatable CMake package, find_package(execkit CONFIG):
#
#   include/execkit/                 the API headers and execkit/conformance/ (the suite)
#   lib/libexeckit_*.a               core, reference, conformance
#   lib/execkit/                     the probe module, plus shadow_a/, shadow_b/, broken/ (ISO-3, ISO-7),
#                                    each in C++ (lib<name>.so) and Python (<name>.py)
#   libexec/execkit-worker           the reference backend's worker
#   bin/execkit                      the CLI
#   bin/execkit-clause-report        the clause report (reads ctest/gtest JUnit XML)
#   bin/execkit-conformance          the suite against any backend speaking docs/protocol.md
#   bin/execkit-backend-server       the reference backend served over that protocol
#   share/execkit/python/            execkit_backend.py (the protocol loop for Python backends)
#                                    and execkit_probe.py (the probe tasks in Python)
#   share/execkit/contract.md        the clause list the report reads
#   share/execkit/python/            the Python probe, execkit_probe.py (docs/probe.md)
#   share/doc/execkit/               writing-a-backend.md and the other docs
#   lib/cmake/execkit/               package config, exported targets, ExecKitConformance.cmake
#
# Nothing in the package holds an absolute install path: the config finds
# everything relative to its own location, so the tree can be moved.
include(CMakePackageConfigHelpers)

set(EXECKIT_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/execkit)
set(EXECKIT_MODULE_DIR ${CMAKE_INSTALL_LIBDIR}/execkit)
set(EXECKIT_DATA_DIR ${CMAKE_INSTALL_DATADIR}/execkit)

install(DIRECTORY include/execkit DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
set_target_properties(execkit-worker PROPERTIES EXPORT_NAME worker)
install(TARGETS execkit_core execkit_reference execkit-worker EXPORT execkitTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_LIBEXECDIR})
install(TARGETS execkit DESTINATION ${CMAKE_INSTALL_BINDIR})
install(PROGRAMS scripts/clause_report.py DESTINATION ${CMAKE_INSTALL_BINDIR} RENAME execkit-clause-report)
install(FILES docs/contract.md DESTINATION ${EXECKIT_DATA_DIR})
install(DIRECTORY docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR} FILES_MATCHING PATTERN "*.md")
install(EXPORT execkitTargets NAMESPACE execkit:: DESTINATION ${EXECKIT_CMAKE_DIR})

# The suite exists only where GoogleTest and Asio were found (conformance/CMakeLists.txt).
set(EXECKIT_PACKAGE_HAS_CONFORMANCE OFF)
if(TARGET execkit_conformance)
  set(EXECKIT_PACKAGE_HAS_CONFORMANCE ON)
  install(DIRECTORY conformance/include/execkit DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  set_target_properties(execkit_probe PROPERTIES EXPORT_NAME probe)
  install(TARGETS execkit_conformance EXPORT execkitConformanceTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(TARGETS execkit_probe EXPORT execkitConformanceTargets LIBRARY DESTINATION ${EXECKIT_MODULE_DIR})
  install(TARGETS execkit_shadow_a LIBRARY DESTINATION ${EXECKIT_MODULE_DIR}/shadow_a)
  install(TARGETS execkit_shadow_b LIBRARY DESTINATION ${EXECKIT_MODULE_DIR}/shadow_b)
  install(TARGETS execkit_unresolved LIBRARY DESTINATION ${EXECKIT_MODULE_DIR}/broken)
  # The Python probe, staged next to the C++ one by the execkit_probe target.
  install(FILES ${CMAKE_LIBRARY_OUTPUT_DIRECTORY}/execkit_probe.py DESTINATION ${EXECKIT_MODULE_DIR})
  install(FILES ${CMAKE_LIBRARY_OUTPUT_DIRECTORY}/execkit_probe.py DESTINATION ${EXECKIT_DATA_DIR}/python)
  install(FILES ${CMAKE_LIBRARY_OUTPUT_DIRECTORY}/shadow_a/shadow.py DESTINATION ${EXECKIT_MODULE_DIR}/shadow_a)
  install(FILES ${CMAKE_LIBRARY_OUTPUT_DIRECTORY}/shadow_b/shadow.py DESTINATION ${EXECKIT_MODULE_DIR}/shadow_b)
  install(FILES ${CMAKE_LIBRARY_OUTPUT_DIRECTORY}/broken/unresolved.py DESTINATION ${EXECKIT_MODULE_DIR}/broken)
  install(EXPORT execkitConformanceTargets NAMESPACE execkit:: DESTINATION ${EXECKIT_CMAKE_DIR})
  install(FILES cmake/ExecKitConformance.cmake DESTINATION ${EXECKIT_CMAKE_DIR})
endif()

# The backend protocol (docs/protocol.md): ExternalBackend for C++ callers,
# the reference served over it, the suite for any backend that speaks it, and
# the Python side of the protocol.
install(FILES external/include/execkit/external_backend.hpp DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/execkit)
install(TARGETS execkit_external EXPORT execkitTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS execkit-backend-server DESTINATION ${CMAKE_INSTALL_BINDIR})
if(TARGET execkit-conformance)
  install(TARGETS execkit-conformance DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
install(DIRECTORY protocol/python/ DESTINATION ${EXECKIT_DATA_DIR}/python FILES_MATCHING PATTERN "execkit_*.py"
  PATTERN tests EXCLUDE PATTERN __pycache__ EXCLUDE)

# The Redis Streams backend, where hiredis was found (redis/CMakeLists.txt).
set(EXECKIT_PACKAGE_HAS_REDIS OFF)
if(TARGET execkit_redis)
  set(EXECKIT_PACKAGE_HAS_REDIS ON)
  install(FILES redis/include/execkit/redis_stream.hpp DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/execkit)
  install(TARGETS execkit_redis EXPORT execkitRedisTargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(TARGETS execkit-node DESTINATION ${CMAKE_INSTALL_BINDIR})
  install(EXPORT execkitRedisTargets NAMESPACE execkit:: DESTINATION ${EXECKIT_CMAKE_DIR})
endif()

configure_package_config_file(cmake/execkitConfig.cmake.in
  ${PROJECT_BINARY_DIR}/execkitConfig.cmake INSTALL_DESTINATION ${EXECKIT_CMAKE_DIR}
  PATH_VARS CMAKE_INSTALL_BINDIR EXECKIT_DATA_DIR)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/execkitConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/execkitConfig.cmake ${PROJECT_BINARY_DIR}/execkitConfigVersion.cmake
  DESTINATION ${EXECKIT_CMAKE_DIR})
