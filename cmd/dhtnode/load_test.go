package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// load sends a file's keys in batches of --batch, splitting a batch where a
// key repeats; failed keys are listed and the exit code is 1.
func TestLoadCommand(t *testing.T) {
	f := newFakeNode(t)
	cli := invocation{environ: []string{"DHTNODE_API=" + f.URL}}
	file := filepath.Join(t.TempDir(), "keys.tsv")
	if err := os.WriteFile(file, []byte("a\t1\nb\tx\ty\n\nc\t3\r\na\t4\nd\t\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	res := cli.dhtnode(t, "load", file, "--batch", "3", "--parallel", "1", "--ttl", "1h", "--w", "2")
	if res.code != exitOK || !strings.HasPrefix(res.stdout, "5 keys written in 2 batches") {
		t.Fatalf("load: %+v", res)
	}
	f.mu.Lock()
	got, batches := f.values, f.batches
	f.mu.Unlock()
	if batches != 2 || got["a"] != "4" || got["b"] != "x\ty" || got["c"] != "3" || got["d"] != "" {
		t.Fatalf("after load: %d batches, values %q", batches, got)
	}
	if _, query, _, _ := f.lastRequest(); query != "ttl=1h0m0s&w=2" {
		t.Errorf("load sent query %q", query)
	}

	jsonl := `{"key":"j1","value":"aGk="}` + "\n" + `{"key":"quorum","value":""}` + "\n"
	res = invocation{environ: cli.environ, stdin: jsonl}.dhtnode(t, "load", "-", "--format", "jsonl", "--json")
	var sum loadSummary
	if res.code != exitFailed || json.Unmarshal([]byte(res.stdout), &sum) != nil || sum.Written != 1 || sum.Failed != 1 ||
		len(sum.Failures) != 1 || sum.Failures[0].Key != "quorum" || !strings.Contains(res.stderr, "1 of 2 keys not written") {
		t.Fatalf("load with a failed key: %+v", res)
	}
	f.mu.Lock()
	hi := f.values["j1"]
	f.mu.Unlock()
	if hi != "hi" {
		t.Fatalf("jsonl value %q, want the base64 decoded", hi)
	}

	// A 429 is waited out (Retry-After) and the batch sent again.
	f.mu.Lock()
	f.limited, f.batches = 1, 0
	f.mu.Unlock()
	res = invocation{environ: cli.environ, stdin: "r1\tv\n"}.dhtnode(t, "load", "-")
	f.mu.Lock()
	batches, r1 := f.batches, f.values["r1"]
	f.mu.Unlock()
	if res.code != exitOK || batches != 1 || r1 != "v" {
		t.Fatalf("load after a 429: %+v, %d batches served, r1 %q", res, batches, r1)
	}

	for _, c := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"no tab here\n", nil, "line 1: no tab"},
		{`{"key":"k","vlaue":""}` + "\n", []string{"--format", "jsonl"}, "line 1: not a JSON entry"},
		{"a\t1\n", []string{"--batch", "0"}, "--batch must be"},
		{"a\t1\n", []string{"--format", "csv"}, "--format must be"},
	} {
		res := invocation{environ: cli.environ, stdin: c.stdin}.dhtnode(t, append([]string{"load", "-"}, c.args...)...)
		if res.code != exitUsage || !strings.Contains(res.stderr, c.want) {
			t.Errorf("load %v with %q: %+v, want exit 2 saying %q", c.args, c.stdin, res, c.want)
		}
	}
}
