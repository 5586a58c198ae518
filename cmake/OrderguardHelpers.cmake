# Uniform targets: every component is a static library `orderguard_<name>` with
# the alias `orderguard::<name>`; tests link the library, never a binary.

set(ORDERGUARD_WARNINGS -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
    -Wno-deprecated-declarations
    # Designated initializers leave the remaining fields at their defaults on purpose.
    -Wno-missing-field-initializers)

# orderguard_library(NAME <name> SOURCES <files...> [DEPS <targets...>])
function(orderguard_library)
  cmake_parse_arguments(ARG "" "NAME" "SOURCES;DEPS" ${ARGN})
  add_library(orderguard_${ARG_NAME} STATIC ${ARG_SOURCES})
  add_library(orderguard::${ARG_NAME} ALIAS orderguard_${ARG_NAME})
  target_include_directories(orderguard_${ARG_NAME} PUBLIC ${PROJECT_SOURCE_DIR})
  target_compile_options(orderguard_${ARG_NAME} PRIVATE ${ORDERGUARD_WARNINGS})
  target_link_libraries(orderguard_${ARG_NAME} PUBLIC ${ARG_DEPS})
endfunction()

# orderguard_binary(NAME <name> SOURCES <files...> DEPS <targets...>)
function(orderguard_binary)
  cmake_parse_arguments(ARG "" "NAME" "SOURCES;DEPS" ${ARGN})
  add_executable(${ARG_NAME} ${ARG_SOURCES})
  target_compile_options(${ARG_NAME} PRIVATE ${ORDERGUARD_WARNINGS})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS})
endfunction()

# orderguard_test(NAME <name> SOURCES <files...> DEPS <targets...> [LABEL unit|e2e])
# Unit tests default to the `unit` label; e2e tests run serially because they
# share one control plane per binary and the machine has few cores.
function(orderguard_test)
  cmake_parse_arguments(ARG "" "NAME;LABEL" "SOURCES;DEPS" ${ARGN})
  if(NOT ARG_LABEL)
    set(ARG_LABEL unit)
  endif()
  add_executable(${ARG_NAME} ${ARG_SOURCES})
  target_compile_options(${ARG_NAME} PRIVATE ${ORDERGUARD_WARNINGS})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock)
  if(ARG_LABEL STREQUAL "e2e")
    # One control plane per test binary: run the binary as one CTest test.
    add_test(NAME ${ARG_NAME} COMMAND ${ARG_NAME})
    set_tests_properties(${ARG_NAME} PROPERTIES LABELS e2e RUN_SERIAL TRUE TIMEOUT 900)
  else()
    target_link_libraries(${ARG_NAME} PRIVATE GTest::gtest_main)
    gtest_discover_tests(${ARG_NAME} PROPERTIES LABELS ${ARG_LABEL} DISCOVERY_TIMEOUT 60)
  endif()
endfunction()

# orderguard_fuzz_target(NAME <target> SOURCES <files...> DEPS <targets...> CORPUS <dir>
#                        TEST <ctest name> [ARGS <driver flags...>]
#                        [WORKING_DIRECTORY <dir>] [LIBFUZZER <clang target>])
# A fuzz target (a file defining LLVMFuzzerTestOneInput) two ways:
# - <target>: linked to orderguard::fuzz_driver, so it builds with any compiler; CTest runs it
#   as <test> (label unit, so `make test` and the ASan run include it) over CORPUS with ARGS
#   (--seconds, --max-iterations, --seed, --dict). It writes fuzz-last-input, the input being
#   run, to WORKING_DIRECTORY (default: a directory of its own under the build tree).
# - LIBFUZZER: with clang only, a libFuzzer binary of the same sources
#   (-fsanitize=fuzzer,address,undefined) for open-ended fuzzing.
function(orderguard_fuzz_target)
  cmake_parse_arguments(ARG "" "NAME;CORPUS;TEST;WORKING_DIRECTORY;LIBFUZZER"
                        "SOURCES;DEPS;ARGS" ${ARGN})
  add_executable(${ARG_NAME} ${ARG_SOURCES})
  target_compile_options(${ARG_NAME} PRIVATE ${ORDERGUARD_WARNINGS})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS} orderguard::fuzz_driver)
  if(NOT ARG_WORKING_DIRECTORY)
    set(ARG_WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}/${ARG_TEST})
    file(MAKE_DIRECTORY ${ARG_WORKING_DIRECTORY})
  endif()
  add_test(NAME ${ARG_TEST}
           COMMAND ${ARG_NAME} ${ARG_CORPUS} ${ARG_ARGS}
           WORKING_DIRECTORY ${ARG_WORKING_DIRECTORY})
  set_tests_properties(${ARG_TEST} PROPERTIES LABELS unit TIMEOUT 300)
  if(ARG_LIBFUZZER AND CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    add_executable(${ARG_LIBFUZZER} ${ARG_SOURCES})
    target_compile_options(${ARG_LIBFUZZER} PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_options(${ARG_LIBFUZZER} PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_libraries(${ARG_LIBFUZZER} PRIVATE ${ARG_DEPS})
  endif()
endfunction()
