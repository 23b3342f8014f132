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
# The slowest package (replication) takes about 5 minutes on an idle 2-core
# machine; the timeout leaves room for a loaded one, and a hang still ends
# with every goroutine printed well inside CI's limit.
go test -race -count=1 -timeout 20m -p 2 ./... "$@"
