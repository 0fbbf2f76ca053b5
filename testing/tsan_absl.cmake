# -DHUT_TSAN=ON: every target is built with ThreadSanitizer, and hut's calls
# to abseil's Mutex and CondVar go through testing/tsan_absl.cc, which tells
# TSan what they synchronize (Debian's abseil is not instrumented).
add_compile_options(-fsanitize=thread)
add_link_options(-fsanitize=thread)
set(HUT_TSAN_WRAPPED
  _ZN4absl7debian35Mutex4LockEv
  _ZN4absl7debian35Mutex10ReaderLockEv
  _ZN4absl7debian35Mutex7TryLockEv
  _ZN4absl7debian35Mutex13ReaderTryLockEv
  _ZN4absl7debian35Mutex6UnlockEv
  _ZN4absl7debian35Mutex12ReaderUnlockEv
  _ZN4absl7debian35Mutex8LockWhenERKNS0_9ConditionE
  _ZN4absl7debian35Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE
  _ZN4absl7debian35Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE
  _ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE
  _ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE
  _ZN4absl7debian35Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE
  _ZN4absl7debian37CondVar4WaitEPNS0_5MutexE
  _ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE
  _ZN4absl7debian37CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE)
foreach(symbol IN LISTS HUT_TSAN_WRAPPED)
  add_link_options(LINKER:--wrap=${symbol})
endforeach()
# An object library: its object goes into every target, so the wrappers
# resolve whatever the order of static libraries on a link line, and no
# shared library of the build folder has to be found at run time (a
# sandboxed replica sees neither /tmp nor the build folder).
add_library(hut_tsan_absl OBJECT ${PROJECT_SOURCE_DIR}/testing/tsan_absl.cc)
target_link_libraries(hut_tsan_absl PUBLIC absl::synchronization)
link_libraries(hut_tsan_absl)
