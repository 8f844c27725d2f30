# Cross-compiling aifgen for 64-bit ARM with Debian's cross toolchain (crossbuild-essential-arm64)
# against a sysroot of Debian's arm64 packages (scripts/check-arm64.sh makes one). Programs such
# as protoc come from the build machine; headers, libraries and CMake packages from the sysroot.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
if(NOT AIFGEN_ARM64_SYSROOT)
  set(AIFGEN_ARM64_SYSROOT "$ENV{AIFGEN_ARM64_SYSROOT}")
endif()
if(NOT IS_DIRECTORY "${AIFGEN_ARM64_SYSROOT}/usr/lib/aarch64-linux-gnu")
  message(FATAL_ERROR "AIFGEN_ARM64_SYSROOT must name an arm64 Debian sysroot (scripts/check-arm64.sh builds one)")
endif()
set(CMAKE_SYSROOT "${AIFGEN_ARM64_SYSROOT}")
set(CMAKE_FIND_ROOT_PATH "${AIFGEN_ARM64_SYSROOT}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# Libraries found through pkg-config (libpqxx ships nothing else) must be the sysroot's .pc files,
# with their -I/-L paths moved under the sysroot.
set(ENV{PKG_CONFIG_LIBDIR} "${AIFGEN_ARM64_SYSROOT}/usr/lib/aarch64-linux-gnu/pkgconfig:${AIFGEN_ARM64_SYSROOT}/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "${AIFGEN_ARM64_SYSROOT}")
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L "${AIFGEN_ARM64_SYSROOT}")
