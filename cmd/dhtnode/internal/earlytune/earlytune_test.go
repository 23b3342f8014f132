package earlytune

import "testing"

func TestRunsDaemon(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{[]string{"run"}, true},
		{[]string{"run", "--config", "c.yaml"}, true},
		{[]string{"--log-level=debug", "run"}, true},
		{nil, false},
		{[]string{"get", "run"}, false},
		{[]string{"init", "--data-dir", "run"}, false},
		{[]string{"--help"}, false},
		{[]string{"--", "run"}, false},
		{[]string{"-test.run=TestX"}, false},
	} {
		if got := runsDaemon(tc.args); got != tc.want {
			t.Errorf("runsDaemon(%q) = %v, want %v", tc.args, got, tc.want)
		}
	}
}
