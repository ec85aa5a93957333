# Writes the git revision and dirty flag of SOURCE_DIR into OUTPUT as C macros, at build time (run by the
# llamascope_build_revision target on every build). The file is rewritten only when its text changes, so
# the one source that includes it recompiles only after a commit or when the tree turns clean or dirty.
execute_process(COMMAND git rev-parse --short=12 HEAD WORKING_DIRECTORY ${SOURCE_DIR}
                OUTPUT_VARIABLE rev OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE rev_failed)
execute_process(COMMAND git status --porcelain --untracked-files=no WORKING_DIRECTORY ${SOURCE_DIR}
                OUTPUT_VARIABLE status OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE status_failed)

set(text "// Generated at build time by cmake/write_build_revision.cmake; do not edit.\n#pragma once\n")
if(rev_failed EQUAL 0 AND NOT rev STREQUAL "")
  string(APPEND text "#define LLAMASCOPE_GIT_REV \"${rev}\"\n")
  if(status_failed EQUAL 0)
    if(status STREQUAL "")
      string(APPEND text "#define LLAMASCOPE_GIT_DIRTY 0\n")
    else()
      string(APPEND text "#define LLAMASCOPE_GIT_DIRTY 1\n")
    endif()
  endif()
endif()

set(old "")
if(EXISTS ${OUTPUT})
  file(READ ${OUTPUT} old)
endif()
if(NOT old STREQUAL text)
  file(WRITE ${OUTPUT} "${text}")
endif()
