#!/bin/sh
# Build the launcher (launch.c) as launch-x86_64: static, no C library, stripped. The
# binary is committed (the harness's Docker base image has no compiler); the reference
# falls back to /bin/sh where it cannot run. Run from anywhere: ./build.sh
set -eu
cd "$(dirname "$0")"
gcc -Os -static -nostdlib -fno-pie -no-pie -fno-stack-protector -fno-builtin \
    -fno-asynchronous-unwind-tables -Wl,--build-id=none -Wall -Wextra -Werror \
    -o launch-x86_64.tmp launch.c
strip launch-x86_64.tmp
mv launch-x86_64.tmp launch-x86_64
ls -l launch-x86_64
