package node

import (
	"math"
	"net"
	"net/http"
	"strconv"

	"github.com/dhtnode/dhtnode/config"
	"github.com/dhtnode/dhtnode/internal/keyedrate"
)

// limitClients wraps h with a request rate per client IP address
// (config.API.APIRateLimit: api.rate_limit and api.rate_burst): past it a
// client gets 429 with Retry-After and the code rate_limited. The client is
// the connection's address; X-Forwarded-For is not trusted, so behind a
// proxy every client shares the proxy's budget. /healthz and /readyz are
// never limited: an orchestrator must see the node's health. Without a
// limit, h is returned as it is.
func limitClients(api config.API, h http.Handler) http.Handler {
	perSecond, burst := api.APIRateLimit()
	lim := keyedrate.New[string](float64(perSecond), burst)
	if lim == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; p == "/healthz" || p == "/readyz" {
			h.ServeHTTP(w, r)
			return
		}
		client, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			client = r.RemoteAddr
		}
		if ok, after := lim.Allow(client); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(after.Seconds())))))
			writeError(w, http.StatusTooManyRequests, "over api.rate_limit ("+strconv.Itoa(perSecond)+" requests/s per client address)", CodeRateLimited)
			return
		}
		h.ServeHTTP(w, r)
	})
}
