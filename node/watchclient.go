package node

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// ErrWatchEnded is returned by Client.Watch when the node ended the stream
// (it shut down, or the connection broke).
var ErrWatchEnded = errors.New("watch stream ended")

// maxWatchLine bounds one line of a watch stream: a data line carries a
// value of up to 1 MiB in base64.
const maxWatchLine = 4 << 20

// WatchEvent is one event of a watch stream.
type WatchEvent struct {
	Event string `json:"event"` // WatchEventValue, WatchEventDeleted or WatchEventExpired
	WatchEventData
}

// Watch streams the events of key (GET /v1/watch/{key}) to fn until ctx
// ends (it returns ctx's error), fn returns an error (returned), or the
// stream ends (ErrWatchEnded). With have set, the node sends the key's
// current state only if it is newer than that version (Last-Event-ID).
func (c *Client) Watch(ctx context.Context, key string, have *uint64, fn func(WatchEvent) error) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+watchPrefix+url.PathEscape(key), nil)
	if err != nil {
		return fmt.Errorf("bad API URL %q: %v", c.base, err)
	}
	req.Header.Set("Accept", "text/event-stream")
	if have != nil {
		req.Header.Set("Last-Event-ID", strconv.FormatUint(*have, 10))
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	// The client's own timeout would cut a stream that lasts longer.
	resp, err := (&http.Client{Transport: c.http.Transport}).Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w at %s: %w", ErrUnreachable, c.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return c.apiError(resp)
	}
	err = readEvents(resp, fn)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// readEvents parses a Server-Sent Events stream, calling fn per event.
func readEvents(resp *http.Response, fn func(WatchEvent) error) error {
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), maxWatchLine)
	var ev WatchEvent
	var data []byte
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case len(line) == 0:
			if ev.Event == "" && data == nil {
				continue
			}
			if err := json.Unmarshal(data, &ev.WatchEventData); err != nil {
				return fmt.Errorf("bad watch event data %q: %v", data, err)
			}
			if err := fn(ev); err != nil {
				return err
			}
			ev, data = WatchEvent{}, nil
		case line[0] == ':': // a comment: the heartbeat
		default:
			field, value, _ := bytes.Cut(line, []byte(":"))
			value = bytes.TrimPrefix(value, []byte(" "))
			switch string(field) {
			case "event":
				ev.Event = string(value)
			case "data":
				data = append(data, value...)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%w: %v", ErrWatchEnded, err)
	}
	return ErrWatchEnded
}
