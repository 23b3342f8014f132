package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/dhtnode/dhtnode/config"
	"github.com/dhtnode/dhtnode/node"
)

func TestExitCode(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want int
	}{
		{"success", nil, exitOK},
		{"usage", usageError{errors.New("want 1 arg")}, exitUsage},
		{"config key", fmt.Errorf("load: %w", &config.KeyError{Path: "replication.factor", Reason: "bad"}), exitUsage},
		{"validation joined", configError{errors.Join(errors.New("x"), &config.ValidationError{Path: "log.level"})}, exitUsage},
		{"not found", fmt.Errorf("get: %w", &node.APIError{Status: 404, Code: node.CodeNotFound}), exitFailed},
		{"quorum", &node.APIError{Status: 503, Code: node.CodeInsufficientReplicas}, exitFailed},
		{"conflict", &node.APIError{Status: 409, Code: node.CodeConflict}, exitFailed},
		{"internal", &node.APIError{Status: 500, Code: node.CodeInternal}, exitFailed},
		{"unreachable", fmt.Errorf("%w at http://x: refused", node.ErrUnreachable), exitFailed},
		{"bad request", &node.APIError{Status: 400, Code: node.CodeBadRequest}, exitUsage},
		{"too large", &node.APIError{Status: 413, Code: node.CodeTooLarge}, exitUsage},
		{"unauthorized", &node.APIError{Status: 401, Code: node.CodeUnauthorized}, exitUsage},
		{"other", errors.New("disk on fire"), exitFailed},
	}
	for _, tc := range cases {
		if got := exitCode(tc.err); got != tc.want {
			t.Errorf("%s: exitCode(%v) = %d, want %d", tc.name, tc.err, got, tc.want)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	cases := []struct {
		args      []string
		wantError string
		wantUsage string
	}{
		{[]string{"get", "--bogus", "k"}, "unknown flag: --bogus", "dhtnode get KEY"},
		{[]string{"get"}, "accepts 1 arg(s), received 0", "dhtnode get KEY"},
		{[]string{"put", "a", "b", "c"}, "accepts between 1 and 2 arg(s), received 3", "dhtnode put KEY [VALUE]"},
		{[]string{"put", "--w", "many", "k", "v"}, `invalid argument "many" for "--w"`, "dhtnode put KEY [VALUE]"},
		{[]string{"status", "extra"}, `unknown command "extra"`, "dhtnode status"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`, "dhtnode [command]"},
		{[]string{"run", "--replication-factor", "x"}, `invalid argument "x"`, "dhtnode run"},
	}
	for _, tc := range cases {
		res := dhtnode(t, tc.args...)
		if res.code != exitUsage {
			t.Errorf("%v: exit %d, want %d", tc.args, res.code, exitUsage)
		}
		first, rest, _ := strings.Cut(res.stderr, "\n")
		if !strings.HasPrefix(first, "dhtnode: ") || !strings.Contains(first, tc.wantError) {
			t.Errorf("%v: first stderr line %q, want dhtnode: ...%s", tc.args, first, tc.wantError)
		}
		if !strings.Contains(rest, "Usage:") || !strings.Contains(rest, tc.wantUsage) {
			t.Errorf("%v: no usage of %q after the error:\n%s", tc.args, tc.wantUsage, rest)
		}
		if res.stdout != "" {
			t.Errorf("%v: stdout %q, want nothing", tc.args, res.stdout)
		}
	}
}

func TestOperationErrorsPrintNoUsage(t *testing.T) {
	res := dhtnode(t, "get", "--api", "http://127.0.0.1:1", "k")
	if res.code != exitFailed {
		t.Errorf("exit %d, want %d", res.code, exitFailed)
	}
	want := `dhtnode: get "k": node unreachable at http://127.0.0.1:1: `
	if !strings.HasPrefix(res.stderr, want) || strings.Count(res.stderr, "\n") != 1 {
		t.Errorf("stderr %q, want one line starting %q", res.stderr, want)
	}
}

func TestVersion(t *testing.T) {
	res := dhtnode(t, "version")
	if res.code != exitOK || !strings.HasPrefix(res.stdout, "dhtnode "+node.Version+" ") {
		t.Errorf("version: %+v", res)
	}
}
