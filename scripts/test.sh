#!/usr/bin/env bash
# Runs dhtnode's whole default test suite: formatting, vet, staticcheck, and
# every package's tests with the race detector. Needs only Go: staticcheck is
# pinned in go.mod (a tool directive) and built from the module cache.
# Longer soak/chaos runs are not part of this: see README ("Longer runs").
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

step "go vet"
go vet ./...

step "staticcheck"
go tool staticcheck ./...

step "go test -race"
go test -race -count=1 -timeout 12m -p 2 ./... "$@"
