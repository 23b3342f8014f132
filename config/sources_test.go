package config

import (
	"path/filepath"
	"strings"
	"testing"
)

// Validate's errors name the file and line that set the bad value, or the
// variable or flag that overrode it.
func TestSourcesLocateValidationErrors(t *testing.T) {
	path := writeFile(t, "c.yaml", "network: a\n\nreplication:\n  factor: 3\n  write_quorum: 5\nrouting:\n  bucket_size: 2\nlisten:\n  - /ip4/127.0.0.1/tcp/1\n  - /dns/x/udp/3\n")
	cfg, src, err := LoadSources(path)
	if err != nil {
		t.Fatal(err)
	}
	err = src.Locate(cfg.Validate())
	msg := strings.ReplaceAll(err.Error(), filepath.Dir(path)+string(filepath.Separator), "")
	for _, want := range []string{
		"c.yaml:5: replication.write_quorum: 5 must be <=",
		"c.yaml:7: routing.bucket_size: 2 must be >=",
		"c.yaml:10: listen[1]:",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q does not contain %q", msg, want)
		}
	}

	src.AddEnv([]string{"DHTNODE_ROUTING_BUCKET_SIZE=2", "OTHER=1"})
	src.Add("listen", "--listen")
	cfg.Listen = cfg.Listen[:1]
	cfg.Replication.WriteQuorum = 1
	msg = src.Locate(cfg.Validate()).Error()
	if !strings.HasPrefix(msg, "DHTNODE_ROUTING_BUCKET_SIZE: routing.bucket_size:") {
		t.Errorf("env override: %q", msg)
	}
	if _, ok := src["listen[1]"]; ok {
		t.Error("a flag that replaced the list left its items' file lines")
	}
}

// yaml.v3 counts its parser's lines from 0; the config error counts from 1
// like the scanner's.
func TestYAMLSyntaxErrorLines(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"network: a\nreplication:\n  factor: 3\n bad: 1\n", "c.yaml:4: YAML syntax: did not find expected key"},
		{"network: a\nlisten: [a, b\napi:\n  listen: x\n", "c.yaml:2: YAML syntax: did not find expected ',' or ']'"},
		{"network: a\n\n\nfoo: bar: baz\n", "c.yaml:4: YAML syntax: mapping values are not allowed"},
		{"a: 1\nb\nc: 2\n", "c.yaml:2: YAML syntax: could not find expected ':'"},
	} {
		_, err := Load(writeFile(t, "c.yaml", tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.yaml, err, tc.want)
		}
	}
}
