// Package dashboard holds the node's web dashboard: one page, a script and a
// style sheet, embedded in the binary and served at GET / and under
// /dashboard/. The page reads the JSON API (/v1/status, /v1/peers,
// /v1/activity, /v1/replicas) every two seconds from the node that served
// it; nothing is fetched from anywhere else (the Content-Security-Policy
// forbids it).
package dashboard

import (
	"embed"
	"net/http"
	"strings"
)

// Prefix is the path under which the page's script and style sheet are served.
const Prefix = "/dashboard/"

//go:embed index.html app.js style.css
var files embed.FS

// contentTypes maps the embedded file names to their media types.
var contentTypes = map[string]string{
	"index.html": "text/html; charset=utf-8",
	"app.js":     "text/javascript; charset=utf-8",
	"style.css":  "text/css; charset=utf-8",
}

// csp lets the page load only its own script and style and talk only to its
// own node.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler serves the dashboard: the page at "/" and its files under Prefix.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := "index.html"
		if r.URL.Path != "/" {
			name = strings.TrimPrefix(r.URL.Path, Prefix)
		}
		ctype, ok := contentTypes[name]
		if !ok || name == "index.html" && r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		body, err := files.ReadFile(name)
		if err != nil { // cannot happen: every name in contentTypes is embedded
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", ctype)
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		_, _ = w.Write(body)
	})
}

// Size is the total size in bytes of the embedded files.
func Size() int {
	total := 0
	for name := range contentTypes {
		b, _ := files.ReadFile(name)
		total += len(b)
	}
	return total
}
