package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// leanPuts sends PUT /v1/values/{key} over its own keep-alive HTTP/1.1
// connections, one request at a time on each, from the caller's goroutine:
// net/http's Transport hands every request to a connection's write loop and
// its answer back from a read loop, three goroutines and their wake-ups per
// request, which on a 2-core machine took CPU from the nodes under test
// (-put-client conn). Requests and answers are real HTTP/1.1; the answer is
// parsed by net/http (http.ReadResponse).
type leanPuts struct {
	mu   sync.Mutex
	idle map[string][]*leanConn // by host:port
	max  int                    // idle connections kept per host
}

type leanConn struct {
	c  net.Conn
	br *bufio.Reader
	bw *bufio.Writer
}

func newLeanPuts(perHost int) *leanPuts {
	return &leanPuts{idle: map[string][]*leanConn{}, max: perHost}
}

// get returns an idle connection to host, or a new one.
func (p *leanPuts) get(ctx context.Context, host string) (*leanConn, bool, error) {
	p.mu.Lock()
	if q := p.idle[host]; len(q) > 0 {
		lc := q[len(q)-1]
		p.idle[host] = q[:len(q)-1]
		p.mu.Unlock()
		return lc, true, nil
	}
	p.mu.Unlock()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, false, err
	}
	return &leanConn{c: c, br: bufio.NewReaderSize(c, 4096), bw: bufio.NewWriterSize(c, 8192)}, false, nil
}

func (p *leanPuts) put(host string, lc *leanConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.idle == nil || len(p.idle[host]) >= p.max {
		lc.c.Close()
		return
	}
	p.idle[host] = append(p.idle[host], lc)
}

// closeIdle closes the idle connections.
func (p *leanPuts) closeIdle() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for h, q := range p.idle {
		for _, lc := range q {
			lc.c.Close()
		}
		delete(p.idle, h)
	}
}

// Put stores value under key through the node at api (a base URL such as
// http://127.0.0.1:8100). A request that fails on a reused connection
// before any of its answer arrived (the node closed the idle connection)
// is sent once more on a new one, as net/http does.
func (p *leanPuts) Put(ctx context.Context, api, key string, value []byte) error {
	u, err := url.Parse(api)
	if err != nil {
		return err
	}
	path := "/v1/values/" + url.PathEscape(key)
	for attempt := 0; ; attempt++ {
		lc, reused, err := p.get(ctx, u.Host)
		if err != nil {
			return err
		}
		resp, body, early, err := lc.roundTrip(ctx, u.Host, path, value)
		if err != nil {
			lc.c.Close()
			if reused && early && attempt == 0 && ctx.Err() == nil {
				continue
			}
			return fmt.Errorf("PUT %s%s: %w", api, path, err)
		}
		if resp.Close {
			lc.c.Close()
		} else {
			p.put(u.Host, lc)
		}
		if resp.StatusCode/100 != 2 {
			return &HTTPError{Method: http.MethodPut, URL: api + path, Status: resp.StatusCode, Body: string(body[:min(len(body), maxErrBody)])}
		}
		return nil
	}
}

// roundTrip writes one PUT and reads its answer within ctx. early reports
// an error before any byte of the answer was read.
func (lc *leanConn) roundTrip(ctx context.Context, host, path string, value []byte) (resp *http.Response, body []byte, early bool, err error) {
	deadline, _ := ctx.Deadline() // zero: none
	if err := lc.c.SetDeadline(deadline); err != nil {
		return nil, nil, true, err
	}
	stop := context.AfterFunc(ctx, func() { lc.c.SetDeadline(time.Now()) })
	defer stop()
	bw := lc.bw
	bw.WriteString("PUT ")
	bw.WriteString(path)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(host)
	bw.WriteString("\r\nContent-Type: application/octet-stream\r\nContent-Length: ")
	var num [20]byte
	bw.Write(strconv.AppendInt(num[:0], int64(len(value)), 10))
	bw.WriteString("\r\n\r\n")
	bw.Write(value)
	if err := bw.Flush(); err != nil {
		return nil, nil, true, err
	}
	if _, err := lc.br.Peek(1); err != nil {
		return nil, nil, errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET), err
	}
	resp, err = http.ReadResponse(lc.br, nil)
	if err != nil {
		return nil, nil, false, err
	}
	body, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, nil, false, err
	}
	return resp, body, false, nil
}
