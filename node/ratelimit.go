package node

import (
	"context"
	"math"
	"net"
	"net/http"
	"strconv"
	"time"

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
			refuseRate(w, perSecond, after)
			return
		}
		// A batch (POST /v1/values) costs one request per entry: it takes
		// the rest once it knows how many entries it has (batch.go).
		charge := &entryCharge{perSecond: perSecond, burst: lim.Burst(),
			take: func(n int) (bool, time.Duration) { return lim.AllowN(client, n) }}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), entryChargeKey{}, charge)))
	})
}

// refuseRate answers 429 with Retry-After.
func refuseRate(w http.ResponseWriter, perSecond int, after time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(after.Seconds())))))
	writeError(w, http.StatusTooManyRequests, "over api.rate_limit ("+strconv.Itoa(perSecond)+" requests/s per client address; a batch counts each entry)", CodeRateLimited)
}

// entryCharge takes more of a client's request budget than the one its
// request took: a batch charges its other entries.
type entryCharge struct {
	perSecond, burst int
	take             func(n int) (bool, time.Duration)
}

type entryChargeKey struct{}

// chargeEntries takes n more requests of r's client's budget; when the
// budget is short it answers 429 (or 400 for a batch larger than the burst,
// which could never pass) itself and returns false. Without a limit it
// always returns true.
func chargeEntries(w http.ResponseWriter, r *http.Request, n int) bool {
	c, _ := r.Context().Value(entryChargeKey{}).(*entryCharge)
	if c == nil || n <= 0 {
		return true
	}
	if n+1 > c.burst {
		writeError(w, http.StatusBadRequest, "a batch of "+strconv.Itoa(n+1)+" entries is over api.rate_burst ("+strconv.Itoa(c.burst)+"): send smaller batches", CodeBadRequest)
		return false
	}
	if ok, after := c.take(n); !ok {
		refuseRate(w, c.perSecond, after)
		return false
	}
	return true
}
