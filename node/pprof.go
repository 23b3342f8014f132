package node

import (
	"net/http"
	"net/http/pprof"
	"strings"
)

// pprofPrefix is where api.pprof serves Go's profiles.
const pprofPrefix = "/debug/pprof/"

// servePprof serves one of net/http/pprof's pages; the package's own
// registration on http.DefaultServeMux is not used (the API has its own mux).
func servePprof(w http.ResponseWriter, r *http.Request) {
	switch name := strings.TrimPrefix(r.URL.Path, pprofPrefix); name {
	case "cmdline":
		pprof.Cmdline(w, r)
	case "profile":
		pprof.Profile(w, r)
	case "symbol":
		pprof.Symbol(w, r)
	case "trace":
		pprof.Trace(w, r)
	default:
		pprof.Index(w, r) // the index, and heap, goroutine, allocs and the other named profiles
	}
}
