#!/bin/sh
# Build rustflow as a static, stripped x86_64 Linux binary at bin/rustflow, with the
# host's Rust toolchain (the harness's Docker base image has no cargo: the binary is
# committed). Run from anywhere: ./build.sh
set -eu
cd "$(dirname "$0")"
TARGET=x86_64-unknown-linux-gnu
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked --target "$TARGET"
mkdir -p bin
cp "target/$TARGET/release/rustflow" bin/rustflow.tmp
strip bin/rustflow.tmp 2>/dev/null || true
mv bin/rustflow.tmp bin/rustflow
ls -l bin/rustflow
