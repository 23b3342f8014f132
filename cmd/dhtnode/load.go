package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/dhtnode/dhtnode/node"
)

// maxLoadLine bounds one line of a load file: a value of the largest
// max_value_size (1 MiB) in base64 with its key and ttl.
const maxLoadLine = 1<<20*4/3 + 8<<10

// maxLoadFailures bounds the failed keys load prints.
const maxLoadFailures = 20

type loadOptions struct {
	*clientOptions
	format   string
	batch    int
	parallel int
	ttl      time.Duration
	w        int
}

// loadSummary is what load prints with --json.
type loadSummary struct {
	Keys     int     `json:"keys"`
	Written  int     `json:"written"`
	Failed   int     `json:"failed"`
	Batches  int     `json:"batches"`
	Seconds  float64 `json:"seconds"`
	KeysPerS float64 `json:"keys_per_second"`
	// Failures lists the first failed keys with their errors.
	Failures []node.BatchResult `json:"failures,omitempty"`
}

func (a *app) newLoadCmd() *cobra.Command {
	o := &loadOptions{}
	cmd := &cobra.Command{
		Use:   "load FILE",
		Short: "Write many keys from a file (- for stdin) in batches (POST /v1/values)",
		Long: `load writes every key of FILE (- reads stdin) through the node, in batches
of --batch keys (one POST /v1/values each, --parallel at once). Each key is
an independent put: a batch is not atomic, and keys that fail are listed.

Formats (--format):
  tsv    one "KEY<TAB>VALUE" a line; the value is the rest of the line, as text
  jsonl  one {"key": "...", "value": "<base64>", "ttl": "24h"} a line (ttl optional)
Empty lines are skipped. A key given again later in the file is written
again in a later batch; with --parallel 1 the last line wins, with more
batches in flight the order of its writes is not guaranteed.

Exit code 0 when every key was written, 1 when some were not.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.batch < 1 || o.batch > node.MaxBatchEntries {
				return usageError{fmt.Errorf("--batch must be from 1 to %d", node.MaxBatchEntries)}
			}
			if o.parallel < 1 || o.parallel > 16 {
				return usageError{errors.New("--parallel must be from 1 to 16")}
			}
			if o.format != "tsv" && o.format != "jsonl" {
				return usageError{fmt.Errorf("--format must be tsv or jsonl, not %q", o.format)}
			}
			in := a.stdin
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
			}
			return o.run(cmd.Context(), a, in)
		},
	}
	o.clientOptions = addClientFlags(cmd, true)
	f := cmd.Flags()
	f.StringVar(&o.format, "format", "tsv", "input format: tsv (KEY<TAB>VALUE lines) or jsonl (JSON lines)")
	f.IntVar(&o.batch, "batch", 500, fmt.Sprintf("keys per request (at most %d)", node.MaxBatchEntries))
	f.IntVar(&o.parallel, "parallel", 2, "batches in flight at once")
	f.DurationVar(&o.ttl, "ttl", 0, "expire the values after this long unless a line sets its own ttl (default never)")
	f.IntVar(&o.w, "w", 0, "write quorum of every key (default the node's replication.write_quorum)")
	return cmd
}

// run reads in batch by batch and sends the batches, o.parallel at once.
// A batch the node refuses as a whole (unreachable, 4xx, 429) stops the
// load with that error after the batches in flight.
func (o *loadOptions) run(ctx context.Context, a *app, in io.Reader) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	client := o.client(a)
	start := time.Now()
	var (
		mu   sync.Mutex
		sum  loadSummary
		fail error
	)
	batches := make(chan []node.BatchEntry)
	var wg sync.WaitGroup
	for range o.parallel {
		wg.Go(func() {
			for b := range batches {
				res, err := putBatchPaced(ctx, client, b, node.PutOptions{TTL: o.ttl, W: o.w})
				mu.Lock()
				sum.Batches++
				switch {
				case err != nil && fail == nil:
					fail = fmt.Errorf("batch of %d keys from %q: %w", len(b), b[0].Key, err)
					cancel()
				case err == nil:
					for _, r := range res {
						if r.OK() {
							sum.Written++
							continue
						}
						sum.Failed++
						if len(sum.Failures) < maxLoadFailures {
							sum.Failures = append(sum.Failures, r)
						}
					}
				}
				mu.Unlock()
			}
		})
	}
	keys, readErr := readBatches(ctx, in, o.format, o.batch, batches)
	close(batches)
	wg.Wait()
	sum.Keys = keys
	sum.Seconds = time.Since(start).Seconds()
	if sum.Seconds > 0 {
		sum.KeysPerS = float64(sum.Written) / sum.Seconds
	}
	if err := errors.Join(readErr, fail); err != nil {
		return fmt.Errorf("load: %w (%d keys written before it)", err, sum.Written)
	}
	if o.json {
		if err := printJSON(a.stdout, sum); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(a.stdout, "%d keys written in %d batches, %.1f s (%.0f keys/s)", sum.Written, sum.Batches, sum.Seconds, sum.KeysPerS)
		if sum.Failed > 0 {
			fmt.Fprintf(a.stdout, "; %d failed", sum.Failed)
		}
		fmt.Fprintln(a.stdout)
		for _, r := range sum.Failures {
			fmt.Fprintf(a.stderr, "%q: %s (%s)\n", r.Key, r.Error, r.Code)
		}
		if sum.Failed > len(sum.Failures) {
			fmt.Fprintf(a.stderr, "... and %d more\n", sum.Failed-len(sum.Failures))
		}
	}
	if sum.Failed > 0 {
		return fmt.Errorf("load: %d of %d keys not written", sum.Failed, sum.Keys)
	}
	return nil
}

// maxRateRetries bounds how often load sends a batch again after a 429.
const maxRateRetries = 10

// putBatchPaced sends a batch, and again after the node's Retry-After when
// the node answers 429 (its api.rate_limit counts each key), up to
// maxRateRetries times.
func putBatchPaced(ctx context.Context, c *node.Client, b []node.BatchEntry, opts node.PutOptions) ([]node.BatchResult, error) {
	for try := 0; ; try++ {
		res, err := c.PutBatch(ctx, b, opts)
		var apiErr *node.APIError
		if try == maxRateRetries || !errors.As(err, &apiErr) || apiErr.Code != node.CodeRateLimited {
			return res, err
		}
		t := time.NewTimer(max(apiErr.RetryAfter, time.Second))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// readBatches parses in and sends its entries to out in batches of up to
// size, a batch ending early when a key repeats in it (the node refuses a
// batch with a key twice). It returns the keys read; it stops at the first
// bad line or when ctx ends.
func readBatches(ctx context.Context, in io.Reader, format string, size int, out chan<- []node.BatchEntry) (int, error) {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), maxLoadLine)
	var (
		batch []node.BatchEntry
		inB   = map[string]bool{}
		keys  int
	)
	send := func() bool {
		if len(batch) == 0 {
			return true
		}
		select {
		case out <- batch:
		case <-ctx.Done():
			return false
		}
		batch, inB = nil, map[string]bool{}
		return true
	}
	for line := 1; sc.Scan(); line++ {
		text := bytes.TrimSuffix(sc.Bytes(), []byte("\r"))
		if len(bytes.TrimSpace(text)) == 0 {
			continue
		}
		e, err := parseLoadLine(text, format)
		if err != nil {
			return keys, usageError{fmt.Errorf("line %d: %w", line, err)}
		}
		if inB[e.Key] || len(batch) == size {
			if !send() {
				return keys, nil
			}
		}
		batch = append(batch, e)
		inB[e.Key] = true
		keys++
	}
	if err := sc.Err(); err != nil {
		return keys, fmt.Errorf("reading the keys: %w", err)
	}
	send()
	return keys, nil
}

// parseLoadLine parses one non-empty line of a load file.
func parseLoadLine(line []byte, format string) (node.BatchEntry, error) {
	if format == "jsonl" {
		var e node.BatchEntry
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			return e, fmt.Errorf("not a JSON entry {\"key\", \"value\" (base64), \"ttl\"}: %v", err)
		}
		return e, nil
	}
	key, value, ok := bytes.Cut(line, []byte("\t"))
	if !ok {
		return node.BatchEntry{}, errors.New("no tab between key and value")
	}
	return node.BatchEntry{Key: string(key), Value: bytes.Clone(value)}, nil
}
