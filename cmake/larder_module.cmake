# Project-wide compile settings, and larder_add_module(): one library target per module folder,
include(GNUInstallDirs)
# public headers in MODULE/include/larder/MODULE/, sources in MODULE/src/.

add_library(larder_build_options INTERFACE)
target_compile_options(larder_build_options INTERFACE -Wall -Wextra -Wpedantic
  $<$<BOOL:${LARDER_WERROR}>:-Werror>
  # GCC 12 inlines Asio's frame recycler (aligned_alloc) into coroutine frames and then reports
  # the frame's own operator delete as a mismatch: a false positive in large coroutines.
  $<$<CXX_COMPILER_ID:GNU>:-Wno-mismatched-new-delete>)
if(LARDER_SANITIZE)
  list(JOIN LARDER_SANITIZE "," _larder_sanitizers)
  target_compile_options(larder_build_options INTERFACE -fsanitize=${_larder_sanitizers}
    -fno-omit-frame-pointer -fno-sanitize-recover=all)
  target_link_options(larder_build_options INTERFACE -fsanitize=${_larder_sanitizers})
  if("thread" IN_LIST LARDER_SANITIZE)
    # GCC warns that TSan does not model std::atomic_thread_fence, which Asio and libstdc++
    # headers use; larder's own code uses none. The warning is about their code, not ours.
    target_compile_options(larder_build_options INTERFACE -Wno-tsan)
  endif()
endif()
# Asio takes its configuration from macros; every larder target sees the same ones.
target_compile_definitions(larder_build_options INTERFACE BOOST_ASIO_NO_DEPRECATED)

# larder_add_module(NAME SOURCES src... [PUBLIC_DEPS ...] [PRIVATE_DEPS ...])
function(larder_add_module name)
  cmake_parse_arguments(ARG "" "" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(larder_${name} ${ARG_SOURCES})
  add_library(larder::${name} ALIAS larder_${name})
  set_target_properties(larder_${name} PROPERTIES EXPORT_NAME ${name} OUTPUT_NAME larder_${name}
    POSITION_INDEPENDENT_CODE ON)
  target_include_directories(larder_${name} PUBLIC
    $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>
    PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
  target_compile_features(larder_${name} PUBLIC cxx_std_20)
  target_link_libraries(larder_${name} PUBLIC ${ARG_PUBLIC_DEPS}
    PRIVATE ${ARG_PRIVATE_DEPS} $<BUILD_INTERFACE:larder_build_options>)
  set_property(GLOBAL APPEND PROPERTY LARDER_MODULES larder_${name})
endfunction()
