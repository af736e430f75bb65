# Per-target build settings and the helpers that register libraries and tests.

# Every postroom target links this interface target privately: language level,
# warnings and (optionally) sanitizers, without touching global flags.
add_library(postroom_build_options INTERFACE)
add_library(postroom::build_options ALIAS postroom_build_options)
target_compile_features(postroom_build_options INTERFACE cxx_std_23)
target_compile_options(postroom_build_options INTERFACE -Wall -Wextra
  $<$<BOOL:${POSTROOM_WERROR}>:-Werror>)
if(POSTROOM_SANITIZE)
  target_compile_options(postroom_build_options INTERFACE
    -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  target_link_options(postroom_build_options INTERFACE -fsanitize=address,undefined)
endif()

if(POSTROOM_TSAN)
  target_compile_options(postroom_build_options INTERFACE -fsanitize=thread -fno-omit-frame-pointer)
  target_link_options(postroom_build_options INTERFACE -fsanitize=thread)
endif()

# postroom_library(NAME sources...): static library postroom_NAME, alias postroom::NAME,
# public headers under libs/NAME/include.
function(postroom_library name)
  add_library(postroom_${name} STATIC ${ARGN})
  add_library(postroom::${name} ALIAS postroom_${name})
  target_include_directories(postroom_${name} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
  target_link_libraries(postroom_${name} PRIVATE postroom::build_options)
endfunction()

# postroom_unit_test(NAME sources... LIBS libs... [PROPERTIES prop value...]): one doctest
# binary, each case a ctest test (with the given test properties, e.g. a fixture it needs).
function(postroom_unit_test name)
  cmake_parse_arguments(ARG "" "" "LIBS;PROPERTIES" ${ARGN})
  add_executable(${name} ${PROJECT_SOURCE_DIR}/cmake/doctest_main.cpp ${ARG_UNPARSED_ARGUMENTS})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} doctest::doctest postroom::build_options)
  if(ARG_PROPERTIES)
    doctest_discover_tests(${name} TEST_PREFIX "${name}: " PROPERTIES ${ARG_PROPERTIES})
  else()
    doctest_discover_tests(${name} TEST_PREFIX "${name}: ")
  endif()
endfunction()
