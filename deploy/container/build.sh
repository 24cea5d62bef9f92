#!/usr/bin/env bash
# Builds the mcpgw container image from scratch — no base image is pulled: the three release
# binaries, the few shared libraries they link (glibc, libm, libgcc_s, the loader), a
# non-root user (65532) and a /data directory it owns for the control plane's store.
#
#   deploy/container/build.sh [IMAGE]            build and commit IMAGE (default localhost/mcpgw:dev)
#   deploy/container/build.sh --rootfs DIR BIN…  only assemble the root filesystem in DIR
#
# Needs buildah (Debian: `apt-get install buildah`); storage is `vfs`, which works without a
# container engine or overlay support.
set -euo pipefail

# The root filesystem: BINs in /usr/local/bin and every library they load, at its path.
assemble() {
  local dir=$1
  shift
  mkdir -p "$dir/usr/local/bin" "$dir/etc" "$dir/tmp"
  for bin in "$@"; do
    install -m 0755 "$bin" "$dir/usr/local/bin/"
    # `libc.so.6 => /lib/.../libc.so.6 (0x…)` and `/lib64/ld-linux-x86-64.so.2 (0x…)`.
    ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' |
      while read -r lib; do
        mkdir -p "$dir$(dirname "$lib")"
        cp -L "$lib" "$dir$lib"
      done
  done
  echo 'nonroot:x:65532:65532:nonroot:/nonexistent:/usr/sbin/nologin' >"$dir/etc/passwd"
  echo 'nonroot:x:65532:' >"$dir/etc/group"
  chmod 1777 "$dir/tmp"
}

if [[ ${1:-} == --rootfs ]]; then
  shift
  assemble "$@"
  exit 0
fi

image=${1:-localhost/mcpgw:dev}
cd "$(dirname "$0")/../.."
cargo build --release --locked -p mcpgw-control-plane -p mcpgw-data-plane -p mcpgw --bins
rootfs=$(mktemp -d)
empty=$(mktemp -d)
trap 'rm -rf "$rootfs" "$empty"' EXIT
assemble "$rootfs" target/release/control-plane target/release/data-plane target/release/mcpgw

b() { buildah --storage-driver vfs "$@"; }
ctr=$(b from scratch)
b copy "$ctr" "$rootfs" /
# The store's directory, owned by the image's user (created by the copy).
b copy --chown 65532:65532 "$ctr" "$empty" /data
b config \
  --user 65532:65532 \
  --workingdir /data \
  --entrypoint '[]' \
  --cmd '["/usr/local/bin/data-plane"]' \
  --port 8081 \
  --label org.opencontainers.image.title=mcpgw \
  --label org.opencontainers.image.description="MCP gateway: control-plane, data-plane and mcpgw" \
  "$ctr"
b commit --rm "$ctr" "$image"
echo "built $image"
