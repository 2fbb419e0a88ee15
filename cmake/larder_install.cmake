# install(EXPORT) so that another CMake project can find_package(larder) and link larder::larder.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

get_property(_larder_modules GLOBAL PROPERTY LARDER_MODULES)
set_target_properties(larder PROPERTIES EXPORT_NAME larder)
install(TARGETS larder ${_larder_modules} EXPORT larderTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
foreach(_module config runtime scheduler io cache)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${_module}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
endforeach()
install(EXPORT larderTargets NAMESPACE larder:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/larder)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/larderConfig.cmake.in
  ${PROJECT_BINARY_DIR}/larderConfig.cmake INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/larder)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/larderConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/larderConfig.cmake ${PROJECT_BINARY_DIR}/larderConfigVersion.cmake
  ${PROJECT_SOURCE_DIR}/cmake/larder_dependencies.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/larder)
