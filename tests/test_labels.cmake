# CTest labels of the GoogleTest cases (run by CTest after the discovered cases are defined; the list of
# names comes from gtest_discover_tests). Every test carries one kind, unit, cli or golden, and may add
# slow (minutes, not seconds) and gpu (needs an NVIDIA GPU). `ctest -L unit` is the fast loop.
foreach(test IN LISTS llamascope_tests_TESTS)
  if(test MATCHES "^Manifest/GoldenLogits\\.")  # every model x kernel set against llama.cpp's logits
    set(labels golden slow)
  elseif(test MATCHES "^(RecordsCli|CorruptFilesCli)\\.")  # the CLI run as a user runs it
    set(labels cli)
  else()
    set(labels unit)
  endif()
  if(test MATCHES "[Cc]uda|CUDA")
    list(APPEND labels gpu)
  endif()
  set_tests_properties("${test}" PROPERTIES LABELS "${labels}")
endforeach()
