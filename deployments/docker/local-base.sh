#!/usr/bin/env bash
# Builds a local base image (Debian bookworm, minbase) holding this machine's Node.js 20 and
# npm, for building deployments/docker/Dockerfile where no registry serves the official
# node:20-bookworm-slim image:
#
#   deployments/docker/local-base.sh [tag]        # default tag: localhost/keyval-base:bookworm-node20
#   podman build --build-arg BASE_IMAGE=localhost/keyval-base:bookworm-node20 ...
#
# Needs root, mmdebstrap and podman (with runc), and Debian's package mirror; takes about a
# minute. Exits 0 at once when the tag already exists (KEYVAL_BASE_REBUILD=1 rebuilds it).
set -euo pipefail
tag=${1:-localhost/keyval-base:bookworm-node20}
podman=(podman --runtime runc --cgroup-manager=cgroupfs)
if [ "${KEYVAL_BASE_REBUILD:-0}" != 1 ] && "${podman[@]}" image exists "$tag"; then
  echo "local-base: $tag already exists"
  exit 0
fi
node_bin=$(command -v node)
case "$("$node_bin" -v)" in
  v20.*) ;;
  *) echo "local-base: $node_bin is $("$node_bin" -v), not Node.js 20" >&2; exit 1 ;;
esac
npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Node links only against the C and C++ runtimes (OpenSSL, ICU, zlib are built in), which
# minbase has; ca-certificates lets npm reach its registry over TLS.
mmdebstrap --quiet --variant=minbase --include=ca-certificates,libstdc++6 \
  --customize-hook="copy-in $node_bin /usr/local/bin" \
  --customize-hook='mkdir -p "$1/usr/local/lib/node_modules/npm"' \
  --customize-hook="sync-in $npm_dir /usr/local/lib/node_modules/npm" \
  --customize-hook='ln -s ../lib/node_modules/npm/bin/npm-cli.js "$1/usr/local/bin/npm"' \
  --customize-hook='ln -s ../lib/node_modules/npm/bin/npx-cli.js "$1/usr/local/bin/npx"' \
  --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/*' \
  bookworm "$work/rootfs.tar"
"${podman[@]}" import --change 'CMD ["node"]' --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' "$work/rootfs.tar" "$tag" >/dev/null
echo "local-base: built $tag ($("$node_bin" -v), npm $(npm -v))"
