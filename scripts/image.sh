#!/usr/bin/env bash
# image.sh: build dhtnode's container image from deploy/Dockerfile.
#
#   scripts/image.sh [TAG]               TAG defaults to dhtnode:latest
#   scripts/image.sh --baseline [TAG]    the benchmark's baseline node (vanilla
#                                        go-libp2p-kad-dht, scripts/bench/baseline)
#                                        from deploy/baseline.Dockerfile; TAG
#                                        defaults to dhtnode-baseline:latest.
#                                        For benchmarks only, never shipped.
#
# Compiles a static binary on the host (CGO_ENABLED=0, so no Go image is
# needed) into a temporary build context and builds the FROM-scratch image
# without pulling anything. Prints the tag and the image's size next to the
# binary's. Needs Go and Docker.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=dhtnode PKG=./cmd/dhtnode DOCKERFILE=deploy/Dockerfile DEFAULT_TAG=dhtnode:latest
if [[ ${1:-} == --baseline ]]; then
	BIN=baseline PKG=./scripts/bench/baseline DOCKERFILE=deploy/baseline.Dockerfile DEFAULT_TAG=dhtnode-baseline:latest
	shift
fi
TAG=${1:-$DEFAULT_TAG}
(($# <= 1)) || { echo "usage: $0 [--baseline] [TAG]" >&2; exit 2; }

die() { echo "image.sh: $*" >&2; exit 1; }
command -v docker >/dev/null || die "docker is required"
docker version --format '{{.Server.Version}}' >/dev/null 2>&1 || die "no Docker engine answers (docker version failed)"

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
mkdir "$ctx/data"
(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$ctx/$BIN" "$PKG") || die "go build failed"
cp "$ROOT/$DOCKERFILE" "$ctx/Dockerfile"

# DOCKER_BUILDKIT=0: the classic builder needs no frontend image; FROM scratch
# needs no base image, and --pull=false never asks a registry.
if ! DOCKER_BUILDKIT=0 docker build --pull=false -q -t "$TAG" "$ctx" >"$ctx/build.log" 2>&1; then
	cat "$ctx/build.log" >&2
	die "docker build failed"
fi

bin_size=$(stat -c %s "$ctx/$BIN")
img_size=$(docker image inspect --format '{{.Size}}' "$TAG")
printf '%s: image %d bytes, binary %d bytes (image - binary = %d bytes)\n' \
	"$TAG" "$img_size" "$bin_size" $((img_size - bin_size))
