# Runs scripts/check-layering on the fixture tree, which has exactly one upward include
# (persistence/store.cpp line 4 includes gateway/), and fails unless the check fails naming that
# line and nothing else: a check that passes everything cannot pass this test.
# cmake -DCHECK=<scripts/check-layering> -DROOT=<fixture> -P expect_upward_include.cmake
execute_process(COMMAND ${CHECK} --root ${ROOT} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                ERROR_VARIABLE err)
message(STATUS "check-layering exited ${rc}:\n${out}${err}")
if(NOT rc EQUAL 1)
  message(FATAL_ERROR "expected exit code 1 (an include against the layering), got ${rc}")
endif()
if(NOT out MATCHES "persistence/store.cpp:4: includes \"gateway/api.hpp\"")
  message(FATAL_ERROR "the output does not name persistence/store.cpp:4")
endif()
if(NOT out MATCHES "3 files, 4 includes, 1 against the layering, 0 outside the table")
  message(FATAL_ERROR "expected exactly one finding in 3 files with 4 includes")
endif()
