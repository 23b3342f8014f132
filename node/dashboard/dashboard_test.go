package dashboard_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/dhtnode/dhtnode/node/dashboard"
)

// budget is the size limit for the whole dashboard.
const budget = 100 << 10

func TestSizeBudget(t *testing.T) {
	if size := dashboard.Size(); size == 0 || size > budget {
		t.Fatalf("dashboard is %d bytes, budget %d", size, budget)
	}
}

func get(t *testing.T, path string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	dashboard.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	resp := rec.Result()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func TestServesFiles(t *testing.T) {
	for path, ctype := range map[string]string{
		"/":                    "text/html; charset=utf-8",
		"/dashboard/app.js":    "text/javascript; charset=utf-8",
		"/dashboard/style.css": "text/css; charset=utf-8",
	} {
		resp, body := get(t, path)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != ctype || body == "" {
			t.Errorf("GET %s: %d %q, %d bytes", path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "connect-src 'self'") {
			t.Errorf("GET %s: CSP %q does not keep requests on the node", path, csp)
		}
	}
	for _, path := range []string{"/dashboard/", "/dashboard/index.html", "/dashboard/nope.js", "/dashboard/../dashboard.go"} {
		if resp, _ := get(t, path); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, resp.StatusCode)
		}
	}
}

// TestNoExternalReferences: the page names no other origin (the SVG
// namespace is a name, never fetched).
func TestNoExternalReferences(t *testing.T) {
	url := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	for _, path := range []string{"/", "/dashboard/app.js", "/dashboard/style.css"} {
		_, body := get(t, path)
		for _, m := range url.FindAllString(body, -1) {
			if m != "http://www.w3.org" {
				t.Errorf("%s refers to %s", path, m)
			}
		}
		if strings.Contains(body, "@import") || strings.Contains(body, "@font-face") {
			t.Errorf("%s imports a style sheet or a font", path)
		}
	}
}
