# The layering of the libraries: base/ (vocabulary, no I/O libraries) under kube/ (the API
# client and controller runtime) and policy/ (pure miner rules); the binaries' libraries on top.
# policy/ must stay free of kube/, so the rule engine that judges hostile input does not drag
# Boost.Beast, OpenSSL's TLS and prometheus-cpp into its link line or its fuzz drivers (it links
# RE2 and, for the SHA-256 of Quarantine names, libcrypto).
#
# Two checks:
#  - at configure time, orderguard_forbid_links() walks a library's link dependencies
#    (transitively) and stops the build if a forbidden target is among them;
#  - as the CTest test layering_test (this file run with -P), every source file of a library
#    is searched for includes of a forbidden component.

# orderguard_forbid_links(<target> <forbidden target>...)
function(orderguard_forbid_links target)
  set(pending ${target})
  set(seen "")
  while(pending)
    list(POP_FRONT pending current)
    if(NOT TARGET ${current} OR current IN_LIST seen)
      continue()
    endif()
    list(APPEND seen ${current})
    get_target_property(aliased ${current} ALIASED_TARGET)
    if(aliased)
      set(current ${aliased})
    endif()
    foreach(forbidden ${ARGN})
      get_target_property(forbidden_real ${forbidden} ALIASED_TARGET)
      if(NOT forbidden_real)
        set(forbidden_real ${forbidden})
      endif()
      if(current STREQUAL forbidden_real AND NOT current STREQUAL target)
        message(FATAL_ERROR "layering: ${target} links ${forbidden} (through ${seen})")
      endif()
    endforeach()
    get_target_property(deps ${current} LINK_LIBRARIES)
    get_target_property(interface_deps ${current} INTERFACE_LINK_LIBRARIES)
    foreach(dep ${deps} ${interface_deps})
      if(dep AND NOT dep MATCHES "NOTFOUND$" AND NOT dep MATCHES "^\\$<")
        list(APPEND pending ${dep})
      endif()
    endforeach()
  endwhile()
endfunction()

# Script mode: cmake -DSOURCE_DIR=<repo> -P cmake/layering.cmake
if(CMAKE_SCRIPT_MODE_FILE)
  # directory -> components its sources (tests and fuzz drivers included) must not include
  set(rules
    "base:kube,policy,api,operator,webhook,agent,e2e"
    "policy:kube,operator,webhook,agent,e2e"
    "api:kube,policy,operator,webhook,agent,e2e")
  set(violations "")
  foreach(rule ${rules})
    string(REPLACE ":" ";" parts "${rule}")
    list(GET parts 0 dir)
    list(GET parts 1 forbidden)
    string(REPLACE "," "|" forbidden_regex "${forbidden}")
    file(GLOB_RECURSE sources "${SOURCE_DIR}/${dir}/*.h" "${SOURCE_DIR}/${dir}/*.cpp")
    foreach(source ${sources})
      file(STRINGS "${source}" lines REGEX "^[ \t]*#[ \t]*include[ \t]*\"(${forbidden_regex})/")
      foreach(line ${lines})
        file(RELATIVE_PATH rel "${SOURCE_DIR}" "${source}")
        list(APPEND violations "${rel}: ${line}")
      endforeach()
    endforeach()
  endforeach()
  if(violations)
    list(JOIN violations "\n  " text)
    message(FATAL_ERROR "layering: includes across the layers:\n  ${text}")
  endif()
  message(STATUS "layering: ok")
endif()
