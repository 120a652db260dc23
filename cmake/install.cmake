# Installs headers, libraries, the worker, the probe module and a relocatable
# CMake package (find_package(execkit CONFIG)).
include(CMakePackageConfigHelpers)

set(EXECKIT_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/execkit)

install(DIRECTORY include/execkit DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS execkit_core execkit_reference EXPORT execkitTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS execkit-worker DESTINATION ${CMAKE_INSTALL_LIBEXECDIR})
install(TARGETS execkit DESTINATION ${CMAKE_INSTALL_BINDIR})

install(EXPORT execkitTargets NAMESPACE execkit:: DESTINATION ${EXECKIT_CMAKE_DIR})
configure_package_config_file(cmake/execkitConfig.cmake.in
  ${PROJECT_BINARY_DIR}/execkitConfig.cmake INSTALL_DESTINATION ${EXECKIT_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/execkitConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/execkitConfig.cmake ${PROJECT_BINARY_DIR}/execkitConfigVersion.cmake
  DESTINATION ${EXECKIT_CMAKE_DIR})
